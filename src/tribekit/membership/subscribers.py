"""What membership does when an order event is emitted, in the same transaction: a paid order
counts toward levels and earns points; a refund gives redeemed points back and takes earned
points back in proportion, and its spend no longer counts. Listed in ``tribekit/subscribers.py``.
Both lock the member's account (``Accounts.lock``), after the order and its products."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.orders.events import Emitted, OrderPaid, OrderRefunded, RefundPoints
from tribekit.tenancy.principal import Tenant

from . import service
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
