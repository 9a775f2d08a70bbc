"""The calendar: what will be posted where over a range of dates, and where a plan goes past a
channel's quota.

Per active community (or the one asked for), in its timezone and in UTC:

* the **group posts**: the broadcasts to it in the range that are scheduled, sending or done
  (a scheduled one to the communities it names, or to every active one; one started, to where
  its deliveries went), and the occurrences of the schedules of days and times that are not
  made yet (each exactly as the worker will make it: not before the schedule's last change,
  not for an occurrence it has already made or that was cancelled);
* the **direct messages** that schedules counted from a join send to the members of the group,
  counted per local day (made, and still to be made for members who have joined);
* **warnings** where the group posts of one calendar month, in the community's timezone, are
  more than its channel's ``monthly_mass_messages``: the whole month is counted, also the part
  of it outside the range.

Broadcasts to listed members (staff's direct messages) are listed on their own. ``extra``
adds posts planned elsewhere (the campaigns' announcements) before the quotas are counted.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal, cast
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock
from tribekit.kit.errors import FieldProblem, NotFound, ValidationFailed
from tribekit.models.broadcasts import Broadcast, BroadcastDelivery, PostSchedule
from tribekit.models.communities import Community
from tribekit.models.enums import CommunityStatus
from tribekit.robot.broadcasts.states import Audience, BroadcastStatus
from tribekit.robot.channels import Channel
from tribekit.tenancy.principal import Tenant

from . import tasks
from .service import timezone_of

PostStatus = Literal["scheduled", "sending", "done", "planned"]  # planned: not made yet
#: The longest range one calendar shows.
MAX_RANGE = timedelta(days=92)
#: A month's quota counts the whole month: the range is widened by this much on each side.
_MONTH = timedelta(days=32)
_SHOWN = (BroadcastStatus.SCHEDULED, BroadcastStatus.SENDING, BroadcastStatus.DONE)


class CalendarRangeInvalid(ValidationFailed):
    code = "calendar_range_invalid"
    title = "The calendar's range cannot be shown"


@dataclass(frozen=True)
class Post:
    at: datetime  # UTC
    local: datetime  # naive, the community's wall clock
    name: str
    status: PostStatus
    marketing: bool
    broadcast_id: uuid.UUID | None
    schedule_id: uuid.UUID | None
    campaign_id: uuid.UUID | None = None  # the campaign a broadcast announces
    moment: str | None = None  # a planned announcement's (before, start, result)


@dataclass(frozen=True)
class DirectDay:
    day: date  # the community's local date
    schedule_id: uuid.UUID
    name: str
    count: int


@dataclass
class CommunityPlan:
    community: Community
    timezone: str
    quota: int | None  # the channel's monthly mass messages; None: no quota
    posts: list[Post] = field(default_factory=list)
    direct: list[DirectDay] = field(default_factory=list)


@dataclass(frozen=True)
class QuotaWarning:
    community_id: uuid.UUID
    community_name: str
    channel: str
    month: str  # YYYY-MM, in the community's timezone
    planned: int
    quota: int

    @property
    def message(self) -> str:
        return (
            f"{self.community_name} ({self.channel}): {self.planned} group posts in {self.month}, "
            f"the channel allows {self.quota} mass messages a month per group"
        )


@dataclass(frozen=True)
class Calendar:
    start: datetime
    end: datetime
    communities: list[CommunityPlan]
    warnings: list[QuotaWarning]
    direct_broadcasts: list[Broadcast]


#: Adds posts to the plans (by community id) over the widened range (start, end) given.
Extra = Callable[[Mapping[uuid.UUID, CommunityPlan], datetime, datetime], Awaitable[None]]


def check_range(start: datetime, end: datetime) -> None:
    if end <= start:
        raise CalendarRangeInvalid(
            "end: the range ends after it starts",
            errors=[FieldProblem(("query", "end"), "later than start")],
        )
    if end - start > MAX_RANGE:
        message = f"a calendar shows at most {MAX_RANGE.days} days; ask for a shorter range"
        raise CalendarRangeInvalid(
            f"end: {message}", errors=[FieldProblem(("query", "end"), message)]
        )


def _local(at: datetime, timezone: str) -> datetime:
    return at.astimezone(ZoneInfo(timezone)).replace(tzinfo=None)


async def _communities(
    session: AsyncSession, tenant: Tenant, community_id: uuid.UUID | None
) -> list[Community]:
    if community_id is not None:
        community = await session.get(Community, community_id)
        if community is None or community.merchant_id != tenant.id:
            raise NotFound(f"no community with id {community_id} at this merchant")
    stmt = select(Community).where(
        Community.merchant_id == tenant.id, Community.status == CommunityStatus.ACTIVE
    )
    found = (await session.scalars(stmt)).all()
    # Sorted here, not by the database: its collation would order names differently.
    return sorted(found, key=lambda c: (c.name, str(c.id)))


async def _where_sent(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, set[str]]:
    """The communities the started broadcasts' deliveries went to."""
    found: dict[uuid.UUID, set[str]] = defaultdict(set)
    for start in range(0, len(ids), 500):
        stmt = (
            select(BroadcastDelivery.broadcast_id, BroadcastDelivery.community_id)
            .where(
                BroadcastDelivery.broadcast_id.in_(ids[start : start + 500]),
                BroadcastDelivery.community_id.is_not(None),
            )
            .distinct()
        )
        for broadcast_id, community_id in (await session.execute(stmt)).all():
            found[broadcast_id].add(str(community_id))
    return found


async def build(
    session: AsyncSession,
    tenant: Tenant,
    channels: Mapping[str, Channel],
    *,
    start: datetime,
    end: datetime,
    community_id: uuid.UUID | None = None,
    extra: Extra | None = None,
) -> Calendar:
    check_range(start, end)
    active = await _communities(session, tenant, community_id)
    all_active = {str(c.id) for c in active}
    plans = {
        c.id: CommunityPlan(c, timezone_of(c, tenant), _quota(channels, str(c.channel)))
        for c in active
        if community_id is None or c.id == community_id
    }
    wide_start, wide_end = start - _MONTH, end + _MONTH
    broadcasts = list(
        (
            await session.scalars(
                select(Broadcast)
                .where(
                    Broadcast.merchant_id == tenant.id,
                    Broadcast.status.in_([s.value for s in _SHOWN]),
                    Broadcast.send_at >= wide_start,
                    Broadcast.send_at < wide_end,
                )
                .order_by(Broadcast.send_at, Broadcast.id)
            )
        ).all()
    )
    started = [b.id for b in broadcasts if b.status != BroadcastStatus.SCHEDULED]
    sent_to = await _where_sent(session, started)
    direct: list[Broadcast] = []
    made_dm: dict[tuple[uuid.UUID, uuid.UUID], list[datetime]] = defaultdict(list)
    for b in broadcasts:
        if b.audience == Audience.MEMBERS:
            joined = _joined_community(b.occurrence_key)
            if b.schedule_id is not None and joined is not None:
                made_dm[(b.schedule_id, joined)].append(b.send_at)
            elif start <= b.send_at < end:
                direct.append(b)
            continue
        if b.status == BroadcastStatus.SCHEDULED:
            targets = set(b.community_ids) if b.audience == Audience.COMMUNITIES else all_active
            targets &= all_active
        else:
            targets = sent_to.get(b.id, set())
        for target in targets:
            plan = plans.get(uuid.UUID(target))
            if plan is not None:
                plan.posts.append(
                    Post(
                        b.send_at,
                        _local(b.send_at, plan.timezone),
                        b.name,
                        cast(PostStatus, b.status),  # one of _SHOWN, by the query
                        b.marketing,
                        b.id,
                        b.schedule_id,
                        b.campaign_id,
                    )
                )
    await _project(session, tenant, plans, made_dm, start, end, wide_end)
    if extra is not None:
        await extra(plans, wide_start, wide_end)
    warnings = _warnings(plans.values(), start, end)
    for plan in plans.values():
        plan.posts = sorted(
            (p for p in plan.posts if start <= p.at < end), key=lambda p: (p.at, p.name)
        )
    return Calendar(start, end, list(plans.values()), warnings, direct)


def _joined_community(key: str | None) -> uuid.UUID | None:
    """The community of a direct message counted from a join (``member:<m>:<c>``)."""
    parts = (key or "").split(":")
    if len(parts) != 3 or parts[0] != "member":
        return None
    try:
        return uuid.UUID(parts[2])
    except ValueError:
        return None


def _quota(channels: Mapping[str, Channel], name: str) -> int | None:
    found = channels.get(name)
    return found.capabilities.monthly_mass_messages if found is not None else None


async def _project(
    session: AsyncSession,
    tenant: Tenant,
    plans: dict[uuid.UUID, CommunityPlan],
    made_dm: dict[tuple[uuid.UUID, uuid.UUID], list[datetime]],
    start: datetime,
    end: datetime,
    wide_end: datetime,
) -> None:
    """Add the occurrences the active schedules will still make."""
    schedules = (
        await session.scalars(
            select(PostSchedule)
            .where(PostSchedule.merchant_id == tenant.id, PostSchedule.active.is_(True))
            .order_by(PostSchedule.created_at, PostSchedule.id)
        )
    ).all()
    now = clock.now()
    communities = [p.community for p in plans.values()]
    for schedule in schedules:
        mine = [
            c for c in communities if schedule.community_id is None or c.id == schedule.community_id
        ]
        if not mine:
            continue
        after = tasks.lower_bound(schedule, now)
        if schedule.after_join_seconds is not None:
            await _project_direct(
                session, tenant, schedule, mine, plans, made_dm, after, start, end
            )
            continue
        planned = await tasks.posts_to_make(session, tenant, schedule, mine, after, wide_end)
        for _key, occurrence, ids in planned:
            for target in ids:
                plans[target].posts.append(
                    Post(
                        occurrence.at,
                        occurrence.local,
                        schedule.name,
                        "planned",
                        schedule.marketing,
                        None,
                        schedule.id,
                    )
                )


async def _project_direct(
    session: AsyncSession,
    tenant: Tenant,
    schedule: PostSchedule,
    mine: list[Community],
    plans: dict[uuid.UUID, CommunityPlan],
    made_dm: dict[tuple[uuid.UUID, uuid.UUID], list[datetime]],
    after: datetime,
    start: datetime,
    end: datetime,
) -> None:
    days: Counter[tuple[uuid.UUID, date]] = Counter()
    for community in mine:
        tz = plans[community.id].timezone
        for at in made_dm.get((schedule.id, community.id), []):
            if start <= at < end:
                days[(community.id, _local(at, tz).date())] += 1
    found = await tasks.joins_planned(
        session, tenant, schedule, mine, max(after, start - timedelta(microseconds=1)), end
    )
    keys = await tasks.made_keys(
        session, schedule, [tasks.member_key(m, c.id) for m, c, _ in found]
    )
    for member_id, community, due in found:
        if tasks.member_key(member_id, community.id) in keys or due >= end:
            continue
        days[(community.id, _local(due, plans[community.id].timezone).date())] += 1
    for (community_id, day), count in sorted(days.items()):
        plans[community_id].direct.append(DirectDay(day, schedule.id, schedule.name, count))


def _month(at: datetime, timezone: str) -> str:
    return f"{_local(at, timezone):%Y-%m}"


def _warnings(plans: Iterable[CommunityPlan], start: datetime, end: datetime) -> list[QuotaWarning]:
    found: list[QuotaWarning] = []
    for plan in plans:
        if plan.quota is None:
            continue
        months = Counter(_month(p.at, plan.timezone) for p in plan.posts)
        touched = _months_between(start, end, plan.timezone)
        for month in touched:
            if months[month] > plan.quota:
                found.append(
                    QuotaWarning(
                        plan.community.id,
                        plan.community.name,
                        str(plan.community.channel),
                        month,
                        months[month],
                        plan.quota,
                    )
                )
    return found


def _months_between(start: datetime, end: datetime, timezone: str) -> list[str]:
    """The calendar months (YYYY-MM, local) the range [start, end) touches."""
    first = _local(start, timezone).date().replace(day=1)
    last = _local(end - timedelta(microseconds=1), timezone).date()
    months = []
    while first <= last:
        months.append(f"{first:%Y-%m}")
        first = (first + timedelta(days=32)).replace(day=1)
    return months
