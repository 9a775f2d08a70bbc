"""HTTP routes of the robot's scheduled posts and the calendar of what will be posted where.

A schedule is changed with the version it was read at, in ``If-Match`` (the ``ETag`` of a GET):
two staff saving the same version, one gets 409 ``schedule_changed``; without If-Match a change
is 428 ``version_required``. Removing takes If-Match too, checked when sent."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status

from tribekit.api.deps import (
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
from tribekit.robot.schedules import calendar, service
from tribekit.robot.schedules.service import ScheduleSpec, ScheduleView
from tribekit.robot.schemas.broadcasts import ButtonOut, ContentOut
from tribekit.robot.schemas.schedules import (
    CalendarCommunityOut,
    CalendarOut,
    CalendarPostOut,
    DirectBroadcastOut,
    DirectDayOut,
    OccurrenceOut,
    QuotaWarningOut,
    ScheduleIn,
    ScheduleOut,
    SchedulePage,
    ScheduleUpdate,
)
from tribekit.tenancy.permissions import Permission
from tribekit.tenancy.principal import Principal, Tenant

router = APIRouter(tags=["robot"])


_RULE: dict[int | str, dict[str, Any]] = {
    422: problem_doc("`schedule_rule_invalid`: the rule is not one of the forms (listed)")
}
_VERSIONED: dict[int | str, dict[str, Any]] = {
    409: problem_doc("`schedule_changed`: changed by someone since the version in If-Match"),
    428: problem_doc("`version_required`: send the version you read in If-Match"),
}

Reader = Annotated[Tenant, authorized(Permission.BROADCASTS_READ)]
#: The calendar's range when none is asked for.
DEFAULT_DAYS = 31


async def _sender(principal: CurrentPrincipal) -> Principal:
    principal.require(Permission.BROADCASTS_SEND)
    return principal


# Writes record who made them (``staff:<id>``), so they take the principal.
Sender = Annotated[Principal, Depends(_sender)]


def _out(view: ScheduleView) -> ScheduleOut:
    row = view.schedule
    content = row.content
    return ScheduleOut(
        id=row.id,
        name=row.name,
        rule=row.rule,
        words={"en": view.rule.words("en"), "zh-CN": view.rule.words("zh-CN")},
        kind="after_join" if row.after_join_seconds is not None else "recurring",
        cron=row.cron,
        after_join_seconds=row.after_join_seconds,
        community_id=row.community_id,
        timezone=view.timezone,
        content=ContentOut(
            texts=dict(content.get("texts") or {}),
            buttons=[
                [ButtonOut(text=b["text"], url=b.get("url"), data=b.get("data")) for b in r]
                for r in content.get("buttons") or []
            ],
            image_url=content.get("image_url"),
        ),
        marketing=row.marketing,
        active=row.active,
        version=row.version,
        due_at=row.due_at,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        coming=[
            OccurrenceOut(at=o.at, local_at=f"{o.local:%Y-%m-%dT%H:%M}", timezone=o.timezone)
            for o in view.coming
        ],
    )


async def _respond(session: DbSession, tenant: Tenant, row: Any, response: Response) -> ScheduleOut:
    (view,) = await service.views(session, tenant, [row])
    response.headers["ETag"] = f'"{row.version}"'
    return _out(view)


@router.get("/schedules", summary="Scheduled posts, newest first")
async def list_schedules(
    session: DbSession,
    tenant: Reader,
    limit: PageLimit = 50,
    cursor: Cursor = None,
    community_id: uuid.UUID | None = None,
    active: bool | None = None,
) -> SchedulePage:
    page = await service.page(
        session, tenant, community_id=community_id, active=active, limit=limit, cursor=cursor
    )
    views = await service.views(session, tenant, page.items)
    return SchedulePage(items=[_out(v) for v in views], next_cursor=page.next_cursor)


@router.post(
    "/schedules",
    status_code=status.HTTP_201_CREATED,
    summary="Add a scheduled post: a rule in words, a community or every one, the content",
    responses=_RULE,
)
async def create_schedule(
    data: ScheduleIn, session: DbSession, state: State, principal: Sender, response: Response
) -> ScheduleOut:
    tenant = principal.require_tenant()
    spec = ScheduleSpec(
        name=data.name,
        rule=data.rule,
        content=data.content.to_content(),
        community_id=data.community_id,
        marketing=data.marketing,
        active=data.active,
    )
    rule = await service.check_create(session, tenant, spec, state.channels)
    row = await service.do_create(session, tenant, spec, rule, created_by=principal.actor)
    return await _respond(session, tenant, row, response)


@router.get("/schedules/{schedule_id}", summary="A scheduled post and its coming occurrences")
async def get_schedule(
    schedule_id: uuid.UUID, session: DbSession, tenant: Reader, response: Response
) -> ScheduleOut:
    row = await service.get(session, tenant, schedule_id)
    return await _respond(session, tenant, row, response)


@router.patch(
    "/schedules/{schedule_id}",
    summary="Change, pause (active: false) or resume a scheduled post (If-Match: the version "
    "read); its coming posts are planned again",
    responses={**_RULE, **_VERSIONED},
)
async def update_schedule(
    schedule_id: uuid.UUID,
    data: ScheduleUpdate,
    session: DbSession,
    state: State,
    principal: Sender,
    response: Response,
    if_match: IfMatch = None,
) -> ScheduleOut:
    tenant = principal.require_tenant()
    changes: dict[str, Any] = {
        name: getattr(data, name) for name in data.model_fields_set if name != "content"
    }
    if data.content is not None:
        changes["content"] = data.content.to_content()
    row = await service.change(
        session,
        tenant,
        state.channels,
        schedule_id,
        changes,
        expected_version=version_of(if_match),
    )
    return await _respond(session, tenant, row, response)


@router.delete(
    "/schedules/{schedule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a scheduled post; its broadcasts not yet started are cancelled",
    responses={409: _VERSIONED[409]},
)
async def delete_schedule(
    schedule_id: uuid.UUID, session: DbSession, principal: Sender, if_match: IfMatch = None
) -> None:
    await service.remove(
        session, principal.require_tenant(), schedule_id, expected_version=version_of(if_match)
    )


@router.get(
    "/calendar",
    summary="What will be posted where over a range (at most 92 days), with quota warnings",
    responses={422: problem_doc("`calendar_range_invalid`: end before start, or too long")},
)
async def get_calendar(
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
) -> CalendarOut:
    start = start or clock.now()
    end = end or start + timedelta(days=DEFAULT_DAYS)
    found = await calendar.build(
        session, tenant, state.channels, start=start, end=end, community_id=community_id
    )
    return _calendar_out(found)


def _calendar_out(found: calendar.Calendar) -> CalendarOut:
    return CalendarOut(
        start=found.start,
        end=found.end,
        communities=[
            CalendarCommunityOut(
                community_id=plan.community.id,
                name=plan.community.name,
                channel=str(plan.community.channel),
                timezone=plan.timezone,
                monthly_mass_messages=plan.quota,
                posts=[
                    CalendarPostOut(
                        at=p.at,
                        local_at=f"{p.local:%Y-%m-%dT%H:%M}",
                        name=p.name,
                        status=p.status,
                        marketing=p.marketing,
                        broadcast_id=p.broadcast_id,
                        schedule_id=p.schedule_id,
                    )
                    for p in plan.posts
                ],
                direct_messages=[
                    DirectDayOut(day=d.day, schedule_id=d.schedule_id, name=d.name, count=d.count)
                    for d in plan.direct
                ],
            )
            for plan in found.communities
        ],
        warnings=[
            QuotaWarningOut(
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
        direct_broadcasts=[
            DirectBroadcastOut(
                broadcast_id=b.id, name=b.name, at=b.send_at, status=b.status, marketing=b.marketing
            )
            for b in found.direct_broadcasts
        ],
    )
