"""Refunds: whole orders or some units of some lines.

One refund at a time per order: the order row is locked first, so a hundred concurrent refunds of
one order refund it once and the others find nothing left. Amounts are cumulative shares of each
line's total (the last unit takes the rest), so partial refunds add up exactly to what was paid.
Points follow the money: redeemed points go back in proportion, earned points are taken back in
proportion (what the member already spent is recorded as a shortfall), and the refunded spend no
longer counts toward levels. Each refund is an ``order_events`` row (kind ``refunded``) that other
domains (commission) read.

Locks follow ``kit.locks``: the order, then the products put back, then the member's account,
then the coupons a full refund gives back (merchant setting ``coupon_returned_on_refund``).

Everything happens in the refund's transaction except the provider's part. A provider whose calls
leave the process (Stripe) gets a durable request on the refund row (``provider_status``
pending), which the worker performs after commit with the idempotency key ``refund:<refund id>``
and retries with backoff (``orders/tasks.py``); the manual provider completes at once.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.campaigns.bundles import stock as bundle_stock
from tribekit.campaigns.coupons import service as coupon_book
from tribekit.catalog.repository import Products
from tribekit.kit import clock
from tribekit.kit.errors import Conflict, ValidationFailed, field_error
from tribekit.kit.ids import new_id
from tribekit.models.enums import OrderStatus, PaymentStatus, RefundProviderStatus
from tribekit.models.orders import Order, OrderLine, Payment, Refund, RefundLine
from tribekit.orders import events
from tribekit.orders.payments import PaymentProvider, RefundRequest
from tribekit.orders.payments.providers import provider as provider_named
from tribekit.orders.repository import PAID_STATES, Orders, checkout_settings
from tribekit.orders.schemas import RefundIn
from tribekit.tenancy.principal import Tenant

from . import lifecycle


class NothingToRefund(Conflict):
    code = "nothing_to_refund"
    title = "Nothing is left to refund"


@dataclass(frozen=True)
class _Part:
    line: OrderLine
    quantity: int
    amount: int


def _share(total: int, part: int, whole: int) -> int:
    return total * part // whole if whole else 0


def _parts(lines: list[OrderLine], data: RefundIn) -> list[_Part]:
    by_id = {line.id: line for line in lines}
    if data.lines is None:
        wanted = {line.id: line.quantity - line.refunded_quantity for line in lines}
    else:
        wanted = {}
        for index, item in enumerate(data.lines):
            if item.line_id not in by_id:
                raise field_error(f"lines.{index}.line_id", "not a line of this order")
            if item.line_id in wanted:
                raise field_error(f"lines.{index}.line_id", "this line is listed twice")
            wanted[item.line_id] = item.quantity
    parts = []
    for line_id, quantity in wanted.items():
        line = by_id[line_id]
        left = line.quantity - line.refunded_quantity
        if quantity > left:
            raise ValidationFailed(
                f"line {line.line_no} ({line.name}): {left} of {line.quantity} left to refund, "
                f"{quantity} asked"
            )
        if quantity == 0:
            continue
        after = line.refunded_quantity + quantity
        amount = _share(line.total, after, line.quantity) - line.refunded_amount
        parts.append(_Part(line, quantity, amount))
    return parts


async def refund(
    session: AsyncSession,
    tenant: Tenant,
    providers: Mapping[str, PaymentProvider],
    order_id: uuid.UUID,
    data: RefundIn,
    *,
    actor: str,
    key: str,
) -> Refund:
    """Refund ``data`` of the order: stock, points and spend now; the money through the
    provider (at once for manual payments, by the worker after commit for Stripe). ``key`` is
    the caller's idempotency key (the API stores the answer under it); the provider's key is
    the refund's own id."""
    orders = Orders(session, tenant.id)
    order = await orders.get_or_404(order_id, for_update=True)
    if order.status not in PAID_STATES:
        if order.status == "refunded":
            raise NothingToRefund(f"order {order.number} is refunded in full already")
        raise lifecycle.WrongOrderState(
            f"order {order.number} is {order.status}; only paid orders are refunded",
            order_status=order.status,
        )
    lines = await orders.lines(order.id)
    parts = _parts(lines, data)
    if not parts:
        raise NothingToRefund(f"nothing is left to refund on order {order.number}")
    return await _refund_parts(
        session,
        tenant,
        providers,
        order,
        lines,
        parts,
        restock=data.restock,
        reason=data.reason,
        actor=actor,
    )


async def refund_amount(
    session: AsyncSession,
    tenant: Tenant,
    providers: Mapping[str, PaymentProvider],
    order_id: uuid.UUID,
    line_id: uuid.UUID,
    amount: int,
    *,
    reason: str,
    actor: str,
) -> Refund:
    """Give back ``amount`` of what one line cost, keeping its units (a price settled lower
    afterwards: a group buy's team reached a cheaper tier). Points and spend follow the money
    as for any refund; the money goes back through the provider the same way."""
    orders = Orders(session, tenant.id)
    order = await orders.get_or_404(order_id, for_update=True)
    if order.status not in PAID_STATES:
        raise lifecycle.WrongOrderState(
            f"order {order.number} is {order.status}; only paid orders are refunded",
            order_status=order.status,
        )
    lines = await orders.lines(order.id)
    line = next((each for each in lines if each.id == line_id), None)
    if line is None:
        raise field_error("line_id", "not a line of this order")
    left = line.total - line.refunded_amount
    if not 0 < amount <= left:
        raise NothingToRefund(
            f"line {line.line_no} ({line.name}) has {left} left to refund; {amount} asked"
        )
    return await _refund_parts(
        session,
        tenant,
        providers,
        order,
        lines,
        [_Part(line, 0, amount)],
        restock=False,
        reason=reason,
        actor=actor,
    )


async def _refund_parts(
    session: AsyncSession,
    tenant: Tenant,
    providers: Mapping[str, PaymentProvider],
    order: Order,
    lines: list[OrderLine],
    parts: list[_Part],
    *,
    restock: bool,
    reason: str,
    actor: str,
) -> Refund:
    orders = Orders(session, tenant.id)
    for part in parts:
        part.line.refunded_quantity += part.quantity
        part.line.refunded_amount += part.amount
    everything = all(line.refunded_quantity == line.quantity for line in lines)
    goods = sum(part.amount for part in parts)
    # The last refund also returns the shipping and whatever rounding left over.
    amount = order.total - order.refunded_amount if everything else goods
    refund_row = Refund(
        id=new_id(),
        merchant_id=tenant.id,
        order_id=order.id,
        amount=amount,
        restock=restock,
        reason=reason,
        created_by=actor,
        provider_status=RefundProviderStatus.NOT_NEEDED,
        provider_attempts=0,
    )
    if restock:
        back: Counter[uuid.UUID] = Counter()
        for part in parts:
            back[part.line.product_id] += part.quantity
        back = await bundle_stock.with_parts(session, tenant.id, back)  # a gift pack's parts
        await Products(session, tenant.id).put_back(back)
    await _emit_refunded(session, tenant, order, lines, parts, refund_row, everything)
    await _request_pay_back(session, tenant, providers, order, refund_row)
    order.refunded_amount += amount
    if everything:
        orders.move(order, OrderStatus.REFUNDED)
        # Coupons last, as kit.locks orders them: the uses (and grants) come back where the
        # merchant says so; a partly refunded order keeps them.
        if (await checkout_settings(session, tenant.id)).coupon_returned_on_refund:
            await coupon_book.give_back(session, tenant, order.id)
    session.add(refund_row)
    await session.flush()
    session.add_all(
        RefundLine(
            merchant_id=tenant.id,
            refund_id=refund_row.id,
            order_line_id=part.line.id,
            quantity=part.quantity,
            amount=part.amount,
        )
        for part in parts
    )
    await session.flush()
    return refund_row


async def _emit_refunded(
    session: AsyncSession,
    tenant: Tenant,
    order: Order,
    lines: list[OrderLine],
    parts: list[_Part],
    refund_row: Refund,
    everything: bool,
) -> None:
    """Emit ``OrderRefunded``. Its subscribers do what the refund does to the member's
    membership (``membership/subscribers.py``: redeemed points back, earned points taken back,
    the refunded spend no longer counted), locking the member's account after the order and the
    products, and reply with the points moved, which the refund shows."""
    earlier = await Orders(session, tenant.id).refunds(order.id)
    emission = await events.emit(
        session,
        tenant,
        order.id,
        events.OrderRefunded(
            member_id=order.member_id,
            refund_id=refund_row.id,
            order_number=order.number,
            refunded=refund_row.amount,
            goods=refund_row.amount - (order.shipping if everything else 0),
            full=everything,
            lines={str(part.line.id): part.quantity for part in parts},
            goods_paid=sum(line.total for line in lines),
            goods_refunded=sum(line.refunded_amount for line in lines),
            points_hold_entry_id=order.points_hold_entry_id,
            points_redeemed=order.points_redeemed,
            points_discount=order.points_discount,
            points_discount_refunded=sum(
                _share(line.points_discount, line.refunded_quantity, line.quantity)
                for line in lines
            ),
            points_returned_before=sum(r.points_returned for r in earlier),
            points_reversed_before=sum(r.points_reversed for r in earlier),
        ),
        actor=refund_row.created_by,
    )
    points = emission.reply(events.RefundPoints) or events.RefundPoints(returned=0, reversed=0)
    refund_row.points_returned = points.returned
    refund_row.points_reversed = points.reversed


async def _request_pay_back(
    session: AsyncSession,
    tenant: Tenant,
    providers: Mapping[str, PaymentProvider],
    order: Order,
    refund_row: Refund,
) -> None:
    """Give the money back through the provider that took it. The manual provider completes at
    once (staff hand it back); an external one gets a pending request for the worker."""
    paid = [
        p
        for p in await Orders(session, tenant.id).payments(order.id)
        if p.status == PaymentStatus.SUCCEEDED
    ]
    if not paid:
        return  # nothing was paid through a provider (a free order): nothing to give back
    payment = paid[-1]
    refund_row.payment_id = payment.id
    if refund_row.amount == 0:
        return
    provider = provider_named(providers, payment.provider)  # 422 when no longer configured
    if provider.external:
        refund_row.provider_status = RefundProviderStatus.PENDING
        refund_row.provider_next_at = clock.now()
        return
    done = await provider.refund(pay_back_request(refund_row, payment))
    refund_row.provider_ref = done.provider_ref
    refund_row.provider_status = RefundProviderStatus.SUCCEEDED
    refund_row.provider_attempts = 1
    refund_row.provider_settled_at = clock.now()


def pay_back_request(refund_row: Refund, payment: Payment) -> RefundRequest:
    """What the provider is asked; the key is the refund's, so every attempt is the same refund."""
    return RefundRequest(
        provider_ref=payment.provider_ref or "",
        captured_ref=payment.captured_ref,
        amount=refund_row.amount,
        currency=payment.currency,
        reason=refund_row.reason,
        idempotency_key=f"refund:{refund_row.id}",
    )


async def of_order(session: AsyncSession, tenant: Tenant, order: Order) -> list[Refund]:
    return await Orders(session, tenant.id).refunds(order.id)
