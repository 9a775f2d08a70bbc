"""Counting what happens in each community, per day in its timezone (``models/activity.py``),
and each member's last activity there. One upsert per counter: concurrent messages add up
exactly (the database adds, nobody reads then writes). ``read`` is what the API shows of a
community: each day of a range and its most active members."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.models.activity import CommunityDay, MemberDay
from tribekit.models.communities import Community, CommunityMember
from tribekit.models.members import Member
from tribekit.tenancy.principal import Tenant

COUNTERS = ("messages", "joins", "leaves", "moderation_actions")


def day_of(community: Community, tenant: Tenant, at: datetime) -> date:
    return at.astimezone(ZoneInfo(community.timezone or tenant.timezone)).date()


#: Upserts by dialect, table, counter and the columns given, each built once: every message
#: runs two, and composing an INSERT ... ON CONFLICT costs more than running a cached one.
_UPSERTS: dict[tuple[str, str, str, tuple[str, ...]], Any] = {}


def _upsert(dialect: str, model: Any, column: str, names: tuple[str, ...]) -> Any:
    key = (dialect, model.__tablename__, column, names)
    statement = _UPSERTS.get(key)
    if statement is None:
        insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
        table = model.__table__
        statement = (
            insert(table)
            .values({name: bindparam(f"b_{name}") for name in names} | {column: 1})
            .on_conflict_do_update(
                index_elements=[c.name for c in table.primary_key.columns],
                set_={column: table.c[column] + 1},
            )
        )
        _UPSERTS[key] = statement
    return statement


async def _add(session: AsyncSession, model: Any, keys: dict[str, Any], column: str) -> None:
    statement = _upsert(session.get_bind().dialect.name, model, column, tuple(keys))
    await session.execute(statement, {f"b_{name}": value for name, value in keys.items()})


async def count(
    session: AsyncSession, tenant: Tenant, community: Community, counter: str, at: datetime
) -> None:
    """One more ``counter`` (messages, joins, leaves, moderation_actions) on the day of ``at``."""
    assert counter in COUNTERS
    keys = {
        "merchant_id": tenant.id,
        "community_id": community.id,
        "day": day_of(community, tenant, at),
    }
    await _add(session, CommunityDay, keys, counter)


_cm = CommunityMember.__table__.c
_POSTED = (
    update(CommunityMember)
    .where(
        _cm.merchant_id == bindparam("b_merchant_id"),
        _cm.community_id == bindparam("b_community_id"),
        _cm.member_id == bindparam("b_member_id"),
    )
    .values(messages=_cm.messages + 1, last_active_at=bindparam("b_at"))
    .returning(_cm.joined_at, _cm.join_source, _cm.messages)
    .execution_options(synchronize_session=False)
)


@dataclass(frozen=True, slots=True)
class Membership:
    """The member's row in the group as ``posted`` left it (the moderation rules read it)."""

    joined_at: datetime
    join_source: str | None
    messages: int  # this message counted


async def posted(
    session: AsyncSession,
    tenant: Tenant,
    community: Community,
    member_id: uuid.UUID,
    at: datetime,
) -> Membership | None:
    """A member posted: their messages and last activity in the group, the day's messages and
    their day; their row in the group as it is now (None: they have none). The member's row
    first, then the day counters (``kit/locks.py``, "Community rows take no rank")."""
    params = {"b_merchant_id": tenant.id, "b_community_id": community.id, "b_member_id": member_id}
    found = (await session.execute(_POSTED, {**params, "b_at": at})).one_or_none()
    day = day_of(community, tenant, at)
    await _add(
        session,
        CommunityDay,
        {"merchant_id": tenant.id, "community_id": community.id, "day": day},
        "messages",
    )
    await _add(
        session,
        MemberDay,
        {
            "merchant_id": tenant.id,
            "community_id": community.id,
            "day": day,
            "member_id": member_id,
        },
        "messages",
    )
    return Membership(*found) if found is not None else None


# -- reading ----------------------------------------------------------------------------------

#: The longest range one read covers.
MAX_DAYS = 366


@dataclass(frozen=True)
class Day:
    day: date
    messages: int
    active_members: int
    joins: int
    leaves: int
    moderation_actions: int


@dataclass(frozen=True)
class TopMember:
    member_id: uuid.UUID
    display_name: str
    messages: int  # within the range
    last_active_at: datetime | None  # in the group, ever


@dataclass(frozen=True)
class Activity:
    start: date
    end: date
    days: list[Day]
    top_members: list[TopMember]


async def read(
    session: AsyncSession,
    tenant: Tenant,
    community: Community,
    start: date,
    end: date,
    *,
    top: int = 10,
) -> Activity:
    """Each day from ``start`` to ``end`` (both included; a day without activity is zeros)
    and the members who posted most within them."""
    counted = {
        row.day: row
        for row in await session.scalars(
            select(CommunityDay).where(
                CommunityDay.merchant_id == tenant.id,
                CommunityDay.community_id == community.id,
                CommunityDay.day.between(start, end),
            )
        )
    }
    in_range = (
        MemberDay.merchant_id == tenant.id,
        MemberDay.community_id == community.id,
        MemberDay.day.between(start, end),
    )
    active: dict[date, int] = {
        day: int(n)
        for day, n in await session.execute(
            select(MemberDay.day, func.count()).where(*in_range).group_by(MemberDay.day)
        )
    }
    days = []
    for offset in range((end - start).days + 1):
        day = start + timedelta(days=offset)
        row = counted.get(day)
        days.append(
            Day(
                day=day,
                messages=row.messages if row else 0,
                active_members=active.get(day, 0),
                joins=row.joins if row else 0,
                leaves=row.leaves if row else 0,
                moderation_actions=row.moderation_actions if row else 0,
            )
        )
    posted = func.sum(MemberDay.messages).label("posted")
    leaders = (
        await session.execute(
            select(MemberDay.member_id, Member.display_name, posted, CommunityMember.last_active_at)
            .join(Member, Member.id == MemberDay.member_id)
            .outerjoin(
                CommunityMember,
                (CommunityMember.community_id == MemberDay.community_id)
                & (CommunityMember.member_id == MemberDay.member_id),
            )
            .where(*in_range)
            .group_by(MemberDay.member_id, Member.display_name, CommunityMember.last_active_at)
            .order_by(posted.desc(), MemberDay.member_id)
            .limit(top)
        )
    ).all()
    return Activity(
        start,
        end,
        days,
        [TopMember(m, name, int(n), last) for m, name, n, last in leaders],
    )
