"""Where a person stands in a group, read in one statement for every event the pipeline takes:
the member behind their channel identity, their ban in force on the merchant's list, a join
captcha they still owe in this group, whether they lead it, and the ids and versions of the
moderation policy rows the group follows (the key of the merged policy kept per process,
``policies.effective``).

Each of these was its own round trip; together they depend only on the merchant, the channel
identity and the group, so they are scalar subqueries of one ``SELECT`` built once with bound
parameters, on the tables themselves (no ORM entity, nothing to load). For a person the robot
has never met every member part is empty, and the pipeline makes the member
(``identity.member_for``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock
from tribekit.models.communities import CommunityLeader
from tribekit.models.members import MemberIdentity
from tribekit.models.moderation import Ban, ModerationPolicy
from tribekit.models.robot import JoinCaptcha
from tribekit.tenancy.principal import Tenant

from .bans import running
from .captcha import PENDING


@dataclass(frozen=True)
class Standing:
    member_id: uuid.UUID | None  # None: a person the robot has never met
    ban_id: uuid.UUID | None  # their ban in force on the merchant's list
    captcha_pending: bool  # a join captcha in this group not solved yet
    leads: bool  # a leader of this group
    policy_rows: tuple[tuple[uuid.UUID, int], ...]  # (id, version): the merchant's, the group's


def _build() -> Any:
    identities, bans = MemberIdentity.__table__.c, Ban.__table__.c
    captchas, leaders = JoinCaptcha.__table__.c, CommunityLeader.__table__.c
    policies = ModerationPolicy.__table__.c
    merchant: Any = bindparam("b_merchant_id")
    community: Any = bindparam("b_community_id")
    member = (
        select(identities.member_id)
        .where(
            identities.merchant_id == merchant,
            identities.channel == bindparam("b_channel"),
            identities.external_id == bindparam("b_external_id"),
        )
        .scalar_subquery()
    )
    ban = (
        select(bans.id)
        .where(
            bans.merchant_id == merchant,
            bans.member_id == member,
            running(bindparam("b_now", type_=bans.until.type)),
        )
        .limit(1)
        .scalar_subquery()
    )
    pending = exists().where(
        captchas.community_id == community,
        captchas.member_id == member,
        captchas.status == PENDING,
    )
    leads = exists().where(leaders.community_id == community, leaders.member_id == member)

    def policy(column: Any, whose: ColumnElement[bool]) -> Any:
        return select(column).where(and_(policies.merchant_id == merchant, whose))

    base, override = policies.community_id.is_(None), policies.community_id == community
    return select(
        member.label("member_id"),
        ban.label("ban_id"),
        pending.label("captcha_pending"),
        leads.label("leads"),
        policy(policies.id, base).scalar_subquery().label("base_id"),
        policy(policies.version, base).scalar_subquery().label("base_version"),
        policy(policies.id, override).scalar_subquery().label("override_id"),
        policy(policies.version, override).scalar_subquery().label("override_version"),
    )


_STANDING = _build()


async def read(
    session: AsyncSession,
    tenant: Tenant,
    channel: str,
    external_id: str,
    community_id: uuid.UUID,
    at: datetime | None = None,
) -> Standing:
    """Where the person ``external_id`` on ``channel`` stands in the group, as of ``at``
    (now when not given: a ban that has ended by itself is no longer in force)."""
    connection = await session.connection()
    row = (
        await connection.execute(
            _STANDING,
            {
                "b_merchant_id": tenant.id,
                "b_channel": channel,
                "b_external_id": external_id,
                "b_community_id": community_id,
                "b_now": at or clock.now(),
            },
        )
    ).one()
    found = ((row.base_id, row.base_version), (row.override_id, row.override_version))
    rows = tuple((row_id, version) for row_id, version in found if row_id is not None)
    return Standing(
        member_id=row.member_id,
        ban_id=row.ban_id,
        captcha_pending=bool(row.captcha_pending),
        leads=bool(row.leads),
        policy_rows=rows,
    )
