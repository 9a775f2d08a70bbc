"""What membership does when an order event is emitted, in the same transaction: a paid order
counts toward levels and earns points, and grants the paid plans it bought; a refund gives
redeemed points back and takes earned points back in proportion, its spend no longer counts,
and refunded plan periods are taken back. Listed in ``tribekit/subscribers.py``. Each locks the
member's account (``Accounts.lock``), after the order and its products."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.models.catalog import Product
from tribekit.models.enums import ProductKind
from tribekit.models.membership import MembershipPlan, PlanPurchase
from tribekit.models.orders import OrderLine
from tribekit.orders.events import Emitted, OrderPaid, OrderRefunded, RefundPoints
from tribekit.tenancy.principal import Tenant

from . import plans, service
from .ledger import NotReversible, PointsLedger
from .repository import Entries


async def points_on_payment(
    session: AsyncSession, tenant: Tenant, event: Emitted[OrderPaid]
) -> None:
    """Count the paid goods toward levels and post the points they earn, once per order."""
    paid = event.payload
    await service.record_purchase(
        session,
        tenant,
        paid.member_id,
        ref=f"order:{event.order_id}",
        amount=paid.goods,
        at=paid.paid_at,
    )


def _share(total: int, part: int, whole: int) -> int:
    return total * part // whole if whole else 0


async def points_on_refund(
    session: AsyncSession, tenant: Tenant, event: Emitted[OrderRefunded]
) -> RefundPoints:
    """Points follow the money: redeemed points go back and earned points are taken back in
    proportion to what is refunded so far (what the member already spent is recorded as a
    shortfall; what expired meanwhile cannot be taken), and the refunded spend (for a whole
    order, the order too) no longer counts toward levels. Once per refund."""
    refund = event.payload
    reason = f"refund on order {refund.order_number}"
    returned = 0
    if refund.points_hold_entry_id is not None and refund.points_discount:
        due = (
            refund.points_redeemed
            if refund.full
            else _share(
                refund.points_redeemed, refund.points_discount_refunded, refund.points_discount
            )
        )
        returned = await _reverse(
            session,
            tenant,
            refund.points_hold_entry_id,
            due - refund.points_returned_before,
            key=f"refund:{refund.refund_id}:points-back",
            reason=reason,
            actor=event.actor,
        )
    taken = 0
    earned = await Entries(session, tenant.id).by_key(f"purchase:order:{event.order_id}")
    if earned is not None:
        due = (
            earned.points
            if refund.full
            else _share(earned.points, refund.goods_refunded, refund.goods_paid)
        )
        taken = await _reverse(
            session,
            tenant,
            earned.id,
            due - refund.points_reversed_before,
            key=f"refund:{refund.refund_id}:points-earned",
            reason=reason,
            actor=event.actor,
        )
    await service.record_purchase(
        session,
        tenant,
        refund.member_id,
        ref=f"refund:{refund.refund_id}",
        amount=-refund.goods,
        orders=-1 if refund.full else 0,
    )
    return RefundPoints(returned=returned, reversed=taken)


async def _reverse(
    session: AsyncSession,
    tenant: Tenant,
    entry_id: uuid.UUID,
    points: int,
    *,
    key: str,
    reason: str,
    actor: str,
) -> int:
    """Reverse up to ``points`` of an entry; how many were reversed (points that expired in
    the meantime cannot be; what the member already spent is recorded as a shortfall)."""
    if points <= 0:
        return 0
    try:
        posting = await PointsLedger(session, tenant).reverse(
            entry_id, key=key, reason=reason, actor=actor, points=points, at_most=True
        )
    except NotReversible:
        return 0
    return abs(posting.entry.points) + posting.entry.shortfall


def _plan_ref(line_id: uuid.UUID | str) -> str:
    return f"order-line:{line_id}"


async def plans_on_payment(
    session: AsyncSession, tenant: Tenant, event: Emitted[OrderPaid]
) -> None:
    """Each plan line of the paid order grants its plan: as many periods as units bought, at
    what the line cost after discounts. Once per line (the purchase's ``ref``)."""
    stmt = (
        select(OrderLine, MembershipPlan)
        .join(Product, Product.id == OrderLine.product_id)
        .join(MembershipPlan, MembershipPlan.id == Product.plan_id)
        .where(
            OrderLine.merchant_id == tenant.id,
            OrderLine.order_id == event.order_id,
            OrderLine.kind == ProductKind.PLAN,
        )
        .order_by(OrderLine.line_no)
    )
    for line, plan in (await session.execute(stmt)).all():
        await plans.grant(
            session,
            tenant,
            event.payload.member_id,
            plan,
            ref=_plan_ref(line.id),
            actor=event.actor,
            note=f"order line {line.line_no}",
            periods=line.quantity,
            price=line.total,
        )


async def plans_on_refund(
    session: AsyncSession, tenant: Tenant, event: Emitted[OrderRefunded]
) -> None:
    """Refunded units of a plan line take that many periods back."""
    refund = event.payload
    units = {_plan_ref(line_id): n for line_id, n in refund.lines.items() if n > 0}
    if not units:
        return
    bought = await session.scalars(
        select(PlanPurchase)
        .where(PlanPurchase.merchant_id == tenant.id, PlanPurchase.ref.in_(sorted(units)))
        .order_by(PlanPurchase.ref)
    )
    for purchase in bought.all():
        await plans.take_back(
            session,
            tenant,
            purchase,
            units[purchase.ref],
            reason=f"refund on order {refund.order_number}",
            actor=event.actor,
        )
