"""Paid membership plans: a purchase grants (or extends) a subscription, which grants a level.

Each purchase is posted once per business event (``ref``: the order line that paid it, or the
staff request's idempotency key). Buying while a subscription runs extends it from its end;
a refund of an order line takes its periods back (``take_back``). The
worker reminds members before a plan ends (the robot sends the reminder) and ends it when due,
returning the member to the level their activity qualifies for.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock
from tribekit.kit.db import add_unique
from tribekit.kit.errors import IdempotencyInProgress
from tribekit.kit.idempotency import check_replay, fingerprint
from tribekit.members.repository import Members
from tribekit.models.membership import MembershipPlan, PlanPurchase, PlanSubscription
from tribekit.tenancy.principal import Tenant

from .levels import LevelEngine
from .repository import Accounts, Subscriptions, settings_of


@dataclass(frozen=True)
class Purchase:
    purchase: PlanPurchase
    subscription: PlanSubscription
    plan: MembershipPlan
    replayed: bool = False


async def grant(
    session: AsyncSession,
    tenant: Tenant,
    member_id: uuid.UUID,
    plan: MembershipPlan,
    *,
    ref: str,
    actor: str | None,
    note: str | None = None,
    periods: int = 1,
    price: int | None = None,
) -> Purchase:
    """Record ``periods`` paid periods of ``plan`` for the member (``price``: what they paid,
    by default the plan's price for each) and raise their level if the plan grants a higher
    one."""
    request_hash = fingerprint("plan", member=member_id, plan=plan.id, note=note, periods=periods)
    subscriptions = Subscriptions(session, tenant.id)
    existing = await session.scalar(
        select(PlanPurchase).where(PlanPurchase.merchant_id == tenant.id, PlanPurchase.ref == ref)
    )
    if existing is not None:
        check_replay(existing.request_hash, request_hash, ref)
        subscription = await subscriptions.get_or_404(existing.subscription_id)
        return Purchase(existing, subscription, plan, replayed=True)

    await Accounts(session, tenant.id).lock(member_id)
    now = clock.now()
    running = next(
        (s for s in await subscriptions.active_of(member_id) if s.plan_id == plan.id), None
    )
    months = plan.duration_months * periods
    if running is not None and running.ends_at > now:
        subscription, start = running, running.ends_at
        subscription.ends_at = clock.add_months(start, months)
        subscription.reminded_at = None
    else:
        start = now
        subscription = subscriptions.add(
            PlanSubscription(
                member_id=member_id,
                plan_id=plan.id,
                status="active",
                starts_at=now,
                ends_at=clock.add_months(now, months),
            )
        )
    await _remind_before_end(session, tenant, subscription)
    await session.flush()
    purchase = PlanPurchase(
        merchant_id=tenant.id,
        subscription_id=subscription.id,
        member_id=member_id,
        ref=ref,
        request_hash=request_hash,
        price=plan.price * periods if price is None else price,
        periods=periods,
        refunded_periods=0,
        period_start=start,
        period_end=subscription.ends_at,
        actor=actor,
        at=now,
    )
    await add_unique(
        session,
        f"another purchase with reference {ref!r} is being recorded; retry to get its result",
        purchase,
        error=IdempotencyInProgress,
    )
    Members(session, tenant.id).record(
        member_id,
        "plan.purchased",
        actor,
        plan=plan.name,
        ends_at=subscription.ends_at.isoformat(),
        note=note,
    )
    await LevelEngine(session, tenant).upgrade(member_id, reason="plan_granted", actor=actor)
    return Purchase(purchase, subscription, plan)


async def _remind_before_end(
    session: AsyncSession, tenant: Tenant, subscription: PlanSubscription
) -> None:
    settings = await settings_of(session, tenant.id)
    subscription.remind_at = subscription.ends_at - timedelta(days=settings.renewal_reminder_days)


def _months(purchase: PlanPurchase) -> int:
    """The calendar months a purchase added (its periods at the plan's duration then)."""
    start, end = purchase.period_start, purchase.period_end
    return (end.year - start.year) * 12 + end.month - start.month


async def take_back(
    session: AsyncSession,
    tenant: Tenant,
    purchase: PlanPurchase,
    periods: int,
    *,
    reason: str,
    actor: str | None,
) -> int:
    """Take back up to ``periods`` refunded periods of a purchase: the subscription ends that
    many of the purchase's periods (calendar months) earlier, and if that is now past, it ends
    and the member's level is settled. Returns the periods taken
    back; never more than were bought. The caller holds the order's lock."""
    await Accounts(session, tenant.id).lock(purchase.member_id)
    await session.refresh(purchase)
    taken = min(periods, purchase.periods - purchase.refunded_periods)
    if taken <= 0:
        return 0
    subscription = await Subscriptions(session, tenant.id).get_or_404(purchase.subscription_id)
    await session.refresh(subscription)
    subscription.ends_at = clock.add_months(
        subscription.ends_at, -_months(purchase) // purchase.periods * taken
    )
    purchase.refunded_periods += taken
    plan = await session.get(MembershipPlan, subscription.plan_id)
    now = clock.now()
    ended = subscription.status == "active" and subscription.ends_at <= now
    if ended:
        subscription.status = "refunded"
    await _remind_before_end(session, tenant, subscription)
    Members(session, tenant.id).record(
        purchase.member_id,
        "plan.refunded",
        actor,
        plan=plan.name if plan else None,
        periods=taken,
        ends_at=subscription.ends_at.isoformat(),
        reason=reason,
    )
    await session.flush()
    if ended:
        await LevelEngine(session, tenant).settle(purchase.member_id, reason="plan_refunded")
    return taken


async def end_if_due(session: AsyncSession, tenant: Tenant, subscription_id: uuid.UUID) -> bool:
    """End the subscription if it is still active and past its end; settle the member's level."""
    subscription = await Subscriptions(session, tenant.id).get_or_404(subscription_id)
    await Accounts(session, tenant.id).lock(subscription.member_id)
    await session.refresh(subscription)
    if subscription.status != "active" or subscription.ends_at > clock.now():
        return False  # renewed or ended meanwhile
    subscription.status = "expired"
    plan = await session.get(MembershipPlan, subscription.plan_id)
    Members(session, tenant.id).record(
        subscription.member_id, "plan.expired", None, plan=plan.name if plan else None
    )
    await session.flush()
    await LevelEngine(session, tenant).settle(subscription.member_id, reason="plan_expired")
    return True


async def remind_if_due(session: AsyncSession, tenant: Tenant, subscription_id: uuid.UUID) -> bool:
    """Put a renewal reminder on the member's timeline, once per paid period."""
    subscription = await Subscriptions(session, tenant.id).get_or_404(subscription_id)
    await Accounts(session, tenant.id).lock(subscription.member_id)
    await session.refresh(subscription)
    now = clock.now()
    due = subscription.remind_at is not None and subscription.remind_at <= now
    if subscription.status != "active" or subscription.reminded_at is not None or not due:
        return False
    subscription.reminded_at = now
    plan = await session.get(MembershipPlan, subscription.plan_id)
    Members(session, tenant.id).record(
        subscription.member_id,
        "plan.renewal_due",
        None,
        plan=plan.name if plan else None,
        ends_at=subscription.ends_at.isoformat(),
    )
    await session.flush()
    return True
