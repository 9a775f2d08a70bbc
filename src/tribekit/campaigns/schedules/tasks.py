"""The worker's part of campaign schedules: make each schedule's coming occurrences ahead of
time (``campaign_horizon_hours``, default 24) as flash sales, group buys or promotion days.

**Exactly once, whatever the number of workers.** The sweep claims the due active schedules
(``FOR UPDATE SKIP LOCKED``: a schedule is planned by one worker at a time), reads each again
under its lock, and makes the occurrences starting after ``planned_until`` and within the
horizon; ``planned_until`` then moves to the horizon in the same transaction. Should two
workers plan one schedule all the same (a lock lost), the unique ``(schedule_id,
occurrence_key)`` of the campaign rows decides: the second's insert makes nothing. The
rotation of a flash-sale schedule moves on (``rotation_index + 1``, in SQL) only for an
occurrence whose sale was made, so it moves once per occurrence.

**Re-checked before acting.** A flash sale's product that can no longer be sold (removed from
sale, say) is passed over for the rotation's next; when none of them can, the occurrence is not
made (and logged). Nothing is made that starts more than ``LATE_LIMIT`` ago.

``due_at`` moves to when the next occurrence after the horizon enters it, at most an hour on.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.campaigns import announcements
from tribekit.campaigns.flash import service as flash
from tribekit.campaigns.group_buys import service as group_buys
from tribekit.kit import clock
from tribekit.kit.db import add_unique
from tribekit.kit.errors import Conflict, TribekitError
from tribekit.kit.worker import Sweep
from tribekit.models.campaigns import CampaignSchedule, PromotionDay
from tribekit.models.catalog import Product
from tribekit.models.tenancy import Merchant
from tribekit.robot.schedules.rules import Occurrence
from tribekit.tenancy.principal import Tenant

from . import repository, templates, windows
from .service import LATE_LIMIT, PLAN_SWEEP, after_of

log = logging.getLogger(__name__)

DEFAULT_HORIZON = timedelta(hours=24)
#: The longest a schedule waits before it is planned again.
REPLAN_EVERY = timedelta(hours=1)

__all__ = ["DEFAULT_HORIZON", "LATE_LIMIT", "plan", "plan_due", "sweeps"]


def created_by(schedule: CampaignSchedule) -> str:
    return f"schedule:{schedule.id}"


def occasion(
    schedule: CampaignSchedule, starts: datetime, ends: datetime, name: str
) -> templates.Occasion:
    return templates.Occasion(
        name=name[:200],
        starts_at=starts,
        ends_at=ends,
        community_ids=tuple(uuid.UUID(i) for i in schedule.community_ids),
        announcements=dict(schedule.announcements),
        announce_before_seconds=schedule.announce_before_seconds,
    )


async def _make_flash(
    session: AsyncSession,
    tenant: Tenant,
    schedule: CampaignSchedule,
    template: templates.FlashTemplate,
    occurrence: Occurrence,
    starts: datetime,
    ends: datetime,
    index: int,
) -> int | None:
    """Make the occurrence's sale of the rotation's product at ``index`` (or the next one that
    can be sold); how far the rotation moved (None: no sale made)."""
    for step in range(len(template.product_ids)):
        product = await session.get(Product, template.product_at(index + step))
        if product is None or product.merchant_id != tenant.id:
            continue
        spec = templates.flash_spec(
            template, product, occasion(schedule, starts, ends, f"{schedule.name}: {product.name}")
        )
        try:
            await flash.check_create(session, tenant, spec)
        except TribekitError as exc:
            log.warning(
                "a flash sale of the rotation cannot be made; the next product is tried",
                extra={
                    "schedule_id": str(schedule.id),
                    "product_id": str(product.id),
                    "why": exc.detail,
                },
            )
            continue
        made = await flash.do_create(
            session,
            tenant,
            spec,
            created_by(schedule),
            schedule_id=schedule.id,
            occurrence_key=occurrence.key,
        )
        return None if made is None else step + 1
    log.warning(
        "no product of the rotation can be sold: the occurrence is not made",
        extra={"schedule_id": str(schedule.id), "occurrence": occurrence.key},
    )
    return None


async def _make_group_buy(
    session: AsyncSession,
    tenant: Tenant,
    schedule: CampaignSchedule,
    template: templates.GroupBuyTemplate,
    occurrence: Occurrence,
    starts: datetime,
    ends: datetime,
) -> bool:
    spec = templates.group_buy_spec(template, occasion(schedule, starts, ends, schedule.name))
    try:
        await group_buys.check_create(session, tenant, spec)
    except TribekitError as exc:
        log.warning(
            "the group buy of the occurrence cannot be made",
            extra={
                "schedule_id": str(schedule.id),
                "occurrence": occurrence.key,
                "why": exc.detail,
            },
        )
        return False
    made = await group_buys.do_create(
        session,
        tenant,
        spec,
        created_by(schedule),
        schedule_id=schedule.id,
        occurrence_key=occurrence.key,
    )
    return made is not None


async def _make_promotion_day(
    session: AsyncSession,
    tenant: Tenant,
    schedule: CampaignSchedule,
    template: templates.PromotionTemplate,
    occurrence: Occurrence,
    starts: datetime,
    ends: datetime,
) -> bool:
    day = PromotionDay(
        merchant_id=tenant.id,
        name=schedule.name,
        starts_at=starts,
        ends_at=ends,
        reward_multiplier_bps=template.reward_multiplier_bps,
        community_ids=list(schedule.community_ids),
        schedule_id=schedule.id,
        occurrence_key=occurrence.key,
        created_by=created_by(schedule),
        created_at=clock.now(),
    )
    try:
        await add_unique(session, "this occurrence has its promotion day already", day)
    except Conflict:
        return False
    await announcements.promotion_broadcasts(
        session, tenant, day, schedule.announcements, schedule.announce_before_seconds
    )
    return True


def _next_after(window: windows.Window, timezone: str, after: datetime) -> datetime | None:
    found = next(windows.occurrences(window, timezone, after, after + timedelta(days=400)), None)
    return None if found is None else found[1]


async def plan(
    session: AsyncSession,
    tenant: Tenant,
    schedule_id: uuid.UUID,
    *,
    horizon: timedelta = DEFAULT_HORIZON,
) -> int:
    """Make the schedule's occurrences starting within ``horizon`` that are not made yet, and
    set when to look again. Returns how many campaigns were made."""
    schedule = await repository.relock(session, schedule_id)
    if schedule is None or not schedule.active or schedule.merchant_id != tenant.id:
        return 0
    now = clock.now()
    until = now + horizon
    window = windows.parse(schedule.rule)
    template = templates.from_json(schedule.template)
    made = moved = 0
    for occurrence, starts, ends in windows.occurrences(
        window, schedule.timezone, after_of(schedule, now), until
    ):
        if isinstance(template, templates.FlashTemplate):
            step = await _make_flash(
                session,
                tenant,
                schedule,
                template,
                occurrence,
                starts,
                ends,
                schedule.rotation_index + moved,
            )
            made += step is not None
            moved += step or 0
        elif isinstance(template, templates.GroupBuyTemplate):
            made += await _make_group_buy(
                session, tenant, schedule, template, occurrence, starts, ends
            )
        else:
            made += await _make_promotion_day(
                session, tenant, schedule, template, occurrence, starts, ends
            )
    following = _next_after(window, schedule.timezone, until)
    due = now + REPLAN_EVERY
    if following is not None:
        due = min(due, following - horizon)
    c = CampaignSchedule
    # Not through the ORM: ``updated_at`` is when staff last changed the schedule, which
    # planning is not; the rotation moves by what this transaction made.
    await session.execute(
        update(c)
        .where(c.id == schedule.id)
        .values(
            due_at=max(due, now + timedelta(seconds=1)),
            planned_until=max(schedule.planned_until or until, until),
            rotation_index=c.rotation_index + moved,
            updated_at=c.updated_at,
        )
        .execution_options(synchronize_session=False)
    )
    return made


async def plan_due(session: AsyncSession, batch_size: int, *, horizon: timedelta) -> int:
    """One batch of due schedules, planned; returns how many schedules."""
    schedules = await repository.claim(session, clock.now(), batch_size)
    tenants: dict[uuid.UUID, Tenant] = {}
    for schedule in schedules:
        if schedule.merchant_id not in tenants:
            merchant = await session.get(Merchant, schedule.merchant_id)
            assert merchant is not None  # a merchant's schedules are deleted with it
            tenants[schedule.merchant_id] = Tenant.of(merchant)
        await plan(session, tenants[schedule.merchant_id], schedule.id, horizon=horizon)
    return len(schedules)


def sweeps(horizon_hours: float = DEFAULT_HORIZON.total_seconds() / 3600) -> list[Sweep]:
    """The schedules' sweep, planning ``horizon_hours`` ahead (``campaign_horizon_hours``)."""
    horizon = timedelta(hours=horizon_hours)

    async def run(session: AsyncSession, batch_size: int) -> int:
        return await plan_due(session, batch_size, horizon=horizon)

    return [Sweep(PLAN_SWEEP, run, every_seconds=15.0, batch_size=20)]
