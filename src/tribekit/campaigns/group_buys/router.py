"""HTTP routes of group buys: staff make, list, read (teams with sizes and tiers) and cancel
them (``campaigns:manage``, ``campaigns:read``); a member (member session, like every ``/me``
route) joins a team, leaves it and follows its progress, and pays the join's order through
the ordinary payments; anyone with a team's share code reads its progress."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse

from tribekit.api.deps import (
    API_PREFIX,
    CurrentMember,
    CurrentPrincipal,
    Cursor,
    DbSession,
    IdempotencyKey,
    PageLimit,
    State,
    authorized,
)
from tribekit.api.idempotency import once
from tribekit.api.problems import problem_doc
from tribekit.tenancy.permissions import Permission
from tribekit.tenancy.principal import Tenant

from . import joining, service
from .joining import TeamProgress
from .schemas import (
    GroupBuyCreate,
    GroupBuyOut,
    GroupBuyPage,
    GroupBuyStatus,
    JoinedOut,
    JoinIn,
    ParticipantOut,
    ProgressOut,
    TeamOut,
    TierOut,
)

router = APIRouter(prefix=API_PREFIX)

Reader = Annotated[Tenant, authorized(Permission.CAMPAIGNS_READ)]
Manager = Annotated[Tenant, authorized(Permission.CAMPAIGNS_MANAGE)]
TAGS: list[str | Any] = ["group buys"]

_CLOSED: dict[int | str, dict[str, Any]] = {
    409: problem_doc("`group_buy_closed`: the group buy is closed or cancelled already")
}
_JOIN_REFUSED: dict[int | str, dict[str, Any]] = {
    409: problem_doc(
        "`group_buy_not_open` (not started, past its deadline, closed), `team_full`, "
        "`team_closed`, `already_in_team`, `group_buy_limit_reached` (the member's portions), "
        "`not_enough_stock`"
    )
}
_LEAVE_REFUSED: dict[int | str, dict[str, Any]] = {
    409: problem_doc(
        "`team_closed` (the deadline passed), `leave_would_raise_price` (join price "
        "'reached': the team would fall to a tier dearer than another member paid)"
    )
}


def _group_buy_out(view: service.GroupBuyView) -> GroupBuyOut:
    group_buy = view.group_buy
    fields = {n: getattr(group_buy, n) for n in GroupBuyOut.model_fields if n != "teams"}
    teams = (
        [
            TeamOut.model_validate(
                {
                    **{n: getattr(t.team, n) for n in TeamOut.model_fields if n != "paid_portions"},
                    "paid_portions": t.paid_portions,
                }
            )
            for t in view.teams
        ]
        if view.teams is not None
        else None
    )
    return GroupBuyOut.model_validate({**fields, "teams": teams})


def _progress_out(found: TeamProgress, public_url: str | None) -> ProgressOut:
    team = found.team

    def tier(t: Any) -> TierOut | None:
        return TierOut(size=t.size, unit_price=t.unit_price) if t is not None else None

    return ProgressOut(
        group_buy_id=found.group_buy.id,
        group_buy_name=found.group_buy.name,
        team_id=team.id,
        code=team.code,
        status=team.status,
        members=list(found.members),
        paid_portions=found.paid_portions,
        seats_taken=found.seats_taken,
        max_size=team.max_size,
        current_tier=tier(found.current),
        unit_price=found.unit_price,
        next_tier=tier(found.next),
        needed_for_next=found.needed_for_next,
        deadline=found.group_buy.deadline,
        seconds_left=found.seconds_left,
        share_path=found.share_path,
        share_url=public_url.rstrip("/") + found.share_path if public_url else None,
    )


# ---- staff ------------------------------------------------------------------------------------


@router.post(
    "/group-buys", tags=TAGS, status_code=status.HTTP_201_CREATED, summary="Make a group buy"
)
async def create_group_buy(
    data: GroupBuyCreate, session: DbSession, principal: CurrentPrincipal
) -> GroupBuyOut:
    tenant = principal.require(Permission.CAMPAIGNS_MANAGE)
    made = await service.create(session, tenant, data.spec(), created_by=principal.actor)
    return _group_buy_out(service.GroupBuyView(made, []))


@router.get("/group-buys", tags=TAGS, summary="Group buys, newest first")
async def list_group_buys(
    session: DbSession,
    tenant: Reader,
    status: GroupBuyStatus | None = None,
    limit: PageLimit = 50,
    cursor: Cursor = None,
) -> GroupBuyPage:
    page = await service.page(session, tenant, status=status, limit=limit, cursor=cursor)
    return GroupBuyPage(
        items=[_group_buy_out(service.GroupBuyView(g)) for g in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/group-buys/{group_buy_id}", tags=TAGS, summary="One group buy and its teams")
async def get_group_buy(group_buy_id: uuid.UUID, session: DbSession, tenant: Reader) -> GroupBuyOut:
    return _group_buy_out(await service.get(session, tenant, group_buy_id))


@router.post(
    "/group-buys/{group_buy_id}/cancel",
    tags=TAGS,
    summary="Cancel a group buy: every team fails, paid members are refunded in full",
    responses=_CLOSED,
)
async def cancel_group_buy(
    group_buy_id: uuid.UUID, session: DbSession, tenant: Manager
) -> GroupBuyOut:
    await service.cancel(session, tenant, group_buy_id)
    return _group_buy_out(await service.get(session, tenant, group_buy_id))


@router.get("/group-buy-teams/{team_id}", tags=TAGS, summary="A team's progress (staff)")
async def get_team_progress(
    team_id: uuid.UUID, session: DbSession, tenant: Reader, state: State
) -> ProgressOut:
    found = await joining.progress(session, tenant, team_id)
    return _progress_out(found, state.settings.public_url)


# ---- anyone with the share link ---------------------------------------------------------------


@router.get(
    "/group-buy-teams/by-code/{code}",
    tags=TAGS,
    summary="A team's progress by its share code: paid members, tier, price, time left",
)
async def team_progress_by_code(code: str, session: DbSession, state: State) -> ProgressOut:
    found = await joining.public_progress(session, code)
    return _progress_out(found, state.settings.public_url)


# ---- members ----------------------------------------------------------------------------------


@router.get("/me/group-buys", tags=TAGS, summary="Group buys I can join now")
async def my_open_group_buys(session: DbSession, member: CurrentMember) -> GroupBuyPage:
    found = await joining.list_open(session, member.tenant)
    return GroupBuyPage(
        items=[_group_buy_out(service.GroupBuyView(g)) for g in found], next_cursor=None
    )


@router.post(
    "/me/group-buys/{group_buy_id}/join",
    tags=TAGS,
    status_code=status.HTTP_201_CREATED,
    response_model=JoinedOut,
    summary="Join a team (by its code), open one, or join my address's team; then pay",
    responses=_JOIN_REFUSED,
)
async def join_group_buy(
    group_buy_id: uuid.UUID,
    data: JoinIn,
    session: DbSession,
    member: CurrentMember,
    key: IdempotencyKey,
    state: State,
) -> JoinedOut | JSONResponse:
    tenant = member.tenant

    async def work() -> JoinedOut:
        joined = await joining.join(
            session, tenant, member.member_id, group_buy_id, data, actor=member.actor
        )
        found = await joining.progress_of(
            session, await service.get_group_buy(session, tenant, group_buy_id), joined.team
        )
        order = joined.order.order
        return JoinedOut(
            participant_id=joined.participant.id,
            team=_progress_out(found, state.settings.public_url),
            order_id=order.id,
            order_number=order.number,
            unit_price=joined.participant.unit_price_paid,
            total=order.total,
            pay_path=f"{API_PREFIX}/me/orders/{order.id}/payments",
        )

    return await once(
        session,
        merchant_id=tenant.id,
        caller=member.actor,
        key=key,
        operation=f"group_buy_join:{group_buy_id}",
        request=data.model_dump(mode="json"),
        work=work,
        status_code=status.HTTP_201_CREATED,
    )


@router.post(
    "/me/group-buys/{group_buy_id}/leave",
    tags=TAGS,
    summary="Leave my team before the deadline: refunded in full (or my unpaid order cancelled)",
    responses=_LEAVE_REFUSED,
)
async def leave_group_buy(
    group_buy_id: uuid.UUID, session: DbSession, member: CurrentMember, state: State
) -> ParticipantOut:
    left = await joining.leave(
        session, member.tenant, state.providers, member.member_id, group_buy_id, actor=member.actor
    )
    return ParticipantOut.model_validate(left, from_attributes=True)


@router.get("/me/group-buys/{group_buy_id}/team", tags=TAGS, summary="My team's progress")
async def my_group_buy_team(
    group_buy_id: uuid.UUID, session: DbSession, member: CurrentMember, state: State
) -> ProgressOut:
    found = await joining.my_team(session, member.tenant, member.member_id, group_buy_id)
    return _progress_out(found, state.settings.public_url)
