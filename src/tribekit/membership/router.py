"""HTTP routes of the membership program: the merchant's configuration under
``/membership``, and each member's points, level, benefits and plans under ``/members/{id}``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Response, status

from tribekit.api.deps import (
    API_PREFIX,
    CurrentMember,
    CurrentPrincipal,
    Cursor,
    DbSession,
    IdempotencyKey,
    PageLimit,
    authorized,
)
from tribekit.models.membership import (
    Level,
    LevelChange,
    LevelPrice,
    MembershipPlan,
    MembershipSettings,
    PlanSubscription,
    PointsEntry,
)
from tribekit.tenancy.permissions import Permission
from tribekit.tenancy.principal import Tenant

from . import card, config, service
from .ledger import Posting
from .schemas import (
    BenefitOut,
    BenefitsOut,
    CardLevelOut,
    CardPointsOut,
    EntryOut,
    EntryPage,
    Expiry,
    LevelAssign,
    LevelChangeOut,
    LevelChangePage,
    LevelCreate,
    LevelList,
    LevelOut,
    LevelPriceIn,
    LevelPriceList,
    LevelPriceOut,
    LevelRef,
    LevelUpdate,
    MemberCardOut,
    MemberLevelOut,
    MembershipSettingsOut,
    MembershipSettingsUpdate,
    MyPointsOut,
    NextLevelOut,
    PlanCreate,
    PlanGrant,
    PlanList,
    PlanOnSaleOut,
    PlanOut,
    PlanPurchaseOut,
    PlanUpdate,
    PointsAdjust,
    PointsBalanceOut,
    PointsRedeem,
    PointsReverse,
    ProfileOut,
    ProgressStepOut,
    SubscriptionList,
    SubscriptionOut,
)

config_router = APIRouter(prefix=f"{API_PREFIX}/membership", tags=["membership"])
member_router = APIRouter(prefix=f"{API_PREFIX}/members/{{member_id}}", tags=["points and levels"])
me_router = APIRouter(prefix=f"{API_PREFIX}/me", tags=["member self-service"])

Reader = Annotated[Tenant, authorized(Permission.MEMBERSHIP_READ)]
Configurer = Annotated[Tenant, authorized(Permission.MEMBERSHIP_CONFIGURE)]
PointsWriter = Annotated[Tenant, authorized(Permission.POINTS_WRITE)]
REPLAYED = "Idempotent-Replayed"


def _settings_out(settings: MembershipSettings) -> MembershipSettingsOut:
    return MembershipSettingsOut.model_validate(settings, from_attributes=True)


def _level_out(level: Level) -> LevelOut:
    return LevelOut.model_validate(level, from_attributes=True)


def _ref(level: Level | None) -> LevelRef | None:
    return None if level is None else LevelRef(id=level.id, name=level.name, rank=level.rank)


def _level_price_out(row: LevelPrice, warnings: list[str]) -> LevelPriceOut:
    return LevelPriceOut(
        level_id=row.level_id, product_id=row.product_id, price=row.price, warnings=warnings
    )


def _entry_out(entry: PointsEntry) -> EntryOut:
    return EntryOut.model_validate(entry, from_attributes=True)


def _posted(posting: Posting, response: Response) -> EntryOut:
    if posting.replayed:
        response.headers[REPLAYED] = "true"
    return _entry_out(posting.entry)


# ---- configuration ---------------------------------------------------------------------------


@config_router.get("/settings", summary="Points rules and level review policy")
async def get_settings(session: DbSession, tenant: Reader) -> MembershipSettingsOut:
    return _settings_out(await config.membership_settings(session, tenant))


@config_router.patch("/settings", summary="Change points rules or the level review policy")
async def update_settings(
    data: MembershipSettingsUpdate, session: DbSession, tenant: Configurer
) -> MembershipSettingsOut:
    return _settings_out(await config.update_membership_settings(session, tenant, data))


@config_router.get("/levels", summary="Levels, lowest rank first")
async def list_levels(session: DbSession, tenant: Reader) -> LevelList:
    return LevelList(items=[_level_out(lvl) for lvl in await config.list_levels(session, tenant)])


@config_router.post("/levels", status_code=status.HTTP_201_CREATED, summary="Add a level")
async def create_level(data: LevelCreate, session: DbSession, tenant: Configurer) -> LevelOut:
    return _level_out(await config.create_level(session, tenant, data))


@config_router.get("/levels/{level_id}", summary="One level")
async def get_level(level_id: uuid.UUID, session: DbSession, tenant: Reader) -> LevelOut:
    return _level_out(await config.get_level(session, tenant, level_id))


@config_router.patch("/levels/{level_id}", summary="Change a level's rule or benefits")
async def update_level(
    level_id: uuid.UUID, data: LevelUpdate, session: DbSession, tenant: Configurer
) -> LevelOut:
    return _level_out(await config.update_level(session, tenant, level_id, data))


@config_router.get("/levels/{level_id}/prices", summary="The level's product prices")
async def list_level_prices(
    level_id: uuid.UUID, session: DbSession, tenant: Reader
) -> LevelPriceList:
    rows = await config.list_level_prices(session, tenant, level_id)
    warnings = await config.level_price_warnings(session, tenant, rows)
    return LevelPriceList(items=[_level_price_out(r, warnings[r.product_id]) for r in rows])


@config_router.put("/levels/{level_id}/prices/{product_id}", summary="Set a level price")
async def set_level_price(
    level_id: uuid.UUID,
    product_id: uuid.UUID,
    data: LevelPriceIn,
    session: DbSession,
    tenant: Configurer,
) -> LevelPriceOut:
    row = await config.set_level_price(session, tenant, level_id, product_id, data.price)
    warnings = await config.level_price_warnings(session, tenant, [row])
    return _level_price_out(row, warnings[row.product_id])


@config_router.delete(
    "/levels/{level_id}/prices/{product_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a level price",
)
async def delete_level_price(
    level_id: uuid.UUID, product_id: uuid.UUID, session: DbSession, tenant: Configurer
) -> None:
    await config.delete_level_price(session, tenant, level_id, product_id)


@config_router.get("/plans", summary="Paid membership plans")
async def list_plans(session: DbSession, tenant: Reader) -> PlanList:
    rows = await config.list_plans(session, tenant)
    return PlanList(items=[PlanOut.model_validate(p, from_attributes=True) for p in rows])


@config_router.post("/plans", status_code=status.HTTP_201_CREATED, summary="Add a paid plan")
async def create_plan(data: PlanCreate, session: DbSession, tenant: Configurer) -> PlanOut:
    plan = await config.create_plan(session, tenant, data)
    return PlanOut.model_validate(plan, from_attributes=True)


@config_router.patch("/plans/{plan_id}", summary="Change a plan (later purchases only)")
async def update_plan(
    plan_id: uuid.UUID, data: PlanUpdate, session: DbSession, tenant: Configurer
) -> PlanOut:
    plan = await config.update_plan(session, tenant, plan_id, data)
    return PlanOut.model_validate(plan, from_attributes=True)


# ---- one member --------------------------------------------------------------------------------


@member_router.get("/points", summary="Points balance and upcoming expiries")
async def points_balance(
    member_id: uuid.UUID, session: DbSession, tenant: Reader
) -> PointsBalanceOut:
    balance, expiring = await service.points_balance(session, tenant, member_id)
    return PointsBalanceOut(
        member_id=member_id,
        balance=balance,
        expiring=[Expiry(expires_at=at, points=points) for at, points in expiring],
    )


@member_router.get("/points/entries", summary="Points history, newest first")
async def points_history(
    member_id: uuid.UUID,
    session: DbSession,
    tenant: Reader,
    limit: PageLimit = 50,
    cursor: Cursor = None,
) -> EntryPage:
    page = await service.points_history(session, tenant, member_id, limit=limit, cursor=cursor)
    return EntryPage(items=[_entry_out(e) for e in page.items], next_cursor=page.next_cursor)


@member_router.post(
    "/points/adjustments",
    status_code=status.HTTP_201_CREATED,
    summary="Add or remove points by hand, with a reason",
)
async def adjust_points(
    member_id: uuid.UUID,
    data: PointsAdjust,
    key: IdempotencyKey,
    response: Response,
    session: DbSession,
    tenant: PointsWriter,
    principal: CurrentPrincipal,
) -> EntryOut:
    posting = await service.adjust_points(
        session, tenant, member_id, data, key=key, actor=principal.actor
    )
    return _posted(posting, response)


@member_router.post(
    "/points/redemptions", status_code=status.HTTP_201_CREATED, summary="Spend points on a reward"
)
async def redeem_points(
    member_id: uuid.UUID,
    data: PointsRedeem,
    key: IdempotencyKey,
    response: Response,
    session: DbSession,
    tenant: PointsWriter,
    principal: CurrentPrincipal,
) -> EntryOut:
    posting = await service.redeem_points(
        session, tenant, member_id, data, key=key, actor=principal.actor
    )
    return _posted(posting, response)


@member_router.post(
    "/points/entries/{entry_id}/reversal",
    status_code=status.HTTP_201_CREATED,
    summary="Reverse an earn or spend entry",
)
async def reverse_entry(
    member_id: uuid.UUID,
    entry_id: uuid.UUID,
    data: PointsReverse,
    key: IdempotencyKey,
    response: Response,
    session: DbSession,
    tenant: PointsWriter,
    principal: CurrentPrincipal,
) -> EntryOut:
    posting = await service.reverse_entry(
        session, tenant, member_id, entry_id, data, key=key, actor=principal.actor
    )
    return _posted(posting, response)


def _standing_out(member_id: uuid.UUID, standing: service.Standing) -> MemberLevelOut:
    return MemberLevelOut(
        member_id=member_id,
        level=_ref(standing.level),
        since=standing.since,
        review_at=standing.review_at,
        qualified_level=_ref(standing.qualified),
        why=standing.why,
        next_level=_ref(standing.next_level),
        next_level_needs=standing.next_level_needs,
    )


@member_router.get("/level", summary="The member's level, why, and what the next one needs")
async def member_level(member_id: uuid.UUID, session: DbSession, tenant: Reader) -> MemberLevelOut:
    return _standing_out(member_id, await service.member_level(session, tenant, member_id))


@member_router.put("/level", summary="Put the member at a level by hand, with a reason")
async def assign_level(
    member_id: uuid.UUID,
    data: LevelAssign,
    session: DbSession,
    tenant: PointsWriter,
    principal: CurrentPrincipal,
) -> MemberLevelOut:
    standing = await service.assign_level(session, tenant, member_id, data, principal.actor)
    return _standing_out(member_id, standing)


@member_router.get("/level-changes", summary="Every level change of the member, newest first")
async def level_changes(
    member_id: uuid.UUID,
    session: DbSession,
    tenant: Reader,
    limit: PageLimit = 50,
    cursor: Cursor = None,
) -> LevelChangePage:
    page, levels = await service.member_level_changes(
        session, tenant, member_id, limit=limit, cursor=cursor
    )

    def out(change: LevelChange) -> LevelChangeOut:
        return LevelChangeOut(
            id=change.id,
            member_id=change.member_id,
            from_level=_ref(levels.get(change.from_level_id) if change.from_level_id else None),
            to_level=_ref(levels.get(change.to_level_id) if change.to_level_id else None),
            reason=change.reason,
            detail=change.detail,
            actor=change.actor,
            at=change.at,
        )

    return LevelChangePage(items=[out(c) for c in page.items], next_cursor=page.next_cursor)


@member_router.get("/benefits", summary="Which benefits apply to the member, and why")
async def member_benefits(member_id: uuid.UUID, session: DbSession, tenant: Reader) -> BenefitsOut:
    level, benefits = await service.member_benefits(session, tenant, member_id)
    return BenefitsOut(
        member_id=member_id,
        level=_ref(level),
        benefits=[BenefitOut(**vars(b)) for b in benefits],
    )


@member_router.get("/plans", summary="The member's paid plans, latest end first")
async def member_plans(
    member_id: uuid.UUID, session: DbSession, tenant: Reader
) -> SubscriptionList:
    rows = await service.member_plans(session, tenant, member_id)
    return SubscriptionList(
        items=[
            SubscriptionOut(
                id=s.id,
                plan_id=p.id,
                plan_name=p.name,
                status=s.status,
                starts_at=s.starts_at,
                ends_at=s.ends_at,
            )
            for s, p in rows
        ]
    )


@member_router.post(
    "/plans",
    status_code=status.HTTP_201_CREATED,
    summary="Record a plan paid outside Tribekit (cash, bank transfer)",
)
async def grant_plan(
    member_id: uuid.UUID,
    data: PlanGrant,
    key: IdempotencyKey,
    response: Response,
    session: DbSession,
    tenant: PointsWriter,
    principal: CurrentPrincipal,
) -> PlanPurchaseOut:
    bought = await service.grant_plan(
        session, tenant, member_id, data, key=key, actor=principal.actor
    )
    if bought.replayed:
        response.headers[REPLAYED] = "true"
    plan = bought.plan
    return PlanPurchaseOut(
        id=bought.purchase.id,
        member_id=member_id,
        plan_id=plan.id,
        plan_name=plan.name,
        subscription_id=bought.subscription.id,
        price=bought.purchase.price,
        period_start=bought.purchase.period_start,
        period_end=bought.purchase.period_end,
        at=bought.purchase.at,
    )


# ---- the member's own card ----------------------------------------------------------------------


def _subscriptions(rows: list[tuple[PlanSubscription, MembershipPlan]]) -> list[SubscriptionOut]:
    return [
        SubscriptionOut(
            id=s.id,
            plan_id=p.id,
            plan_name=p.name,
            status=s.status,
            starts_at=s.starts_at,
            ends_at=s.ends_at,
        )
        for s, p in rows
    ]


def _next_out(progress: card.Progress | None) -> NextLevelOut | None:
    if progress is None:
        return None
    ref = _ref(progress.level)
    assert ref is not None
    return NextLevelOut(
        level=ref,
        rule=progress.rule,
        progress_bps=progress.progress_bps,
        steps=[
            ProgressStepOut(
                metric=step.metric,
                window=step.window,
                have=step.have,
                need=step.need,
                remaining=max(0, step.need - step.have),
                met=step.met,
                progress_bps=step.progress_bps,
                text=step.text,
            )
            for step in progress.steps
        ],
    )


@me_router.get("", summary="My member card: profile, level and the next one, points, benefits")
async def my_card(session: DbSession, member: CurrentMember) -> MemberCardOut:
    got = await card.card(session, member.tenant, member.member_id)
    standing = got.standing
    return MemberCardOut(
        member_id=got.member_id,
        currency=got.currency,
        profile=ProfileOut(**vars(got.profile)),
        level=CardLevelOut(
            level=_ref(standing.level),
            since=standing.since,
            review_at=standing.review_at,
            why=standing.why,
            next=_next_out(got.progress),
        ),
        points=CardPointsOut(
            balance=got.balance,
            expiring=[Expiry(expires_at=at, points=points) for at, points in got.expiring],
        ),
        benefits=[BenefitOut(**vars(b)) for b in got.benefits],
        plans=_subscriptions(got.plans),
        plans_on_sale=[
            PlanOnSaleOut(
                plan_id=sale.plan.id,
                product_id=sale.product_id,
                name=sale.plan.name,
                price=sale.plan.price,
                duration_months=sale.plan.duration_months,
                level=LevelRef(id=sale.level.id, name=sale.level.name, rank=sale.level.rank),
            )
            for sale in got.plans_on_sale
        ],
    )


@me_router.get("/points", summary="My points: balance, upcoming expiries, history newest first")
async def my_points(
    session: DbSession, member: CurrentMember, limit: PageLimit = 50, cursor: Cursor = None
) -> MyPointsOut:
    balance, expiring, page = await card.points(
        session, member.tenant, member.member_id, limit=limit, cursor=cursor
    )
    return MyPointsOut(
        balance=balance,
        expiring=[Expiry(expires_at=at, points=points) for at, points in expiring],
        items=[_entry_out(e) for e in page.items],
        next_cursor=page.next_cursor,
    )
