"""The pipeline's first step: who a person on a channel is. A channel identity names exactly one
member of the merchant (``member_identities``: unique per merchant, channel and external id);
someone the robot has not met becomes a member (source ``channel``), identity and member
written together, so two first messages at once make one member."""

from __future__ import annotations

import uuid

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.campaigns.coupons import grants as coupon_grants
from tribekit.kit import clock
from tribekit.kit.errors import Conflict
from tribekit.kit.ids import new_id
from tribekit.models.enums import MemberSource
from tribekit.models.members import Member, MemberIdentity
from tribekit.tenancy.principal import Tenant

from .channels import Person

#: Built once: every message asks.
_KNOWN = select(MemberIdentity.member_id).where(
    MemberIdentity.merchant_id == bindparam("b_merchant_id"),
    MemberIdentity.channel == bindparam("b_channel"),
    MemberIdentity.external_id == bindparam("b_external_id"),
)


async def _known(
    session: AsyncSession, tenant: Tenant, channel: str, external_id: str
) -> uuid.UUID | None:
    member_id: uuid.UUID | None = await session.scalar(
        _KNOWN, {"b_merchant_id": tenant.id, "b_channel": channel, "b_external_id": external_id}
    )
    return member_id


async def member_for(
    session: AsyncSession,
    tenant: Tenant,
    channel: str,
    person: Person,
    *,
    unknown: bool = False,
) -> uuid.UUID:
    """The member behind ``person`` on ``channel``, made now if the robot never met them.
    ``unknown``: the caller has just read that no identity names them (``standing.read``)."""
    if not unknown:
        known = await _known(session, tenant, channel, person.external_id)
        if known is not None:
            return known
    now = clock.now()
    member = Member(
        id=new_id(),
        merchant_id=tenant.id,
        display_name=person.display_name[:200],
        source=MemberSource.CHANNEL,
        source_ref=channel,
        joined_at=now,
    )
    identity = MemberIdentity(
        merchant_id=tenant.id,
        member_id=member.id,
        channel=channel,
        external_id=person.external_id,
        username=person.username,
        created_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(member)
            await session.flush()
            session.add(identity)
            await session.flush()
    except IntegrityError as exc:  # the identity's unique key: someone made them meanwhile
        found = await _known(session, tenant, channel, person.external_id)
        if found is None:
            raise Conflict("this person is being added by another request; retry") from exc
        return found
    await coupon_grants.grant_welcome(session, tenant, member.id)  # the shop's welcome gift
    return member.id
