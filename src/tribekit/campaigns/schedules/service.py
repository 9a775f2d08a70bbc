"""Campaign schedules: made (``check_create`` validates, ``do_create`` writes), read with their
coming occurrences, changed with the version they were read at, paused and resumed, removed.

The worker makes each occurrence ahead of time (``tasks.py``). A schedule remembers how far its
occurrences are made (``planned_until``): a change (of the rule, the template, the texts...)
reaches the occurrences not made yet, and never makes one twice; the campaigns already made
stay as they are (staff change or cancel them as any campaign). A paused schedule makes
nothing; once resumed it does not make what it missed meanwhile. A removed schedule makes
nothing more; its campaigns stay, no longer naming it.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.campaigns import announcements
from tribekit.kit import clock
from tribekit.kit.errors import FieldProblem, NotFound, ValidationFailed
from tribekit.kit.pagination import Page
from tribekit.kit.worker import wake_after_commit
from tribekit.models.campaigns import CampaignSchedule, GroupBuy, PromotionDay
from tribekit.models.communities import Community
from tribekit.robot.schedules.rules import Occurrence, RuleNotUnderstood
from tribekit.robot.schedules.service import ScheduleChanged, VersionRequired
from tribekit.tenancy.principal import Tenant

from . import repository, templates, windows
from .templates import Template

#: The sweep that makes the schedules' coming occurrences (``tasks.py``).
PLAN_SWEEP = "campaigns.schedules.plan"
NAME_MAX = 200
RULE_MAX = 200
#: How many coming occurrences a schedule shows.
NEXT_SHOWN = 5
BEFORE_MAX = int(announcements.BEFORE_MAX.total_seconds())
#: The latest an occurrence is still made after its start (a worker that was down does not
#: start yesterday's sale).
LATE_LIMIT = timedelta(minutes=15)


@dataclass(frozen=True)
class ScheduleSpec:
    """What staff give: a name, a rule in words, what each occurrence makes, where
    (``community_ids``; empty: every active community), what is said and when before."""

    name: str
    rule: str
    template: Template
    community_ids: tuple[uuid.UUID, ...] = ()
    announcements: Mapping[str, Any] = field(default_factory=dict)
    announce_before_seconds: int = 600
    active: bool = True


@dataclass(frozen=True)
class Coming:
    """One coming occurrence: made already (``campaign_id``) or still to be made."""

    key: str
    starts_at: datetime
    ends_at: datetime
    local: datetime
    campaign_id: uuid.UUID | None
    status: str  # the campaign's, or ``planned``
    product_id: uuid.UUID | None  # flash sales and group buys: what it sells


@dataclass(frozen=True)
class ScheduleView:
    schedule: CampaignSchedule
    window: windows.Window
    coming: tuple[Coming, ...]


# -- validating ---------------------------------------------------------------------------------


def _name(name: str) -> str:
    if not 1 <= len(name.strip()) <= NAME_MAX:
        message = f"1 to {NAME_MAX} characters"
        raise ValidationFailed(f"name: {message}", errors=[FieldProblem(("body", "name"), message)])
    return name.strip()


async def _check_communities(
    session: AsyncSession, tenant: Tenant, ids: Sequence[uuid.UUID]
) -> None:
    if not ids:
        return
    stmt = select(Community.id).where(Community.merchant_id == tenant.id, Community.id.in_(ids))
    found = set((await session.scalars(stmt)).all())
    missing = next((i for i in ids if i not in found), None)
    if missing is not None:
        raise NotFound(f"no community with id {missing} at this merchant")


async def check_create(session: AsyncSession, tenant: Tenant, spec: ScheduleSpec) -> windows.Window:
    """The rule read, once the schedule can be made: a rule not understood (saying what was),
    a name out of bounds, a template that cannot make a campaign, texts that cannot be posted
    are a 422; a product, level or community of another merchant is a 404 like a missing one."""
    _name(spec.name)
    if len(spec.rule) > RULE_MAX:
        raise RuleNotUnderstood(
            f"rule: at most {RULE_MAX} characters",
            errors=[FieldProblem(("body", "rule"), f"at most {RULE_MAX} characters")],
        )
    window = windows.parse(spec.rule)
    await templates.check(session, tenant, spec.template)
    await _check_communities(session, tenant, spec.community_ids)
    announcements.check_texts(spec.announcements, spec.template.kind)
    if not 0 <= spec.announce_before_seconds <= BEFORE_MAX:
        message = f"0 (no announcement before) to {BEFORE_MAX} seconds"
        raise ValidationFailed(
            f"announce_before_seconds: {message}",
            errors=[FieldProblem(("body", "announce_before_seconds"), message)],
        )
    return window


# -- writing ------------------------------------------------------------------------------------


def _values(spec: ScheduleSpec, window: windows.Window) -> dict[str, Any]:
    return {
        "name": _name(spec.name),
        "rule": spec.rule.strip(),
        "cron": window.cron,
        "duration_seconds": window.duration_seconds,
        "kind": spec.template.kind,
        "template": spec.template.to_json(),
        "community_ids": [str(i) for i in spec.community_ids],
        "announcements": announcements.check_texts(spec.announcements, spec.template.kind),
        "announce_before_seconds": spec.announce_before_seconds,
        "active": spec.active,
    }


async def do_create(
    session: AsyncSession,
    tenant: Tenant,
    spec: ScheduleSpec,
    window: windows.Window,
    *,
    created_by: str,
) -> CampaignSchedule:
    """Write the schedule (checked by ``check_create``), in the merchant's timezone; the worker
    makes its first occurrences as soon as this commits."""
    now = clock.now()
    row = CampaignSchedule(
        merchant_id=tenant.id,
        **_values(spec, window),
        timezone=tenant.timezone,
        rotation_index=0,
        due_at=now,
        planned_until=now,
        version=1,
        created_by=created_by[:100],
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    if row.active:
        wake_after_commit(session, PLAN_SWEEP)
    return row


async def create(
    session: AsyncSession, tenant: Tenant, spec: ScheduleSpec, *, created_by: str
) -> CampaignSchedule:
    """Check, then write a schedule (the demo's, a script's)."""
    window = await check_create(session, tenant, spec)
    return await do_create(session, tenant, spec, window, created_by=created_by)


def spec_of(row: CampaignSchedule) -> ScheduleSpec:
    return ScheduleSpec(
        name=row.name,
        rule=row.rule,
        template=templates.from_json(row.template),
        community_ids=tuple(uuid.UUID(i) for i in row.community_ids),
        announcements=dict(row.announcements),
        announce_before_seconds=row.announce_before_seconds,
        active=row.active,
    )


def _check_version(row: CampaignSchedule, expected: int | None) -> None:
    if expected is None:
        raise VersionRequired(
            "send the version you read in If-Match (the ETag of GET, e.g. "
            f'If-Match: "{row.version}")'
        )
    if expected != row.version:
        raise ScheduleChanged(
            f"campaign schedule {row.id} is at version {row.version}, not {expected}: read it "
            "again, then send your change with its version",
            version=row.version,
        )


async def change(
    session: AsyncSession,
    tenant: Tenant,
    schedule_id: uuid.UUID,
    changes: Mapping[str, Any],
    *,
    expected_version: int | None,
) -> CampaignSchedule:
    """Apply ``changes`` (the fields sent: name, rule, template, community_ids, announcements,
    announce_before_seconds, active) to the schedule at ``expected_version``. The occurrences
    not made yet follow the schedule as it now is; a resumed schedule starts from now."""
    row = await repository.locked(session, tenant, schedule_id)
    _check_version(row, expected_version)
    known = {"name", "rule", "template", "community_ids", "announcements"}
    known |= {"announce_before_seconds", "active"}
    spec = replace(spec_of(row), **{k: v for k, v in changes.items() if k in known})
    window = await check_create(session, tenant, spec)
    values = _values(spec, window)
    if all(getattr(row, name) == value for name, value in values.items()):
        return row
    now = clock.now()
    resumed = spec.active and not row.active
    for name, value in values.items():
        setattr(row, name, value)
    if resumed:  # what fell due while paused is not made
        row.planned_until = max(row.planned_until or now, now)
    row.version += 1
    row.updated_at = now
    row.due_at = now
    await session.flush()
    if row.active:
        wake_after_commit(session, PLAN_SWEEP)
    return row


async def set_active(
    session: AsyncSession, tenant: Tenant, schedule_id: uuid.UUID, active: bool
) -> CampaignSchedule:
    """Pause (False) or resume (True) at whatever version the schedule is: either is
    idempotent, so it needs no If-Match."""
    row = await repository.locked(session, tenant, schedule_id)
    return await change(
        session, tenant, schedule_id, {"active": active}, expected_version=row.version
    )


async def remove(
    session: AsyncSession, tenant: Tenant, schedule_id: uuid.UUID, *, expected_version: int | None
) -> None:
    """Remove the schedule (at ``expected_version`` when given): it makes nothing more; the
    campaigns it made stay, no longer naming it."""
    row = await repository.locked(session, tenant, schedule_id)
    if expected_version is not None:
        _check_version(row, expected_version)
    await session.delete(row)
    await session.flush()


# -- reading ------------------------------------------------------------------------------------


def after_of(row: CampaignSchedule, now: datetime) -> datetime:
    """Occurrences starting later than this are still to be made."""
    return max(row.planned_until or row.created_at, now - LATE_LIMIT)


def projected(
    row: CampaignSchedule, window: windows.Window, after: datetime, until: datetime
) -> Iterator[tuple[Occurrence, datetime, datetime, uuid.UUID | None]]:
    """The occurrences still to be made in (``after``, ``until``], each with the product it
    would sell (a flash sale's: the rotation's next, in turn), in time order."""
    template = templates.from_json(row.template)
    for n, (occurrence, starts, ends) in enumerate(
        windows.occurrences(window, row.timezone, after, until)
    ):
        product: uuid.UUID | None = None
        if isinstance(template, templates.FlashTemplate):
            product = template.product_at(row.rotation_index + n)
        elif isinstance(template, templates.GroupBuyTemplate):
            product = template.product_id
        yield occurrence, starts, ends, product


def ends_of(campaign: repository.Made) -> datetime:
    return campaign.deadline if isinstance(campaign, GroupBuy) else campaign.ends_at


async def _view(session: AsyncSession, tenant: Tenant, row: CampaignSchedule) -> ScheduleView:
    window = windows.parse(row.rule)
    now = clock.now()
    coming: list[Coming] = []
    made = await repository.made_between(
        session, tenant, [row.kind], now, now + timedelta(days=400), schedule_ids=[row.id]
    )
    zone = ZoneInfo(row.timezone)
    for campaign in made[:NEXT_SHOWN]:
        coming.append(
            Coming(
                campaign.occurrence_key or "",
                campaign.starts_at,
                ends_of(campaign),
                campaign.starts_at.astimezone(zone).replace(tzinfo=None),
                campaign.id,
                "made" if isinstance(campaign, PromotionDay) else campaign.status,
                None if isinstance(campaign, PromotionDay) else campaign.product_id,
            )
        )
    if row.active and len(coming) < NEXT_SHOWN:
        after = after_of(row, now)
        rest = projected(row, window, after, after + timedelta(days=400))
        for occurrence, starts, ends, product in itertools.islice(rest, NEXT_SHOWN - len(coming)):
            coming.append(
                Coming(occurrence.key, starts, ends, occurrence.local, None, "planned", product)
            )
    return ScheduleView(row, window, tuple(coming))


async def views(
    session: AsyncSession, tenant: Tenant, rows: Sequence[CampaignSchedule]
) -> list[ScheduleView]:
    return [await _view(session, tenant, row) for row in rows]


async def get(session: AsyncSession, tenant: Tenant, schedule_id: uuid.UUID) -> CampaignSchedule:
    return await repository.get(session, tenant, schedule_id)


async def page(
    session: AsyncSession,
    tenant: Tenant,
    *,
    kind: str | None,
    active: bool | None,
    limit: int,
    cursor: str | None,
) -> Page[CampaignSchedule]:
    return await repository.page(
        session, tenant, kind=kind, active=active, limit=limit, cursor=cursor
    )
