"""The worker's part of the scheduled posts: make each schedule's coming occurrences, ahead of
time, as broadcasts.

The sweep claims the active schedules whose ``due_at`` has come (``FOR UPDATE SKIP LOCKED``:
any number of workers share them, each schedule planned by one at a time) and, for each, makes
every occurrence due within the horizon (``schedule_horizon_hours``, default 24) that is not
made yet, through the broadcasts' ``do_create``: the unique (schedule, occurrence key) is what
guarantees each occurrence becomes one broadcast, whatever the number of workers.

* **A rule of days and times** posts in its community, or, merchant-wide, in every active
  community: one broadcast per timezone the communities are in and occurrence, to the
  communities of that timezone (key ``2026-12-07T19:50@Asia/Shanghai``); a group posted to
  once per local time, whatever happens to its timezone or the groups meanwhile (a group added
  after an occurrence was made gets one of its own, ``<key>/<community id>``). ``due_at``
  moves to when the next occurrence after the horizon enters it, at most an hour on, so that a
  community added or given another timezone is planned for within the hour.
* **After a member joins**: each join of a member still in the group (``CommunityMember``),
  since the schedule was made, becomes one direct message to that member (key
  ``member:<member id>:<community id>``: once per member and group, a rejoin included), due the
  delay after the join. Looked at every minute.

Nothing is made that falls before the schedule's last change (a resumed schedule does not post
what it missed while paused) or more than ``LATE_LIMIT`` ago (a worker that was down does not
post yesterday's announcements).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock
from tribekit.kit.worker import Sweep, claim_due
from tribekit.models.broadcasts import Broadcast, PostSchedule
from tribekit.models.communities import Community, CommunityMember
from tribekit.models.enums import CommunityStatus
from tribekit.models.tenancy import Merchant
from tribekit.robot.broadcasts import service as broadcasts
from tribekit.robot.broadcasts.content import Content
from tribekit.robot.broadcasts.service import BroadcastSpec
from tribekit.robot.broadcasts.states import Audience
from tribekit.tenancy.principal import Tenant

from . import rules
from .service import PLAN_SWEEP, timezone_of

DEFAULT_HORIZON = timedelta(hours=24)
#: The latest an occurrence is still made after its time.
LATE_LIMIT = timedelta(hours=1)
#: The longest a rule of days and times waits before it is planned again.
REPLAN_EVERY = timedelta(hours=1)
#: How often a schedule counted from joins looks for new joins.
JOINS_EVERY = timedelta(minutes=1)


def created_by(schedule: PostSchedule) -> str:
    return f"schedule:{schedule.id}"


async def _active_communities(
    session: AsyncSession, tenant: Tenant, schedule: PostSchedule
) -> list[Community]:
    stmt = select(Community).where(
        Community.merchant_id == tenant.id, Community.status == CommunityStatus.ACTIVE
    )
    if schedule.community_id is not None:
        stmt = stmt.where(Community.id == schedule.community_id)
    return list((await session.scalars(stmt.order_by(Community.id))).all())


async def made_keys(session: AsyncSession, schedule: PostSchedule, keys: list[str]) -> set[str]:
    """Which of ``keys`` the schedule has its broadcast for already (a shortcut: the unique
    constraint decides)."""
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        stmt = select(Broadcast.occurrence_key).where(
            Broadcast.schedule_id == schedule.id, Broadcast.occurrence_key.in_(chunk)
        )
        found.update(k for k in (await session.scalars(stmt)).all() if k is not None)
    return found


async def _make(
    session: AsyncSession,
    tenant: Tenant,
    schedule: PostSchedule,
    planned: list[tuple[str, BroadcastSpec]],
) -> int:
    made = 0
    existing = await made_keys(session, schedule, [key for key, _ in planned])
    for key, spec in planned:
        if key in existing:
            continue
        row = await broadcasts.do_create(
            session,
            tenant,
            spec,
            created_by=created_by(schedule),
            schedule_id=schedule.id,
            occurrence_key=key,
        )
        made += row is not None
    return made


def lower_bound(schedule: PostSchedule, now: datetime) -> datetime:
    """Occurrences later than this are made: not before the last change, not too late."""
    return max(now - LATE_LIMIT, schedule.updated_at)


def posts_planned(
    schedule: PostSchedule,
    tenant: Tenant,
    communities: list[Community],
    after: datetime,
    until: datetime,
) -> list[tuple[rules.Occurrence, tuple[uuid.UUID, ...]]]:
    """The occurrences of a rule of days and times in (``after``, ``until``], each with the
    communities it goes to: one per timezone and occurrence."""
    assert schedule.cron is not None
    by_timezone: dict[str, list[uuid.UUID]] = defaultdict(list)
    for community in communities:
        by_timezone[timezone_of(community, tenant)].append(community.id)
    planned = [
        (occurrence, tuple(ids))
        for timezone, ids in sorted(by_timezone.items())
        for occurrence in rules.occurrences(schedule.cron, timezone, after, until)
    ]
    return sorted(planned, key=lambda item: (item[0].at, item[0].timezone))


def _next_after(cron: str, timezones: set[str], after: datetime) -> datetime | None:
    """The first occurrence later than ``after`` in any of ``timezones``."""
    firsts = [
        next(iter(rules.occurrences(cron, tz, after, after + timedelta(days=400))), None)
        for tz in timezones
    ]
    times = [o.at for o in firsts if o is not None]
    return min(times) if times else None


async def _covered(
    session: AsyncSession, schedule: PostSchedule, since: datetime, until: datetime
) -> tuple[set[str], dict[str, set[str]]]:
    """The schedule's occurrence keys around (``since``, ``until``], and per local time
    (``2026-12-07T19:50``) the communities a broadcast of it went or goes to, in any timezone.
    A broadcast cancelled by a change of the schedule (its key given up) covers nothing."""
    stmt = select(Broadcast.occurrence_key, Broadcast.community_ids).where(
        Broadcast.schedule_id == schedule.id,
        Broadcast.send_at > since - _AROUND,
        Broadcast.send_at <= until + _AROUND,
    )
    keys: set[str] = set()
    covered: dict[str, set[str]] = defaultdict(set)
    for key, community_ids in (await session.execute(stmt)).all():
        if key is None or "~" in key:
            continue
        keys.add(key)
        covered[key.split("@", 1)[0]].update(community_ids or ())
    return keys, covered


#: Wider than any two timezones' offsets apart, and a late post's move to now.
_AROUND = timedelta(days=2)


async def posts_to_make(
    session: AsyncSession,
    tenant: Tenant,
    schedule: PostSchedule,
    communities: list[Community],
    after: datetime,
    until: datetime,
) -> list[tuple[str, rules.Occurrence, tuple[uuid.UUID, ...]]]:
    """(key, occurrence, communities) of each broadcast of a rule of days and times still to
    make in (``after``, ``until``]. A community is posted to once per local time: one that a
    broadcast of that time covers already (in its old timezone, say) is left out; one added
    to a timezone after its broadcast was made gets a broadcast of its own
    (``<key>/<community id>``)."""
    planned = posts_planned(schedule, tenant, communities, after, until)
    if not planned:
        return []
    keys, covered = await _covered(session, schedule, after, until)
    found = []
    for occurrence, ids in planned:
        rest = tuple(i for i in ids if str(i) not in covered[occurrence.key.split("@", 1)[0]])
        if not rest:
            continue
        key = occurrence.key if occurrence.key not in keys else f"{occurrence.key}/{rest[0]}"
        found.append((key, occurrence, rest))
    return found


async def _plan_posts(
    session: AsyncSession, tenant: Tenant, schedule: PostSchedule, now: datetime, horizon: timedelta
) -> tuple[int, datetime]:
    assert schedule.cron is not None
    communities = await _active_communities(session, tenant, schedule)
    until = now + horizon
    content = Content.from_json(schedule.content)
    found = await posts_to_make(
        session, tenant, schedule, communities, lower_bound(schedule, now), until
    )
    planned = [
        (
            key,
            BroadcastSpec(
                content,
                Audience.COMMUNITIES,
                ids,
                marketing=schedule.marketing,
                send_at=occurrence.at,
                name=schedule.name,
            ),
        )
        for key, occurrence, ids in found
    ]
    made = await _make(session, tenant, schedule, planned)
    timezones = {timezone_of(c, tenant) for c in communities}
    following = _next_after(schedule.cron, timezones, until)
    due = now + REPLAN_EVERY
    if following is not None:
        due = min(due, following - horizon)
    return made, max(due, now + timedelta(seconds=1))


def join_delay(schedule: PostSchedule) -> rules.JoinDelay:
    assert schedule.after_join_seconds is not None
    return rules.JoinDelay.of(schedule.after_join_seconds, schedule.cron)


async def joins_planned(
    session: AsyncSession,
    tenant: Tenant,
    schedule: PostSchedule,
    communities: list[Community],
    after: datetime,
    until: datetime,
) -> list[tuple[uuid.UUID, Community, datetime]]:
    """(member, community, due) of each join whose direct message is due in (``after``,
    ``until``]: joins since the schedule was made, of members still in the group."""
    if not communities:
        return []
    delay = join_delay(schedule)
    by_id = {c.id: c for c in communities}
    cm = CommunityMember
    stmt = (
        select(cm.member_id, cm.community_id, cm.joined_at)
        .where(
            cm.merchant_id == tenant.id,
            cm.community_id.in_(list(by_id)),
            cm.left_at.is_(None),
            cm.joined_at >= schedule.created_at,
            cm.joined_at > after - delay.longest,
            cm.joined_at <= until - delay.shortest,
        )
        .order_by(cm.joined_at, cm.member_id)
    )
    planned = []
    for member_id, community_id, joined_at in (await session.execute(stmt)).all():
        community = by_id[community_id]
        due = delay.due(joined_at, timezone_of(community, tenant))
        if after < due <= until:
            planned.append((member_id, community, due))
    return planned


def member_key(member_id: uuid.UUID, community_id: uuid.UUID) -> str:
    return f"member:{member_id}:{community_id}"


async def _plan_direct(
    session: AsyncSession, tenant: Tenant, schedule: PostSchedule, now: datetime, horizon: timedelta
) -> tuple[int, datetime]:
    communities = await _active_communities(session, tenant, schedule)
    content = Content.from_json(schedule.content)
    found = await joins_planned(
        session, tenant, schedule, communities, lower_bound(schedule, now), now + horizon
    )
    planned = [
        (
            member_key(member_id, community.id),
            BroadcastSpec(
                content,
                Audience.MEMBERS,
                member_ids=(member_id,),
                marketing=schedule.marketing,
                send_at=due,
                name=schedule.name,
            ),
        )
        for member_id, community, due in found
    ]
    return await _make(session, tenant, schedule, planned), now + JOINS_EVERY


async def plan(
    session: AsyncSession,
    tenant: Tenant,
    schedule: PostSchedule,
    *,
    horizon: timedelta = DEFAULT_HORIZON,
) -> int:
    """Make the schedule's occurrences due within ``horizon`` that are not made yet, and set
    when to look again. Returns how many broadcasts were made."""
    now = clock.now()
    if schedule.after_join_seconds is not None:
        made, due = await _plan_direct(session, tenant, schedule, now, horizon)
    else:
        made, due = await _plan_posts(session, tenant, schedule, now, horizon)
    # Not through the ORM: ``updated_at`` is when staff last changed the schedule, which
    # planning is not.
    await session.execute(
        update(PostSchedule)
        .where(PostSchedule.id == schedule.id)
        .values(due_at=due, updated_at=PostSchedule.updated_at)
        .execution_options(synchronize_session=False)
    )
    return made


async def plan_due(session: AsyncSession, batch_size: int, *, horizon: timedelta) -> int:
    """One batch of due schedules, planned; returns how many schedules."""
    due = (
        select(PostSchedule)
        .where(PostSchedule.active.is_(True), PostSchedule.due_at <= clock.now())
        .order_by(PostSchedule.due_at, PostSchedule.id)
    )
    schedules = list((await session.scalars(claim_due(due, batch_size))).all())
    tenants: dict[uuid.UUID, Tenant] = {}
    for schedule in schedules:
        if schedule.merchant_id not in tenants:
            merchant = await session.get(Merchant, schedule.merchant_id)
            assert merchant is not None  # a merchant's schedules are deleted with it
            tenants[schedule.merchant_id] = Tenant.of(merchant)
        await plan(session, tenants[schedule.merchant_id], schedule, horizon=horizon)
    return len(schedules)


def sweeps(horizon_hours: float = DEFAULT_HORIZON.total_seconds() / 3600) -> list[Sweep]:
    """The schedules' sweep, planning ``horizon_hours`` ahead (``schedule_horizon_hours``)."""
    horizon = timedelta(hours=horizon_hours)

    async def run(session: AsyncSession, batch_size: int) -> int:
        return await plan_due(session, batch_size, horizon=horizon)

    return [Sweep(PLAN_SWEEP, run, every_seconds=15.0, batch_size=50)]


SWEEPS = sweeps()
