"""Scheduled posts: made (``check_create`` validates, ``do_create`` writes), read, changed with
the version they were read at, paused and resumed (``active``), and removed.

A schedule's occurrences are broadcasts, made ahead of time by the worker (``tasks.py``). Any
change to a schedule re-plans its coming posts: the broadcasts it made that are still
``scheduled`` and due later than now are cancelled (a paused or removed schedule cancels every
one still ``scheduled``, due or not), and the worker makes them again at once under the rule as
it now is. A cancelled occurrence gives up its key (``~v<version>`` is added to it), so the
same occurrence can be made again; one that staff cancelled through the broadcasts keeps its
key and is not made again.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock
from tribekit.kit.errors import Conflict, FieldProblem, NotFound, TribekitError, ValidationFailed
from tribekit.kit.pagination import Page, paginate
from tribekit.kit.worker import wake_after_commit
from tribekit.models.broadcasts import Broadcast, PostSchedule
from tribekit.models.communities import Community
from tribekit.robot.broadcasts import service as broadcasts
from tribekit.robot.broadcasts.content import Content
from tribekit.robot.broadcasts.service import BroadcastSpec
from tribekit.robot.broadcasts.states import Audience, BroadcastStatus
from tribekit.robot.channels import Channel
from tribekit.tenancy.principal import Tenant

from . import rules

#: The sweep that makes the schedules' coming occurrences (``tasks.py``).
PLAN_SWEEP = "robot.schedules.plan"
NAME_MAX = 200
RULE_MAX = 200
#: How many coming occurrences a schedule shows.
NEXT_SHOWN = 5


class ScheduleChanged(Conflict):
    code = "schedule_changed"
    title = "The schedule was changed since the version in If-Match"


class VersionRequired(TribekitError):
    status = 428
    code = "version_required"
    title = "Send the version you read in If-Match"


@dataclass(frozen=True)
class ScheduleSpec:
    """What staff give: a name, a rule, where (a community, or None: every active community,
    each in its own timezone), what to say, whether it is marketing, whether it runs."""

    name: str
    rule: str
    content: Content
    community_id: uuid.UUID | None = None
    marketing: bool = False
    active: bool = True


@dataclass(frozen=True)
class ScheduleView:
    schedule: PostSchedule
    rule: rules.Rule
    timezone: str  # the community's, or the merchant's for a merchant-wide schedule
    coming: tuple[rules.Occurrence, ...]  # the next few, in ``timezone`` (none after a join)


def timezone_of(community: Community | None, tenant: Tenant) -> str:
    """Where a community's posts are timed: its own timezone, else the merchant's."""
    return (community.timezone if community is not None else None) or tenant.timezone


# -- validating ---------------------------------------------------------------------------------


def _name(name: str) -> str:
    if not 1 <= len(name.strip()) <= NAME_MAX:
        message = f"1 to {NAME_MAX} characters"
        raise ValidationFailed(f"name: {message}", errors=[FieldProblem(("body", "name"), message)])
    return name.strip()


def _spec_of_occurrence(spec: ScheduleSpec, rule: rules.Rule) -> BroadcastSpec:
    """The broadcast an occurrence will be, for checking the audience and content now (a
    direct message's channels are those that can message a member)."""
    where = () if spec.community_id is None else (spec.community_id,)
    if rule.kind == "after_join":
        return BroadcastSpec(spec.content, Audience.MEMBERS, where, marketing=spec.marketing)
    if spec.community_id is None:
        return BroadcastSpec(spec.content, Audience.ALL, marketing=spec.marketing)
    return BroadcastSpec(
        spec.content, Audience.COMMUNITIES, (spec.community_id,), marketing=spec.marketing
    )


async def check_create(
    session: AsyncSession, tenant: Tenant, spec: ScheduleSpec, channels: Mapping[str, Channel]
) -> rules.Rule:
    """The rule read, once the schedule can be made: a community of another merchant is a
    404 like a missing one; a rule that is not one of the forms, a name out of bounds or content
    the audience's channels cannot carry is a 422."""
    _name(spec.name)
    if len(spec.rule) > RULE_MAX:
        raise rules.RuleNotUnderstood(
            f"rule: at most {RULE_MAX} characters",
            errors=[FieldProblem(("body", "rule"), f"at most {RULE_MAX} characters")],
        )
    rule = rules.parse(spec.rule)
    if spec.community_id is not None:
        community = await session.get(Community, spec.community_id)
        if community is None or community.merchant_id != tenant.id:
            raise NotFound(f"no community with id {spec.community_id} at this merchant")
    await broadcasts.check_create(session, tenant, _spec_of_occurrence(spec, rule), channels)
    return rule


# -- writing ------------------------------------------------------------------------------------


async def do_create(
    session: AsyncSession, tenant: Tenant, spec: ScheduleSpec, rule: rules.Rule, *, created_by: str
) -> PostSchedule:
    """Write the schedule (checked by ``check_create``); the worker plans its first occurrences
    as soon as this commits."""
    now = clock.now()
    row = PostSchedule(
        merchant_id=tenant.id,
        name=_name(spec.name),
        rule=spec.rule.strip(),
        cron=rule.cron,
        after_join_seconds=rule.after_join_seconds,
        community_id=spec.community_id,
        content=spec.content.to_json(),
        marketing=spec.marketing,
        active=spec.active,
        due_at=now,
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


async def cancel_coming(
    session: AsyncSession, schedule: PostSchedule, *, due_too: bool, version: int
) -> int:
    """Cancel the schedule's broadcasts not yet started: those due later than now, or with
    ``due_too`` every one still ``scheduled``. Each gives up its occurrence key (``~v<version>``
    is added) so that the occurrence can be made again. A conditional update: a broadcast the
    worker is starting meanwhile is left to it. Returns how many were cancelled."""
    now = clock.now()
    stmt = update(Broadcast).where(
        Broadcast.merchant_id == schedule.merchant_id,
        Broadcast.schedule_id == schedule.id,
        Broadcast.status == BroadcastStatus.SCHEDULED.value,
    )
    if not due_too:
        stmt = stmt.where(Broadcast.send_at > now)
    result = await session.execute(
        stmt.values(
            status=BroadcastStatus.CANCELLED.value,
            cancelled_at=now,
            finished_at=now,
            occurrence_key=Broadcast.occurrence_key + f"~v{version}",
        ).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def _locked(session: AsyncSession, tenant: Tenant, schedule_id: uuid.UUID) -> PostSchedule:
    row = await session.scalar(
        select(PostSchedule)
        .where(PostSchedule.merchant_id == tenant.id, PostSchedule.id == schedule_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise NotFound(f"no schedule with id {schedule_id} at this merchant")
    return row


def _check_version(row: PostSchedule, expected: int | None) -> None:
    if expected is None:
        raise VersionRequired(
            "send the version you read in If-Match (the ETag of GET, e.g. "
            f'If-Match: "{row.version}")'
        )
    if expected != row.version:
        raise ScheduleChanged(
            f"schedule {row.id} is at version {row.version}, not {expected}: read it again, "
            "then send your change with its version",
            version=row.version,
        )


async def change(
    session: AsyncSession,
    tenant: Tenant,
    channels: Mapping[str, Channel],
    schedule_id: uuid.UUID,
    changes: Mapping[str, Any],
    *,
    expected_version: int | None,
) -> PostSchedule:
    """Apply ``changes`` (the fields sent: name, rule, community_id, content, marketing,
    active) to the schedule at ``expected_version``; any change re-plans its coming posts."""
    row = await _locked(session, tenant, schedule_id)
    _check_version(row, expected_version)
    spec = ScheduleSpec(
        name=changes.get("name", row.name),
        rule=changes.get("rule", row.rule),
        content=changes["content"] if "content" in changes else Content.from_json(row.content),
        community_id=changes.get("community_id", row.community_id),
        marketing=changes.get("marketing", row.marketing),
        active=changes.get("active", row.active),
    )
    rule = await check_create(session, tenant, spec, channels)
    values: dict[str, Any] = {
        "name": _name(spec.name),
        "rule": spec.rule.strip(),
        "cron": rule.cron,
        "after_join_seconds": rule.after_join_seconds,
        "community_id": spec.community_id,
        "content": spec.content.to_json(),
        "marketing": spec.marketing,
        "active": spec.active,
    }
    if all(getattr(row, name) == value for name, value in values.items()):
        return row
    await cancel_coming(session, row, due_too=not spec.active, version=row.version)
    now = clock.now()
    for name, value in values.items():
        setattr(row, name, value)
    row.version += 1
    row.updated_at = now
    row.due_at = now
    await session.flush()
    if row.active:
        wake_after_commit(session, PLAN_SWEEP)
    return row


async def remove(
    session: AsyncSession, tenant: Tenant, schedule_id: uuid.UUID, *, expected_version: int | None
) -> None:
    """Remove the schedule (at ``expected_version`` when given) and cancel every broadcast it
    made that has not started; those sent stay, no longer naming it."""
    row = await _locked(session, tenant, schedule_id)
    if expected_version is not None:
        _check_version(row, expected_version)
    await cancel_coming(session, row, due_too=True, version=row.version)
    await session.delete(row)
    await session.flush()


# -- reading ------------------------------------------------------------------------------------


async def _timezones(
    session: AsyncSession, tenant: Tenant, rows: Sequence[PostSchedule]
) -> dict[uuid.UUID, str]:
    ids = {r.community_id for r in rows if r.community_id is not None}
    found: dict[uuid.UUID, str] = {}
    if ids:
        stmt = select(Community.id, Community.timezone).where(
            Community.merchant_id == tenant.id, Community.id.in_(ids)
        )
        found = {i: tz or tenant.timezone for i, tz in (await session.execute(stmt)).all()}
    return {
        r.id: found.get(r.community_id, tenant.timezone) if r.community_id else tenant.timezone
        for r in rows
    }


def _view(row: PostSchedule, timezone: str, now: datetime) -> ScheduleView:
    rule = rules.parse(row.rule)
    coming: list[rules.Occurrence] = []
    if row.cron is not None and row.after_join_seconds is None and row.active:
        for occurrence in rules.occurrences(row.cron, timezone, now, now + timedelta(days=400)):
            coming.append(occurrence)
            if len(coming) == NEXT_SHOWN:
                break
    return ScheduleView(row, rule, timezone, tuple(coming))


async def views(
    session: AsyncSession, tenant: Tenant, rows: Sequence[PostSchedule]
) -> list[ScheduleView]:
    timezones = await _timezones(session, tenant, rows)
    now = clock.now()
    return [_view(row, timezones[row.id], now) for row in rows]


async def get(session: AsyncSession, tenant: Tenant, schedule_id: uuid.UUID) -> PostSchedule:
    row = await session.scalar(
        select(PostSchedule).where(
            PostSchedule.merchant_id == tenant.id, PostSchedule.id == schedule_id
        )
    )
    if row is None:
        raise NotFound(f"no schedule with id {schedule_id} at this merchant")
    return row


async def page(
    session: AsyncSession,
    tenant: Tenant,
    *,
    community_id: uuid.UUID | None,
    active: bool | None,
    limit: int,
    cursor: str | None,
) -> Page[PostSchedule]:
    """The merchant's schedules, newest first."""
    stmt = select(PostSchedule).where(PostSchedule.merchant_id == tenant.id)
    if community_id is not None:
        stmt = stmt.where(PostSchedule.community_id == community_id)
    if active is not None:
        stmt = stmt.where(PostSchedule.active.is_(active))
    return await paginate(session, stmt, key=PostSchedule.id, limit=limit, cursor=cursor)
