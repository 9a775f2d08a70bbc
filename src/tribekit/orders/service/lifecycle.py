"""An order's life after it is placed: paid, fulfilled, completed; or cancelled / expired.

Every step is a conditional status update. Whoever wins the update does what the step entails
(points for the purchase, stock and points given back), so racing requests, webhooks and
workers never do it twice. Closing an unpaid order releases its reservations exactly once.

Locks follow ``kit.locks``: the order (its status update), then a flash sale it holds units of
(``campaigns/flash/settle.py``: a flash order's units go back to the sale, not to stock), then
its products, the member's account, its coupons. A batch of orders closed in one transaction
(the expiry sweep) locks what all of them release up front (``lock_releases``), rank by rank.
"""

from __future__ import annotations

import itertools
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.campaigns.bundles import stock as bundle_stock
from tribekit.campaigns.coupons import service as coupon_book
from tribekit.campaigns.coupons.repository import Coupons
from tribekit.campaigns.flash import orders as flash_orders
from tribekit.campaigns.flash import settle as flash_settle
from tribekit.campaigns.group_buys import settle as group_settle
from tribekit.catalog.repository import Products
from tribekit.kit import clock
from tribekit.kit.errors import Conflict, NotFound
from tribekit.kit.pagination import Page, paginate
from tribekit.membership.ledger import PointsLedger
from tribekit.membership.repository import Accounts
from tribekit.models.coupons import CouponRedemption
from tribekit.models.enums import OrderStatus, PaymentStatus
from tribekit.models.orders import Order, OrderLine, Payment
from tribekit.orders import events
from tribekit.orders.repository import PAID_STATES, OrderFilters, Orders, Payments
from tribekit.tenancy.principal import Reach, Tenant


class WrongOrderState(Conflict):
    code = "order_state"
    title = "The order is not in a state that allows this"


def _refuse(order: Order, action: str, hint: str = "") -> WrongOrderState:
    return WrongOrderState(
        f"order {order.number} is {order.status}; it cannot be {action}"
        + (f"; {hint}" if hint else ""),
        order_status=order.status,
    )


async def get_order(
    session: AsyncSession, tenant: Tenant, order_id: uuid.UUID, *, reach: Reach | None = None
) -> Order:
    """One order; with a leader's ``reach``, only one attributed to their communities (any
    other is answered as a missing id)."""
    order = await Orders(session, tenant.id).get_or_404(order_id)
    if reach is not None and not reach.sees(order.community_id):
        raise NotFound(f"no order with id {order_id} at this merchant")
    return order


async def mark_paid(
    session: AsyncSession, tenant: Tenant, order: Order, payment: Payment, *, actor: str
) -> bool:
    """Settle ``payment`` as succeeded and the order as paid, and emit ``OrderPaid`` (whose
    subscribers count the purchase toward levels and post its points). False if the order was
    no longer waiting for payment."""
    orders = Orders(session, tenant.id)
    now = clock.now()
    if not await orders.transition(
        order, [OrderStatus.PLACED], OrderStatus.PAID, paid_at=now, expires_at=None
    ):
        return False
    await Payments(session, tenant.id).settle(
        payment, PaymentStatus.SUCCEEDED, settled_at=now, confirmed_by=actor
    )
    if order.campaign_id is not None:
        await flash_settle.paid(session, order)
    await events.emit(
        session,
        tenant,
        order.id,
        events.OrderPaid(
            member_id=order.member_id,
            payment_id=payment.id,
            total=order.total,
            goods=order.total - order.shipping,
            paid_at=now,
        ),
        actor=actor,
    )
    return True


async def release(session: AsyncSession, tenant: Tenant, order: Order, *, actor: str) -> None:
    """Give back what an unpaid order held: its stock, its points, its coupon uses. Called only
    by the request that moved the order to cancelled or expired, hence exactly once."""
    if order.campaign_id is not None:  # first: the sale's rank comes before the products'
        await flash_settle.release(session, order)
        await group_settle.release(session, order)  # a group buy's seat, once
    lines = await Orders(session, tenant.id).lines(order.id)
    back: Counter[uuid.UUID] = Counter()
    for line in lines:
        if line.price_source != flash_orders.PRICE_SOURCE:  # the sale's units go to the sale
            back[line.product_id] += line.quantity
    back = await bundle_stock.with_parts(session, tenant.id, back)  # a gift pack's parts too
    # An order placed before its products' stock was tracked took none: none goes back.
    await Products(session, tenant.id).put_back(back, placed_at=order.placed_at)
    if order.points_hold_entry_id is not None:
        await PointsLedger(session, tenant).reverse(
            order.points_hold_entry_id,
            key=f"order:{order.id}:points-back",
            reason=f"order {order.number} closed unpaid",
            actor=actor,
        )
    await coupon_book.give_back(session, tenant, order.id)


def _runs(
    rows: list[tuple[uuid.UUID, uuid.UUID]],
) -> Iterator[tuple[uuid.UUID, list[uuid.UUID]]]:
    """(id, merchant id) pairs in id order, as runs of one merchant: ids in global order."""
    ordered = sorted(set(rows))
    for merchant_id, run in itertools.groupby(ordered, key=lambda row: row[1]):
        yield merchant_id, [row_id for row_id, _ in run]


async def lock_releases(session: AsyncSession, orders: list[Order]) -> None:
    """Lock, up front and in the order of ``kit.locks``, every row that releasing ``orders``
    will lock: their products, the accounts of members holding points on them, their coupons.
    The orders themselves are locked already (claimed); they may be of several merchants, so
    each rank is locked in one global id order."""
    ids = [order.id for order in orders]
    if not ids:
        return
    campaign_orders = [o.id for o in orders if o.campaign_id is not None]
    await group_settle.lock_teams(session, campaign_orders)  # the sales' rank too: see there
    await flash_settle.lock_sales(session, campaign_orders)
    products = await session.execute(
        select(OrderLine.product_id, OrderLine.merchant_id).where(OrderLine.order_id.in_(ids))
    )
    found = [(p, m) for p, m in products.all()]
    for merchant_id, product_ids in _runs(found):  # a gift pack's parts go back with it
        parts = await bundle_stock.parts_of(session, merchant_id, product_ids)
        found += [(part, merchant_id) for each in parts.values() for part, _ in each]
    for merchant_id, product_ids in _runs(found):
        await Products(session, merchant_id).lock_in_order(product_ids)
    holders = [(o.member_id, o.merchant_id) for o in orders if o.points_hold_entry_id is not None]
    for merchant_id, member_ids in _runs(holders):
        for member_id in member_ids:
            await Accounts(session, merchant_id).lock(member_id)
    coupons = await session.execute(
        select(CouponRedemption.coupon_id, CouponRedemption.merchant_id).where(
            CouponRedemption.order_id.in_(ids), CouponRedemption.released.is_(False)
        )
    )
    for merchant_id, coupon_ids in _runs([(c, m) for c, m in coupons.all()]):
        await Coupons(session, merchant_id).lock_in_order(coupon_ids)


async def _close(
    session: AsyncSession, tenant: Tenant, order: Order, to: OrderStatus, reason: str, actor: str
) -> bool:
    orders = Orders(session, tenant.id)
    if not await orders.transition(
        order, [OrderStatus.PLACED], to, closed_at=clock.now(), close_reason=reason, expires_at=None
    ):
        return False
    await release(session, tenant, order, actor=actor)
    closed = events.OrderCancelled if to == OrderStatus.CANCELLED else events.OrderExpired
    await events.emit(
        session, tenant, order.id, closed(member_id=order.member_id, reason=reason), actor=actor
    )
    return True


async def cancel(
    session: AsyncSession,
    tenant: Tenant,
    order_id: uuid.UUID,
    *,
    reason: str,
    actor: str,
    member_id: uuid.UUID | None = None,
) -> Order:
    """Cancel an unpaid order (a paid one is refunded instead). ``member_id``: only theirs."""
    orders = Orders(session, tenant.id)
    order = await orders.get_or_404(order_id)
    if member_id is not None and order.member_id != member_id:
        raise NotFound(f"no order with id {order_id} at this merchant")
    if not await _close(session, tenant, order, OrderStatus.CANCELLED, reason, actor):
        await orders.reload(order)
        hint = "refund it instead" if order.status in PAID_STATES else ""
        raise _refuse(order, "cancelled", hint)
    return order


async def expire(session: AsyncSession, tenant: Tenant, order: Order) -> bool:
    """Close an order whose time to pay ran out (the worker calls this)."""
    return await _close(session, tenant, order, OrderStatus.EXPIRED, "not paid in time", "system")


async def fulfil(
    session: AsyncSession, tenant: Tenant, order_id: uuid.UUID, *, actor: str
) -> Order:
    orders = Orders(session, tenant.id)
    order = await orders.get_or_404(order_id)
    if not await orders.transition(
        order, [OrderStatus.PAID], OrderStatus.FULFILLED, fulfilled_at=clock.now()
    ):
        await orders.reload(order)
        raise _refuse(order, "fulfilled", "only paid orders are fulfilled")
    await events.emit(
        session, tenant, order.id, events.OrderFulfilled(member_id=order.member_id), actor=actor
    )
    return order


async def complete(
    session: AsyncSession, tenant: Tenant, order_id: uuid.UUID, *, actor: str
) -> Order:
    orders = Orders(session, tenant.id)
    order = await orders.get_or_404(order_id)
    if not await orders.transition(
        order,
        [OrderStatus.PAID, OrderStatus.FULFILLED],
        OrderStatus.COMPLETED,
        completed_at=clock.now(),
    ):
        await orders.reload(order)
        raise _refuse(order, "completed", "only paid or fulfilled orders are completed")
    await events.emit(
        session, tenant, order.id, events.OrderCompleted(member_id=order.member_id), actor=actor
    )
    return order


@dataclass(frozen=True)
class OrderDetail:
    order: Order
    lines: list[OrderLine]
    payments: list[Payment]


async def detail(session: AsyncSession, tenant: Tenant, order: Order) -> OrderDetail:
    orders = Orders(session, tenant.id)
    return OrderDetail(order, await orders.lines(order.id), await orders.payments(order.id))


async def member_order(
    session: AsyncSession, tenant: Tenant, order_id: uuid.UUID, member_id: uuid.UUID
) -> Order:
    """The member's own order; somebody else's is as unknown as one that does not exist."""
    order = await Orders(session, tenant.id).get(order_id)
    if order is None or order.member_id != member_id:
        raise NotFound(f"no order with id {order_id} at this merchant")
    return order


async def list_orders(
    session: AsyncSession,
    tenant: Tenant,
    filters: OrderFilters,
    *,
    limit: int,
    cursor: str | None,
    reach: Reach | None = None,
) -> Page[Order]:
    """Orders matching ``filters``; with a leader's ``reach``, only those of their communities."""
    if reach is not None and reach.community_ids is not None:
        filters = replace(filters, within=reach.community_ids)
    stmt = Orders(session, tenant.id).filtered(filters)
    return await paginate(session, stmt, key=Order.id, limit=limit, cursor=cursor)
