"""One calendar of campaigns and posts: over a range of dates, per community, the campaigns that
run there (made, and still to be made by the schedules, each as the worker will make it) and
every post it will get, with a warning where a month's plan exceeds a channel's quota.

The posts are the scheduled posts' calendar (``robot.schedules.calendar``: broadcasts and the
occurrences of post schedules), to which the campaigns' announcements still to come are added
before the quotas are counted: an announcement is a group post like any other. Made
announcements are broadcasts already and counted as such. Planned: a campaign's ``before``
(``announce_before_seconds`` ahead) and ``start`` while it has not started, a group buy's
``result`` at its deadline; a flash sale's ``sold_out`` is counted once it happens (nobody
knows beforehand whether it will); a promotion day's announcements are broadcasts from the
moment it is made, and planned like the others before that, where its schedule gives texts.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock
from tribekit.models.campaigns import CampaignSchedule, FlashSale, GroupBuy, PromotionDay
from tribekit.robot.channels import Channel
from tribekit.robot.schedules import calendar as posts_calendar
from tribekit.robot.schedules.calendar import CommunityPlan, Post
from tribekit.tenancy.principal import Tenant

from . import repository, service, templates, windows

#: The most occurrences one schedule projects into a calendar (a range is at most 92 days).
_PROJECTED_MAX = 500


@dataclass(frozen=True)
class Entry:
    """A campaign in the calendar: made (``campaign_id``) or planned by a schedule."""

    kind: str
    campaign_id: uuid.UUID | None
    schedule_id: uuid.UUID | None
    name: str
    starts_at: datetime
    ends_at: datetime
    status: str
    product_id: uuid.UUID | None
    community_ids: tuple[str, ...]  # empty: every group
    # Moments to come, (moment, at); made announcements are broadcasts in the posts.
    moments: tuple[tuple[str, datetime], ...] = ()


@dataclass
class CampaignPlan:
    plan: CommunityPlan
    campaigns: list[Entry] = field(default_factory=list)


@dataclass(frozen=True)
class CampaignCalendar:
    start: datetime
    end: datetime
    communities: list[CampaignPlan]
    warnings: list[posts_calendar.QuotaWarning]


def local(at: datetime, timezone: str) -> str:
    """``at`` on the clock of ``timezone``, to the minute."""
    return f"{at.astimezone(ZoneInfo(timezone)):%Y-%m-%dT%H:%M}"


def _coming(
    kind: str, status: str, starts: datetime, ends: datetime, before: int, announced: list[str]
) -> tuple[tuple[str, datetime], ...]:
    moments: list[tuple[str, datetime]] = []
    if status in ("scheduled", "planned"):
        if before > 0:
            moments.append(("before", starts - timedelta(seconds=before)))
        moments.append(("start", starts))
    if kind == "group_buy" and status in ("scheduled", "planned", "open"):
        moments.append(("result", ends))
    return tuple((m, at) for m, at in moments if m not in announced)


def _made(row: repository.Made) -> Entry:
    if isinstance(row, PromotionDay):
        return Entry(
            "promotion_day",
            row.id,
            row.schedule_id,
            row.name,
            row.starts_at,
            row.ends_at,
            "made",
            None,
            tuple(row.community_ids),
        )
    kind = "flash_sale" if isinstance(row, FlashSale) else "group_buy"
    ends = row.deadline if isinstance(row, GroupBuy) else row.ends_at
    return Entry(
        kind,
        row.id,
        row.schedule_id,
        row.name,
        row.starts_at,
        ends,
        row.status,
        row.product_id,
        tuple(row.community_ids),
        _coming(kind, row.status, row.starts_at, ends, row.announce_before_seconds, row.announced),
    )


def _planned(row: CampaignSchedule, after: datetime, until: datetime) -> list[Entry]:
    window = windows.parse(row.rule)
    texts = row.announcements or {}
    found = []
    for _occurrence, starts, ends, product in itertools.islice(
        service.projected(row, window, after, until), _PROJECTED_MAX
    ):
        moments = _coming(row.kind, "planned", starts, ends, row.announce_before_seconds, [])
        if row.kind == "promotion_day":  # announced only with texts of its schedule
            moments = tuple((m, at) for m, at in moments if texts.get(m))
        found.append(
            Entry(
                row.kind,
                None,
                row.id,
                row.name,
                starts,
                ends,
                "planned",
                product,
                tuple(row.community_ids),
                moments,
            )
        )
    return found


async def _entries(
    session: AsyncSession, tenant: Tenant, start: datetime, end: datetime
) -> list[Entry]:
    made = await repository.made_between(session, tenant, templates.KINDS, start, end)
    entries = [_made(row) for row in made]
    schedules = (
        await session.scalars(
            select(CampaignSchedule)
            .where(CampaignSchedule.merchant_id == tenant.id, CampaignSchedule.active.is_(True))
            .order_by(CampaignSchedule.created_at, CampaignSchedule.id)
        )
    ).all()
    now = clock.now()
    for schedule in schedules:
        after = service.after_of(schedule, now)
        entries.extend(
            e for e in _planned(schedule, after, end) if e.starts_at < end and e.ends_at > start
        )
    return sorted(entries, key=lambda e: (e.starts_at, e.name, str(e.campaign_id)))


async def build(
    session: AsyncSession,
    tenant: Tenant,
    channels: Mapping[str, Channel],
    *,
    start: datetime,
    end: datetime,
    community_id: uuid.UUID | None = None,
) -> CampaignCalendar:
    """The calendar of [start, end) (at most 92 days), for one community or every active one."""
    by_community: dict[uuid.UUID, list[Entry]] = {}
    now = clock.now()

    async def announcements(
        plans: Mapping[uuid.UUID, CommunityPlan], wide_start: datetime, wide_end: datetime
    ) -> None:
        for entry in await _entries(session, tenant, wide_start, wide_end):
            targets = [uuid.UUID(i) for i in entry.community_ids] or list(plans)
            for target in targets:
                plan = plans.get(target)
                if plan is None:
                    continue
                by_community.setdefault(target, []).append(entry)
                zone = ZoneInfo(plan.timezone)
                for moment, at in entry.moments:
                    if at < now:
                        continue  # a moment gone by unposted will not be posted
                    plan.posts.append(
                        Post(
                            at,
                            at.astimezone(zone).replace(tzinfo=None),
                            f"{entry.name} · {moment}",
                            "planned",
                            True,
                            None,
                            None,
                            entry.campaign_id,
                            moment,
                        )
                    )

    found = await posts_calendar.build(
        session,
        tenant,
        channels,
        start=start,
        end=end,
        community_id=community_id,
        extra=announcements,
    )
    communities = [
        CampaignPlan(
            plan,
            [
                e
                for e in by_community.get(plan.community.id, [])
                if e.starts_at < end and e.ends_at > start
            ],
        )
        for plan in found.communities
    ]
    return CampaignCalendar(start, end, communities, found.warnings)
