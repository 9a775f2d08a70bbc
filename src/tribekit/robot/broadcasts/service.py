"""Broadcasts: made (``check_create`` validates, ``do_create`` writes), read with their
deliveries' counts, and cancelled.

A broadcast is written ``scheduled``; at its ``send_at`` the worker writes its deliveries
(``audience.py``) and sends them (``deliveries.py``). The scheduled posts make theirs with
``do_create`` too, naming the schedule and the occurrence: each occurrence becomes one
broadcast, whichever worker gets there first (a unique constraint decides).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, func, not_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock
from tribekit.kit.db import add_unique
from tribekit.kit.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from tribekit.kit.pagination import Page, paginate
from tribekit.kit.worker import wake_after_commit
from tribekit.models.broadcasts import Broadcast, BroadcastDelivery
from tribekit.models.communities import Community
from tribekit.models.enums import CommunityStatus
from tribekit.models.members import Member
from tribekit.models.membership import Level
from tribekit.robot.channels import Capabilities, Channel, DirectChats
from tribekit.tenancy.principal import Tenant

from .content import Content, check_content
from .states import EXPAND_SWEEP, Audience, BroadcastStatus, DeliveryStatus

NAME_MAX = 200


class BadAudience(ValidationFailed):
    code = "bad_audience"
    title = "The audience cannot be reached"


class BroadcastFinished(Conflict):
    code = "broadcast_finished"
    title = "The broadcast has finished"


@dataclass(frozen=True)
class BroadcastSpec:
    """What to say, to whom, when; whether it is marketing.

    ``audience``: ``communities`` (``community_ids``), ``all`` (every active community of the
    merchant), ``members`` (direct messages: ``member_ids`` listed, or the members present in
    ``community_ids`` (any community when empty) having any of ``tags`` (when given) and at
    any of ``level_ids`` (when given)). ``send_at`` None or past: now."""

    content: Content
    audience: Audience
    community_ids: tuple[uuid.UUID, ...] = ()
    member_ids: tuple[uuid.UUID, ...] = ()
    tags: tuple[str, ...] = ()
    level_ids: tuple[uuid.UUID, ...] = ()
    marketing: bool = False
    send_at: datetime | None = None
    name: str | None = None
    campaign_id: uuid.UUID | None = None  # the flash sale, group buy or promotion day announced


@dataclass(frozen=True)
class Counts:
    pending: int = 0
    sent: int = 0
    failed: int = 0
    cancelled: int = 0
    skipped: int = 0

    @property
    def total(self) -> int:
        return self.pending + self.sent + self.failed + self.cancelled + self.skipped


@dataclass(frozen=True)
class BroadcastView:
    broadcast: Broadcast
    counts: Counts = field(default_factory=Counts)


# -- validating ---------------------------------------------------------------------------------


def _audience_error(field_name: str, message: str) -> BadAudience:
    return BadAudience(
        f"{field_name}: {message}",
        errors=[FieldProblem(("body", field_name), message, BadAudience.code)],
    )


async def _check_ids(
    session: AsyncSession,
    tenant: Tenant,
    model: type[Community] | type[Member] | type[Level],
    ids: Sequence[uuid.UUID],
    noun: str,
) -> None:
    """Each id names a row of this merchant; another merchant's is answered like a missing one."""
    if not ids:
        return
    found = set(
        (
            await session.scalars(
                select(model.id).where(model.merchant_id == tenant.id, model.id.in_(set(ids)))
            )
        ).all()
    )
    missing = next((i for i in ids if i not in found), None)
    if missing is not None:
        raise NotFound(f"no {noun} with id {missing} at this merchant")


async def audience_channels(
    session: AsyncSession,
    tenant: Tenant,
    spec: BroadcastSpec,
    channels: Mapping[str, Channel],
) -> dict[str, Capabilities]:
    """The channels the broadcast would go out on (name -> what each can do)."""
    if spec.audience == Audience.MEMBERS:
        return {
            name: found.capabilities
            for name, found in channels.items()
            if isinstance(found, DirectChats)
        }
    stmt = select(Community.channel).where(
        Community.merchant_id == tenant.id, Community.status == CommunityStatus.ACTIVE
    )
    if spec.audience == Audience.COMMUNITIES:
        stmt = stmt.where(Community.id.in_(spec.community_ids))
    names = set((await session.scalars(stmt.distinct())).all())
    return {str(n): channels[str(n)].capabilities for n in sorted(names) if str(n) in channels}


async def check_create(
    session: AsyncSession,
    tenant: Tenant,
    spec: BroadcastSpec,
    channels: Mapping[str, Channel],
) -> None:
    """A 4xx for a broadcast that cannot be made: a community, member or level not of this
    merchant (404), an audience without what it needs, content the audience's channels cannot
    carry (422)."""
    if spec.name is not None and not 1 <= len(spec.name.strip()) <= NAME_MAX:
        raise ValidationFailed(
            f"name: 1 to {NAME_MAX} characters",
            errors=[FieldProblem(("body", "name"), f"1 to {NAME_MAX} characters")],
        )
    if spec.audience == Audience.COMMUNITIES and not spec.community_ids:
        raise _audience_error("community_ids", "name the communities to send to")
    if spec.audience != Audience.MEMBERS and (spec.member_ids or spec.tags or spec.level_ids):
        raise _audience_error(
            "audience", "member_ids, tags and level_ids choose members: use audience 'members'"
        )
    if spec.audience == Audience.ALL and spec.community_ids:
        raise _audience_error("community_ids", "audience 'all' takes no community_ids")
    if spec.member_ids and (spec.community_ids or spec.tags or spec.level_ids):
        raise _audience_error(
            "member_ids", "list members, or choose them by community, tag and level: not both"
        )
    await _check_ids(session, tenant, Community, spec.community_ids, "community")
    await _check_ids(session, tenant, Member, spec.member_ids, "member")
    await _check_ids(session, tenant, Level, spec.level_ids, "level")
    check_content(spec.content, await audience_channels(session, tenant, spec, channels))


# -- writing ------------------------------------------------------------------------------------


def _name(spec: BroadcastSpec) -> str:
    if spec.name and spec.name.strip():
        return spec.name.strip()[:NAME_MAX]
    _, text = spec.content.for_language(spec.content.first_language)
    line = " ".join(text.split())
    return line[:60] + ("…" if len(line) > 60 else "")


async def do_create(
    session: AsyncSession,
    tenant: Tenant,
    spec: BroadcastSpec,
    *,
    created_by: str,
    schedule_id: uuid.UUID | None = None,
    occurrence_key: str | None = None,
) -> Broadcast | None:
    """Write the broadcast (checked by ``check_create``): ``scheduled`` until its ``send_at``
    (now when None or past). None when ``schedule_id``'s ``occurrence_key`` has its broadcast
    already. A broadcast due now wakes this process's worker after commit."""
    now = clock.now()
    send_at = spec.send_at if spec.send_at is not None and spec.send_at > now else now
    row = Broadcast(
        merchant_id=tenant.id,
        name=_name(spec),
        content=spec.content.to_json(),
        audience=spec.audience.value,
        community_ids=[str(i) for i in spec.community_ids],
        tags=list(spec.tags),
        level_ids=[str(i) for i in spec.level_ids],
        member_ids=[str(i) for i in spec.member_ids],
        marketing=spec.marketing,
        send_at=send_at,
        status=BroadcastStatus.SCHEDULED.value,
        schedule_id=schedule_id,
        occurrence_key=occurrence_key,
        campaign_id=spec.campaign_id,
        created_by=created_by[:100],
        created_at=now,
    )
    try:
        await add_unique(session, "this occurrence has its broadcast already", row)
    except Conflict:
        return None
    if send_at <= now:
        wake_after_commit(session, EXPAND_SWEEP)
    return row


async def create(
    session: AsyncSession,
    tenant: Tenant,
    spec: BroadcastSpec,
    channels: Mapping[str, Channel],
    *,
    created_by: str,
) -> BroadcastView:
    """Check, then write a broadcast made by staff."""
    await check_create(session, tenant, spec, channels)
    row = await do_create(session, tenant, spec, created_by=created_by)
    assert row is not None  # only a schedule's occurrence can exist already
    return BroadcastView(row)


# -- reading ------------------------------------------------------------------------------------


async def counts(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Counts]:
    """Each broadcast's deliveries by status, in one statement."""
    if not ids:
        return {}
    d = BroadcastDelivery.__table__.c
    rows = (
        await session.execute(
            select(d.broadcast_id, d.status, func.count())
            .where(d.broadcast_id.in_(list(ids)))
            .group_by(d.broadcast_id, d.status)
        )
    ).all()
    found: dict[uuid.UUID, dict[str, int]] = {}
    for broadcast_id, status, count in rows:
        found.setdefault(broadcast_id, {})[status] = int(count)
    return {
        i: Counts(**{s.value: found.get(i, {}).get(s.value, 0) for s in DeliveryStatus})
        for i in ids
    }


async def _row(
    session: AsyncSession, tenant: Tenant, broadcast_id: uuid.UUID, *, for_update: bool = False
) -> Broadcast:
    stmt = select(Broadcast).where(Broadcast.merchant_id == tenant.id, Broadcast.id == broadcast_id)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    row = await session.scalar(stmt)
    if row is None:
        raise NotFound(f"no broadcast with id {broadcast_id} at this merchant")
    return row


async def get(session: AsyncSession, tenant: Tenant, broadcast_id: uuid.UUID) -> BroadcastView:
    row = await _row(session, tenant, broadcast_id)
    return BroadcastView(row, (await counts(session, [row.id]))[row.id])


async def page(
    session: AsyncSession,
    tenant: Tenant,
    *,
    status: BroadcastStatus | None,
    limit: int,
    cursor: str | None,
) -> Page[BroadcastView]:
    """The merchant's broadcasts, newest first, with their counts."""
    stmt = select(Broadcast).where(Broadcast.merchant_id == tenant.id)
    if status is not None:
        stmt = stmt.where(Broadcast.status == status.value)
    found = await paginate(session, stmt, key=Broadcast.id, limit=limit, cursor=cursor)
    by_id = await counts(session, [b.id for b in found.items])
    return Page([BroadcastView(b, by_id[b.id]) for b in found.items], found.next_cursor)


async def deliveries(
    session: AsyncSession,
    tenant: Tenant,
    broadcast_id: uuid.UUID,
    *,
    status: DeliveryStatus | None,
    limit: int,
    cursor: str | None,
) -> Page[BroadcastDelivery]:
    await _row(session, tenant, broadcast_id)
    stmt = select(BroadcastDelivery).where(
        BroadcastDelivery.merchant_id == tenant.id,
        BroadcastDelivery.broadcast_id == broadcast_id,
    )
    if status is not None:
        stmt = stmt.where(BroadcastDelivery.status == status.value)
    return await paginate(session, stmt, key=BroadcastDelivery.id, limit=limit, cursor=cursor)


# -- cancelling ---------------------------------------------------------------------------------


_d = BroadcastDelivery.__table__.c
#: A delivery whose send was started and whose outcome is not recorded yet.
IN_FLIGHT = and_(_d.attempts > 0, _d.last_error.is_(None))


async def cancel(session: AsyncSession, tenant: Tenant, broadcast_id: uuid.UUID) -> BroadcastView:
    """Cancel the broadcast and, at once, its deliveries not yet sent (one being sent right
    now is left to finish). Cancelling a cancelled broadcast changes nothing; a finished one
    is a 409."""
    row = await _row(session, tenant, broadcast_id, for_update=True)
    if row.status == BroadcastStatus.DONE:
        raise BroadcastFinished(f"broadcast {broadcast_id} has finished; nothing is left to cancel")
    if row.status != BroadcastStatus.CANCELLED:
        now = clock.now()
        row.status, row.cancelled_at, row.finished_at = BroadcastStatus.CANCELLED.value, now, now
        await session.execute(
            update(BroadcastDelivery)
            .where(
                _d.broadcast_id == row.id,
                _d.status == DeliveryStatus.PENDING.value,
                not_(IN_FLIGHT),
            )
            .values(status=DeliveryStatus.CANCELLED.value, last_error="the broadcast was cancelled")
            .execution_options(synchronize_session=False)
        )
        await session.flush()
    return BroadcastView(row, (await counts(session, [row.id]))[row.id])
