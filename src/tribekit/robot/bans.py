"""One ban list per merchant. A ban is one decision and N durable actions: it applies to every
community of the merchant on every channel where the member is known, at once; lifting it undoes
it everywhere. At most one ban is in force per member (a partial unique index decides a race:
two staff banning at once make one ban). Actions a lifted ban still owed are cancelled, and one
already claimed by a worker is dropped when it is claimed again (``still_wanted``).

A ban may end by itself (``until``): the platforms are told the end with the ban and lift it
then; the list counts it as lifted from that time (``in_force``), and marks it lifted when the
member is banned again."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock
from tribekit.kit.db import add_unique
from tribekit.kit.errors import Conflict, NotFound
from tribekit.kit.pagination import Page, paginate
from tribekit.models.communities import Community
from tribekit.models.enums import ActionKind, ActionStatus, CommunityStatus
from tribekit.models.members import MemberIdentity
from tribekit.models.moderation import Ban, ModerationEntry
from tribekit.models.robot import RobotAction
from tribekit.tenancy.principal import Tenant

from . import actions
from .channels import OutboundAction


class AlreadyBanned(Conflict):
    code = "already_banned"
    title = "The member is banned already"


class NotBanned(Conflict):
    code = "ban_lifted"
    title = "The ban is lifted already"


def _where_known(
    tenant: Tenant, member_id: uuid.UUID
) -> Select[uuid.UUID, str | None, uuid.UUID | None, str]:
    """The merchant's active groups with a robot, and who the member is on each one's channel."""
    return (
        select(
            Community.id,
            Community.external_id,
            Community.robot_account_id,
            MemberIdentity.external_id,
        )
        .join(
            MemberIdentity,
            (MemberIdentity.merchant_id == Community.merchant_id)
            & (MemberIdentity.channel == Community.channel)
            & (MemberIdentity.member_id == member_id),
        )
        .where(
            Community.merchant_id == tenant.id,
            Community.status == CommunityStatus.ACTIVE,
            Community.robot_account_id.is_not(None),
            Community.external_id.is_not(None),
        )
        .order_by(Community.id)
    )


def running(now: datetime | Any) -> Any:
    """A ban that is not lifted and has not ended by itself by ``now`` (a time or a bound
    parameter)."""
    return Ban.lifted_at.is_(None) & or_(Ban.until.is_(None), Ban.until > now)


#: Built once: the pipeline asks for every message.
_IN_FORCE = select(Ban).where(
    Ban.merchant_id == bindparam("b_merchant_id"),
    Ban.member_id == bindparam("b_member_id"),
    running(bindparam("b_now", type_=Ban.until.type)),
)


async def in_force(session: AsyncSession, tenant: Tenant, member_id: uuid.UUID) -> Ban | None:
    ban: Ban | None = await session.scalar(
        _IN_FORCE, {"b_merchant_id": tenant.id, "b_member_id": member_id, "b_now": clock.now()}
    )
    return ban


async def page(
    session: AsyncSession,
    tenant: Tenant,
    *,
    lifted: bool | None,
    member_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> Page[Ban]:
    """The ban list, newest first: in force (``lifted`` False), lifted or ended (True), or
    both (None)."""
    stmt = select(Ban).where(Ban.merchant_id == tenant.id)
    if member_id is not None:
        stmt = stmt.where(Ban.member_id == member_id)
    if lifted is not None:
        in_force = running(clock.now())
        stmt = stmt.where(~in_force if lifted else in_force)
    return await paginate(session, stmt, key=Ban.id, limit=limit, cursor=cursor)


async def get(session: AsyncSession, tenant: Tenant, ban_id: uuid.UUID) -> Ban:
    ban = await session.get(Ban, ban_id, populate_existing=True)
    if ban is None or ban.merchant_id != tenant.id:
        raise NotFound(f"no ban with id {ban_id} at this merchant")
    return ban


async def _owe_everywhere(
    session: AsyncSession,
    tenant: Tenant,
    ban: Ban,
    kind: ActionKind,
    prefix: str,
    after: dict[uuid.UUID, datetime] | None = None,
) -> int:
    """Owe ``kind`` in every group where the member is known; in a group named in ``after``,
    not before that time (a ban action a worker is carrying out there ends first)."""
    owed = 0
    for community_id, chat_id, account_id, person_id in await session.execute(
        _where_known(tenant, ban.member_id)
    ):
        assert chat_id is not None  # the query asks for a chat id and a robot
        assert account_id is not None
        row = await actions.owe(
            session,
            tenant,
            robot_account_id=account_id,
            community_id=community_id,
            decision=f"{prefix}:{ban.id}:{community_id}",
            action=OutboundAction(
                kind,
                chat_id,
                person_id=person_id,
                until=ban.until if kind == ActionKind.BAN else None,
            ),
            due_at=(after or {}).get(community_id),
        )
        owed += row is not None
    return owed


async def ban(
    session: AsyncSession,
    tenant: Tenant,
    member_id: uuid.UUID,
    *,
    reason: str,
    actor: str,
    rule: str | None = None,
    community_id: uuid.UUID | None = None,
    logged: bool = False,
    until: datetime | None = None,
) -> Ban | None:
    """Ban the member from every group (until ``until``, or until lifted); None if a ban is in
    force already (nothing changes). ``logged``: the caller wrote the moderation log's entry
    for it already (the robot's); that entry, the member's newest ban entry with no ban yet,
    is linked to the ban so that undoing it lifts this ban."""
    now = clock.now()
    # A ban that ended by itself no longer holds the one-in-force index.
    await session.execute(
        update(Ban)
        .where(
            Ban.merchant_id == tenant.id,
            Ban.member_id == member_id,
            Ban.lifted_at.is_(None),
            Ban.until <= now,
        )
        .values(lifted_at=Ban.until, lifted_by="expired")
        .execution_options(synchronize_session=False)
    )
    row = Ban(
        merchant_id=tenant.id,
        member_id=member_id,
        rule=rule,
        reason=reason[:300],
        banned_by=actor,
        at=now,
        until=until,
    )
    try:
        await add_unique(session, "banned already", row)
    except Conflict:
        return None
    await _owe_everywhere(session, tenant, row, ActionKind.BAN, "ban")
    if logged:
        newest = (
            select(ModerationEntry.id)
            .where(
                ModerationEntry.merchant_id == tenant.id,
                ModerationEntry.member_id == member_id,
                ModerationEntry.action == "ban",
                ModerationEntry.ban_id.is_(None),
            )
            .order_by(ModerationEntry.at.desc(), ModerationEntry.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        await session.execute(
            update(ModerationEntry)
            .where(ModerationEntry.id == newest)
            .values(ban_id=row.id)
            .execution_options(synchronize_session=False)
        )
        return row
    session.add(
        ModerationEntry(
            merchant_id=tenant.id,
            community_id=community_id,
            member_id=member_id,
            rule=rule,
            action="ban",
            excerpt=reason[:200],
            actor=actor,
            at=row.at,
            ban_id=row.id,
        )
    )
    await session.flush()
    return row


async def unban(
    session: AsyncSession,
    tenant: Tenant,
    member_id: uuid.UUID,
    *,
    actor: str,
    ban_id: uuid.UUID | None = None,
) -> Ban | None:
    """Lift the member's ban everywhere (only ban ``ban_id``, when given); None if no such ban
    is in force (nothing changes). A ban that ended by itself is marked lifted too, and the
    platforms are told again (an unban where nobody is banned changes nothing)."""
    now = clock.now()
    where = [Ban.merchant_id == tenant.id, Ban.member_id == member_id, Ban.lifted_at.is_(None)]
    if ban_id is not None:
        where.append(Ban.id == ban_id)
    lifted_id = await session.scalar(
        update(Ban)
        .where(*where)
        .values(lifted_at=now, lifted_by=actor)
        .returning(Ban.id)
        .execution_options(synchronize_session=False)
    )
    if lifted_id is None:
        return None
    lifted = await session.get(Ban, lifted_id, populate_existing=True)
    assert lifted is not None
    owed = (
        await session.execute(
            select(RobotAction.decision, RobotAction.community_id, RobotAction.due_at).where(
                RobotAction.merchant_id == tenant.id,
                RobotAction.decision.like(f"ban:{lifted.id}:%"),
                RobotAction.status == ActionStatus.PENDING,
            )
        )
    ).all()
    await actions.cancel(session, tenant, [decision for decision, _, _ in owed])
    # A ban action a worker has claimed cannot be called back: the unban there waits for its
    # lease to end, so it is carried out after the ban, never before.
    in_flight = {
        community_id: due_at
        for decision, community_id, due_at in owed
        if community_id is not None and due_at > now
    }
    await _owe_everywhere(session, tenant, lifted, ActionKind.UNBAN, "unban", after=in_flight)
    session.add(
        ModerationEntry(
            merchant_id=tenant.id,
            member_id=member_id,
            action="unban",
            actor=actor,
            at=now,
        )
    )
    await session.flush()
    return lifted


async def still_wanted(session: AsyncSession, action: RobotAction) -> bool:
    """Whether a claimed action's decision still holds: a ban's action is dropped once the ban
    is lifted, an unban's once the member is banned again."""
    prefix, _, rest = action.decision.partition(":")
    if prefix not in ("ban", "unban"):
        return True
    try:
        ban_id = uuid.UUID(rest.split(":", 1)[0])
    except ValueError:
        return True  # not a decision of the ban list
    lifted_at = await session.scalar(select(Ban.lifted_at).where(Ban.id == ban_id))
    if prefix == "ban":
        return lifted_at is None
    again = await session.scalar(
        select(Ban.id).where(
            Ban.merchant_id == action.merchant_id,
            Ban.lifted_at.is_(None),
            Ban.member_id == select(Ban.member_id).where(Ban.id == ban_id).scalar_subquery(),
        )
    )
    return again is None
