"""Membership rules as the faces and other domains call them: what happens to one member
(points postings, level, benefits, plans); the merchant's configuration is in ``config.py``.

Posting points from another domain (an order paid, a referral rewarded, a check-in) goes through
``earn_points`` or ``record_purchase``, so that a member who qualifies goes up a level in the
same transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock
from tribekit.kit.errors import NotFound, field_error
from tribekit.kit.idempotency import check_replay, fingerprint, insert_keyed
from tribekit.kit.money import Money, minor_digits
from tribekit.kit.pagination import Page, paginate
from tribekit.members.repository import Members
from tribekit.models.members import Member
from tribekit.models.membership import (
    Level,
    LevelChange,
    LevelPrice,
    MemberPurchase,
    MembershipAccount,
    MembershipPlan,
    PlanSubscription,
    PointsEntry,
    PointsLot,
)
from tribekit.tenancy.principal import Tenant

from . import plans as plan_rules
from .ledger import PointsLedger, Posting, Source
from .levels import Ladder, LevelEngine
from .repository import Entries, Levels, Plans, level_changes, settings_of
from .rules import Facts, explain, points_for_amount
from .schemas import LevelAssign, PlanGrant, PointsAdjust, PointsRedeem, PointsReverse

# ---- one member ------------------------------------------------------------------------------


async def _current_member(session: AsyncSession, tenant: Tenant, member_id: uuid.UUID) -> None:
    if await Members(session, tenant.id).get_current(member_id) is None:
        raise NotFound(f"no member with id {member_id} at this merchant")


def api_key(key: str) -> str:
    """Keys sent by API callers live apart from the keys the domains derive from events."""
    return f"api:{key}"


async def earn_points(
    session: AsyncSession,
    tenant: Tenant,
    member_id: uuid.UUID,
    points: int,
    *,
    source: Source,
    key: str,
    ref: str | None = None,
    reason: str | None = None,
    actor: str | None = None,
) -> Posting:
    """Post earned points once per ``key`` and raise the member's level if they now qualify."""
    posting = await PointsLedger(session, tenant).earn(
        member_id, points, source=source, key=key, ref=ref, reason=reason, actor=actor
    )
    if not posting.replayed:
        await LevelEngine(session, tenant).upgrade(member_id)
    return posting


def _figures(member_id: uuid.UUID, amount: int, orders: int) -> str:
    return fingerprint("purchase", member=member_id, amount=amount, orders=orders)


@dataclass(frozen=True)
class PurchaseRecorded:
    purchase: MemberPurchase
    points: Posting | None


async def record_purchase(
    session: AsyncSession,
    tenant: Tenant,
    member_id: uuid.UUID,
    *,
    ref: str,
    amount: int,
    orders: int = 1,
    promotion_bps: int = 10_000,
    at: datetime | None = None,
) -> PurchaseRecorded:
    """Count a paid order (or, with a negative amount, a refund) toward levels, and post the
    points it earns under the merchant's rules and the member's level multiplier. Once per
    ``ref``. Called by the orders domain."""
    engine = LevelEngine(session, tenant)
    existing = await session.scalar(
        select(MemberPurchase).where(
            MemberPurchase.merchant_id == tenant.id, MemberPurchase.ref == ref
        )
    )
    if existing is not None:
        # The purchase row is its own record of the request: the same ref, the same figures.
        stored = (existing.member_id, existing.amount, existing.orders)
        check_replay(_figures(*stored), _figures(member_id, amount, orders), ref)
        posted = await Entries(session, tenant.id).by_key(f"purchase:{ref}")
        return PurchaseRecorded(existing, Posting(posted, True) if posted else None)
    account = await engine.accounts.lock(member_id)
    purchase = MemberPurchase(
        merchant_id=tenant.id,
        member_id=member_id,
        ref=ref,
        amount=amount,
        orders=orders,
        at=at or clock.now(),
    )
    await insert_keyed(session, ref, purchase)
    settings = await settings_of(session, tenant.id)
    level = (await engine.ladder()).by_id(account.level_id)
    points = points_for_amount(
        amount,
        minor_digits(tenant.currency),
        points_per_unit=settings.points_per_unit,
        rounding=settings.points_rounding,
        multiplier_bps=level.points_multiplier_bps if level else 10_000,
        promotion_bps=promotion_bps,
    )
    posting = None
    if points > 0:
        posting = await PointsLedger(session, tenant).earn(
            member_id,
            points,
            source=Source.ORDER,
            key=f"purchase:{ref}",
            ref=ref,
            reason=f"{Money(amount, tenant.currency)} spent",
        )
    await engine.upgrade(member_id)
    return PurchaseRecorded(purchase, posting)


async def points_balance(
    session: AsyncSession, tenant: Tenant, member_id: uuid.UUID, *, upcoming: int = 5
) -> tuple[int, list[tuple[datetime, int]]]:
    """The balance and the next ``upcoming`` expiry dates with the points expiring then."""
    await _current_member(session, tenant, member_id)
    account = await session.get(MembershipAccount, member_id)
    balance = account.balance if account and account.merchant_id == tenant.id else 0
    stmt = (
        select(PointsLot.expires_at, func.sum(PointsLot.remaining))
        .where(
            PointsLot.merchant_id == tenant.id,
            PointsLot.member_id == member_id,
            PointsLot.remaining > 0,
            PointsLot.expires_at.is_not(None),
        )
        .group_by(PointsLot.expires_at)
        .order_by(PointsLot.expires_at)
        .limit(upcoming)
    )
    rows = (await session.execute(stmt)).all()
    return balance, [(at, int(points)) for at, points in rows if at is not None]


async def points_history(
    session: AsyncSession,
    tenant: Tenant,
    member_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
) -> Page[PointsEntry]:
    await _current_member(session, tenant, member_id)
    stmt = Entries(session, tenant.id).of_member(member_id)
    return await paginate(session, stmt, key=PointsEntry.id, limit=limit, cursor=cursor)


async def adjust_points(
    session: AsyncSession,
    tenant: Tenant,
    member_id: uuid.UUID,
    data: PointsAdjust,
    *,
    key: str,
    actor: str,
) -> Posting:
    """Staff add (earn, source manual) or remove (spend, source manual) points, with a reason."""
    if data.points == 0:
        raise field_error("points", "must not be zero; send a positive or negative number")
    await _current_member(session, tenant, member_id)
    if data.points > 0:
        return await earn_points(
            session,
            tenant,
            member_id,
            data.points,
            source=Source.MANUAL,
            key=api_key(key),
            reason=data.reason,
            actor=actor,
        )
    return await PointsLedger(session, tenant).spend(
        member_id,
        -data.points,
        source=Source.MANUAL,
        key=api_key(key),
        reason=data.reason,
        actor=actor,
    )


async def redeem_points(
    session: AsyncSession,
    tenant: Tenant,
    member_id: uuid.UUID,
    data: PointsRedeem,
    *,
    key: str,
    actor: str,
) -> Posting:
    await _current_member(session, tenant, member_id)
    return await PointsLedger(session, tenant).spend(
        member_id,
        data.points,
        source=Source.REWARD,
        key=api_key(key),
        ref=data.reward,
        actor=actor,
    )


async def reverse_entry(
    session: AsyncSession,
    tenant: Tenant,
    member_id: uuid.UUID,
    entry_id: uuid.UUID,
    data: PointsReverse,
    *,
    key: str,
    actor: str,
) -> Posting:
    await _current_member(session, tenant, member_id)
    entry = await Entries(session, tenant.id).get(entry_id)
    if entry is None or entry.member_id != member_id:
        raise NotFound(f"member {member_id} has no points entry {entry_id}")
    return await PointsLedger(session, tenant).reverse(
        entry_id, key=api_key(key), reason=data.reason, actor=actor
    )


@dataclass(frozen=True)
class Standing:
    level: Level | None
    since: datetime | None
    review_at: datetime | None
    qualified: Level | None
    why: str
    next_level: Level | None
    next_level_needs: str | None
    ladder: Ladder | None = None  # what the standing was read from, for callers that go on
    facts: Facts | None = None


async def member_level(session: AsyncSession, tenant: Tenant, member_id: uuid.UUID) -> Standing:
    await _current_member(session, tenant, member_id)
    engine = LevelEngine(session, tenant)
    ladder, level, facts = await engine.standing(member_id)
    account = await engine.accounts.get(member_id)
    qualified = ladder.qualified(facts)
    higher = [lvl for lvl in ladder.levels if level is None or lvl.rank > level.rank]
    next_level = higher[0] if higher else None
    return Standing(
        level=level,
        since=account.level_since if account else None,
        review_at=account.review_at if account else None,
        qualified=qualified,
        why=ladder.why(level, facts)
        if level is qualified
        else f"held until the period ends; activity now earns "
        f"{qualified.name if qualified else 'no level'}: {ladder.why(qualified, facts)}",
        next_level=next_level,
        next_level_needs=explain(ladder.rules[next_level.id], facts) if next_level else None,
        ladder=ladder,
        facts=facts,
    )


async def assign_level(
    session: AsyncSession, tenant: Tenant, member_id: uuid.UUID, data: LevelAssign, actor: str
) -> Standing:
    await _current_member(session, tenant, member_id)
    level = await Levels(session, tenant.id).get(data.level_id)
    if level is None:
        raise field_error("level_id", "no such level at this merchant")
    if data.hold_until is not None and data.hold_until <= clock.now():
        raise field_error("hold_until", "must be in the future")
    await LevelEngine(session, tenant).assign(
        member_id, level, reason=data.reason, actor=actor, hold_until=data.hold_until
    )
    return await member_level(session, tenant, member_id)


async def member_level_changes(
    session: AsyncSession, tenant: Tenant, member_id: uuid.UUID, *, limit: int, cursor: str | None
) -> tuple[Page[LevelChange], dict[uuid.UUID, Level]]:
    await _current_member(session, tenant, member_id)
    page = await paginate(
        session, level_changes(tenant.id, member_id), key=LevelChange.id, limit=limit, cursor=cursor
    )
    levels = {lvl.id: lvl for lvl in await Levels(session, tenant.id).ranked()}
    return page, levels


@dataclass(frozen=True)
class Benefit:
    benefit: str
    applies: bool
    value: int | bool | str | None
    why: str


def _pct(bps: int) -> str:
    return f"{bps / 100:g} %"


async def member_benefits(
    session: AsyncSession, tenant: Tenant, member_id: uuid.UUID, standing: Standing | None = None
) -> tuple[Level | None, list[Benefit]]:
    """Every benefit the pricing engine and the robot consult, whether it applies and why
    (``standing``: the member's, when the caller has read it already)."""
    standing = standing or await member_level(session, tenant, member_id)
    level = standing.level
    if level is None:
        return None, []
    at = f"{level.name} level ({standing.why})"
    prices = await session.scalar(
        select(func.count())
        .select_from(LevelPrice)
        .where(LevelPrice.merchant_id == tenant.id, LevelPrice.level_id == level.id)
    )
    settings = await settings_of(session, tenant.id)
    birthday = await session.scalar(
        select(Member.birthday).where(Member.merchant_id == tenant.id, Member.id == member_id)
    )
    earn_rate = f"{settings.points_per_unit} point(s) per 1 {tenant.currency}"
    multiplier = level.points_multiplier_bps
    coupon, birthday_points = level.birthday_coupon, level.birthday_points
    birthday_gift = f"{birthday_points} points" if birthday_points else None
    if coupon:
        birthday_gift = f"coupon {coupon}" + (f" and {birthday_gift}" if birthday_gift else "")

    def benefit(name: str, applies: bool, value: Any, yes: str, no: str) -> Benefit:
        return Benefit(name, applies, value, f"{yes}: {at}" if applies else f"{no} at {level.name}")

    return level, [
        benefit(
            "discount",
            level.discount_bps > 0,
            level.discount_bps,
            f"{_pct(level.discount_bps)} off regular prices",
            "no discount on regular prices",
        ),
        benefit(
            "points_multiplier",
            multiplier != 10_000,
            multiplier,
            f"points earned x{multiplier / 10_000:g} ({earn_rate})",
            f"points earned at the standard rate ({earn_rate})",
        ),
        benefit(
            "level_prices",
            bool(prices),
            int(prices or 0),
            f"level prices on {prices} product(s)",
            "no level prices",
        ),
        benefit(
            "level_only_access",
            level.rank > 0,
            level.rank,
            f"may join campaigns and events open to rank {level.rank} and above",
            "open campaigns and events only",
        ),
        benefit(
            "free_shipping",
            level.free_shipping,
            level.free_shipping,
            "free shipping on deliveries",
            "shipping is charged",
        ),
        benefit(
            "birthday_gift",
            birthday_gift is not None,
            birthday_gift,
            f"{birthday_gift} on the member's birthday",
            "no birthday gift",
        )
        if birthday_gift is None or birthday is not None
        else Benefit(
            "birthday_gift",
            False,
            birthday_gift,
            f"{birthday_gift} on a birthday at {level.name}, but the member's birthday is not "
            "known; add it to receive the gift",
        ),
        benefit(
            "event_discount",
            level.event_discount_bps > 0,
            level.event_discount_bps,
            f"{_pct(level.event_discount_bps)} off event tickets",
            "event tickets at full price",
        ),
    ]


async def member_plans(
    session: AsyncSession, tenant: Tenant, member_id: uuid.UUID
) -> list[tuple[PlanSubscription, MembershipPlan]]:
    await _current_member(session, tenant, member_id)
    stmt = (
        select(PlanSubscription, MembershipPlan)
        .join(MembershipPlan, MembershipPlan.id == PlanSubscription.plan_id)
        .where(PlanSubscription.merchant_id == tenant.id, PlanSubscription.member_id == member_id)
        .order_by(PlanSubscription.ends_at.desc())
    )
    return [(s, p) for s, p in (await session.execute(stmt)).all()]


async def grant_plan(
    session: AsyncSession,
    tenant: Tenant,
    member_id: uuid.UUID,
    data: PlanGrant,
    *,
    key: str,
    actor: str,
) -> plan_rules.Purchase:
    """Staff record a plan paid outside Tribekit (cash in the shop, bank transfer)."""
    await _current_member(session, tenant, member_id)
    plan = await Plans(session, tenant.id).get(data.plan_id)
    if plan is None:
        raise field_error("plan_id", "no such plan at this merchant")
    if not plan.active:
        raise field_error("plan_id", f"plan {plan.name!r} is not on sale; activate it first")
    return await plan_rules.grant(
        session, tenant, member_id, plan, ref=api_key(key), actor=actor, note=data.note
    )


async def merge_members(
    session: AsyncSession,
    tenant: Tenant,
    source_id: uuid.UUID,
    target_id: uuid.UUID,
    actor: str | None,
) -> None:
    """The person's membership follows them when a duplicate (``source``) is merged into
    ``target``: the points move as transfer entries (each lot keeps its expiry; the ledger
    itself never moves), purchases and plans are re-pointed, and the target takes the higher of
    the two levels until the source's period would have ended."""
    engine = LevelEngine(session, tenant)
    accounts = engine.accounts
    for member_id in sorted((source_id, target_id)):
        await accounts.lock(member_id)
    ledger = PointsLedger(session, tenant)
    await ledger.expire_due(source_id)
    moving = [
        (lot.entry_id, lot.remaining, lot.expires_at) for lot in await accounts.lots_of(source_id)
    ]
    if moving:
        await ledger.spend(
            source_id,
            sum(points for _, points, _ in moving),
            source=Source.MERGE,
            key=f"merge-out:{source_id}",
            reason=f"merged into member {target_id}",
            actor=actor,
        )
    for lot_id, points, expires_at in moving:
        await ledger.earn(
            target_id,
            points,
            source=Source.MERGE,
            key=f"merge-in:{source_id}:{lot_id}",
            reason=f"from member {source_id}, merged into this one",
            actor=actor,
            expires_at=expires_at,
        )
    await accounts.move_purchases_and_plans(source_id, target_id)
    ladder = await engine.ladder()
    source_account, target_account = await accounts.get(source_id), await accounts.get(target_id)
    source_level = ladder.by_id(source_account.level_id if source_account else None)
    target_level = ladder.by_id(target_account.level_id if target_account else None)
    if source_level is not None and (target_level is None or source_level.rank > target_level.rank):
        await engine.assign(
            target_id,
            source_level,
            reason=f"merged with member {source_id}, who held {source_level.name}",
            actor=actor or "merge",
            hold_until=source_account.review_at if source_account else None,
        )
    await engine.upgrade(target_id)
