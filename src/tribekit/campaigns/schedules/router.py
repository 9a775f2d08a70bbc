"""HTTP routes of campaign schedules (staff) and of the one calendar of campaigns and posts.

Reading needs ``campaigns:read``, changing ``campaigns:manage``. A schedule is changed with the
version it was read at, in ``If-Match`` (the ``ETag`` of a GET): two staff saving the same
version, one gets 409 ``schedule_changed``; without If-Match a change is 428
``version_required``. Pausing and resuming need no version (either is idempotent)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response, status

from tribekit.api.deps import (
    API_PREFIX,
    CurrentPrincipal,
    Cursor,
    DbSession,
    IfMatch,
    PageLimit,
    State,
    authorized,
    version_of,
)
from tribekit.api.problems import problem_doc
from tribekit.kit import clock
from tribekit.kit.schemas import UtcDatetime
from tribekit.models.campaigns import CampaignSchedule
from tribekit.tenancy.permissions import Permission
from tribekit.tenancy.principal import Principal, Tenant

from . import calendar, service
from .schemas import (
    CalendarCampaignOut,
    CalendarCommunityOut,
    CalendarDirectOut,
    CalendarPostOut,
    CalendarWarningOut,
    CampaignCalendarOut,
    CampaignScheduleIn,
    CampaignScheduleOut,
    CampaignSchedulePage,
    CampaignScheduleUpdate,
    ComingOut,
)
from .service import ScheduleSpec, ScheduleView

router = APIRouter(prefix=API_PREFIX, tags=["campaign schedules"])

_INVALID: dict[int | str, dict[str, Any]] = {
    404: problem_doc("a product, level or community named is not this merchant's"),
    422: problem_doc(
        "`schedule_rule_invalid`: the rule is not read (the message says what was understood); "
        "`campaign_template_invalid`, `announcements_invalid`: the field named cannot be used"
    ),
}
_VERSIONED: dict[int | str, dict[str, Any]] = {
    409: problem_doc("`schedule_changed`: changed by someone since the version in If-Match"),
    428: problem_doc("`version_required`: send the version you read in If-Match"),
}
Reader = Annotated[Tenant, authorized(Permission.CAMPAIGNS_READ)]
DEFAULT_DAYS = 31


async def _manager(principal: CurrentPrincipal) -> Principal:
    principal.require(Permission.CAMPAIGNS_MANAGE)
    return principal


# Writes record who made them (``staff:<id>``), so they take the principal.
Manager = Annotated[Principal, Depends(_manager)]


def _out(view: ScheduleView) -> CampaignScheduleOut:
    row = view.schedule
    return CampaignScheduleOut(
        id=row.id,
        name=row.name,
        rule=row.rule,
        words={"en": view.window.words("en"), "zh-CN": view.window.words("zh-CN")},
        kind=row.kind,
        cron=row.cron,
        duration_seconds=row.duration_seconds,
        timezone=row.timezone,
        template=dict(row.template),
        rotation_index=row.rotation_index,
        community_ids=[uuid.UUID(i) for i in row.community_ids],
        announcements=dict(row.announcements),
        announce_before_seconds=row.announce_before_seconds,
        active=row.active,
        version=row.version,
        due_at=row.due_at,
        planned_until=row.planned_until,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        coming=[
            ComingOut(
                key=c.key,
                starts_at=c.starts_at,
                ends_at=c.ends_at,
                local_start=f"{c.local:%Y-%m-%dT%H:%M}",
                campaign_id=c.campaign_id,
                status=c.status,
                product_id=c.product_id,
            )
            for c in view.coming
        ],
    )


async def _respond(
    session: DbSession, tenant: Tenant, row: CampaignSchedule, response: Response
) -> CampaignScheduleOut:
    (view,) = await service.views(session, tenant, [row])
    response.headers["ETag"] = f'"{row.version}"'
    return _out(view)


@router.get("/campaign-schedules", summary="Campaign schedules, newest first")
async def list_campaign_schedules(
    session: DbSession,
    tenant: Reader,
    limit: PageLimit = 50,
    cursor: Cursor = None,
    kind: Literal["flash_sale", "group_buy", "promotion_day"] | None = None,
    active: bool | None = None,
) -> CampaignSchedulePage:
    page = await service.page(session, tenant, kind=kind, active=active, limit=limit, cursor=cursor)
    views = await service.views(session, tenant, page.items)
    return CampaignSchedulePage(items=[_out(v) for v in views], next_cursor=page.next_cursor)


@router.post(
    "/campaign-schedules",
    status_code=status.HTTP_201_CREATED,
    summary="Add a campaign schedule: a rule in words, what each occurrence makes, where, "
    "what is announced",
    responses=_INVALID,
)
async def create_campaign_schedule(
    data: CampaignScheduleIn, session: DbSession, principal: Manager, response: Response
) -> CampaignScheduleOut:
    tenant = principal.require_tenant()
    spec = ScheduleSpec(
        name=data.name,
        rule=data.rule,
        template=data.template.to_template(),
        community_ids=tuple(data.community_ids),
        announcements=data.announcements,
        announce_before_seconds=data.announce_before_seconds,
        active=data.active,
    )
    window = await service.check_create(session, tenant, spec)
    row = await service.do_create(session, tenant, spec, window, created_by=principal.actor)
    return await _respond(session, tenant, row, response)


@router.get(
    "/campaign-schedules/{campaign_schedule_id}",
    summary="A campaign schedule and its coming occurrences (made, and still to be made)",
)
async def get_campaign_schedule(
    campaign_schedule_id: uuid.UUID, session: DbSession, tenant: Reader, response: Response
) -> CampaignScheduleOut:
    row = await service.get(session, tenant, campaign_schedule_id)
    return await _respond(session, tenant, row, response)


@router.patch(
    "/campaign-schedules/{campaign_schedule_id}",
    summary="Change a campaign schedule (If-Match: the version read); the occurrences not made "
    "yet follow it",
    responses={**_INVALID, **_VERSIONED},
)
async def update_campaign_schedule(
    campaign_schedule_id: uuid.UUID,
    data: CampaignScheduleUpdate,
    session: DbSession,
    principal: Manager,
    response: Response,
    if_match: IfMatch = None,
) -> CampaignScheduleOut:
    tenant = principal.require_tenant()
    changes: dict[str, Any] = {
        name: getattr(data, name) for name in data.model_fields_set if name != "template"
    }
    if "community_ids" in changes:
        changes["community_ids"] = tuple(changes["community_ids"])
    if data.template is not None:
        changes["template"] = data.template.to_template()
    row = await service.change(
        session, tenant, campaign_schedule_id, changes, expected_version=version_of(if_match)
    )
    return await _respond(session, tenant, row, response)


@router.post(
    "/campaign-schedules/{campaign_schedule_id}/pause",
    summary="Pause a campaign schedule: it makes nothing until resumed",
)
async def pause_campaign_schedule(
    campaign_schedule_id: uuid.UUID, session: DbSession, principal: Manager, response: Response
) -> CampaignScheduleOut:
    tenant = principal.require_tenant()
    row = await service.set_active(session, tenant, campaign_schedule_id, False)
    return await _respond(session, tenant, row, response)


@router.post(
    "/campaign-schedules/{campaign_schedule_id}/resume",
    summary="Resume a campaign schedule: its occurrences from now on are made",
)
async def resume_campaign_schedule(
    campaign_schedule_id: uuid.UUID, session: DbSession, principal: Manager, response: Response
) -> CampaignScheduleOut:
    tenant = principal.require_tenant()
    row = await service.set_active(session, tenant, campaign_schedule_id, True)
    return await _respond(session, tenant, row, response)


@router.delete(
    "/campaign-schedules/{campaign_schedule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a campaign schedule; the campaigns it made stay",
    responses={409: _VERSIONED[409]},
)
async def delete_campaign_schedule(
    campaign_schedule_id: uuid.UUID,
    session: DbSession,
    principal: Manager,
    if_match: IfMatch = None,
) -> None:
    await service.remove(
        session,
        principal.require_tenant(),
        campaign_schedule_id,
        expected_version=version_of(if_match),
    )


@router.get(
    "/campaign-calendar",
    summary="Campaigns and posts per community over a range (at most 92 days), with a "
    "warning where a month's plan exceeds a channel's quota",
    responses={422: problem_doc("`calendar_range_invalid`: end before start, or too long")},
)
async def get_campaign_calendar(
    session: DbSession,
    state: State,
    tenant: Reader,
    start: Annotated[
        UtcDatetime | None, Query(description="from (ISO 8601 with a timezone); default now")
    ] = None,
    end: Annotated[
        UtcDatetime | None,
        Query(description=f"until, not included; default {DEFAULT_DAYS} days after start"),
    ] = None,
    community_id: uuid.UUID | None = None,
) -> CampaignCalendarOut:
    start = start or clock.now()
    end = end or start + timedelta(days=DEFAULT_DAYS)
    found = await calendar.build(
        session, tenant, state.channels, start=start, end=end, community_id=community_id
    )
    return CampaignCalendarOut(
        start=found.start,
        end=found.end,
        communities=[
            CalendarCommunityOut(
                community_id=c.plan.community.id,
                name=c.plan.community.name,
                channel=str(c.plan.community.channel),
                timezone=c.plan.timezone,
                monthly_mass_messages=c.plan.quota,
                campaigns=[
                    CalendarCampaignOut(
                        kind=e.kind,
                        campaign_id=e.campaign_id,
                        schedule_id=e.schedule_id,
                        name=e.name,
                        starts_at=e.starts_at,
                        ends_at=e.ends_at,
                        local_start=calendar.local(e.starts_at, c.plan.timezone),
                        status=e.status,
                        product_id=e.product_id,
                    )
                    for e in c.campaigns
                ],
                posts=[
                    CalendarPostOut(
                        at=p.at,
                        local_at=f"{p.local:%Y-%m-%dT%H:%M}",
                        name=p.name,
                        status=p.status,
                        marketing=p.marketing,
                        broadcast_id=p.broadcast_id,
                        schedule_id=p.schedule_id,
                        campaign_id=p.campaign_id,
                        moment=p.moment,
                    )
                    for p in c.plan.posts
                ],
                direct_messages=[
                    CalendarDirectOut(
                        day=d.day, schedule_id=d.schedule_id, name=d.name, count=d.count
                    )
                    for d in c.plan.direct
                ],
            )
            for c in found.communities
        ],
        warnings=[
            CalendarWarningOut(
                community_id=w.community_id,
                community_name=w.community_name,
                channel=w.channel,
                month=w.month,
                planned=w.planned,
                quota=w.quota,
                message=w.message,
            )
            for w in found.warnings
        ],
    )
