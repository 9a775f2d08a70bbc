"""Payments: starting one with a provider, staff confirming manual ones, provider webhooks.

A webhook event is stored once per (provider, event id) before it is acted on, in the same
transaction: a replayed event finds its row and changes nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.campaigns.flash import settle as flash_settle
from tribekit.kit import clock
from tribekit.kit.db import add_unique, outside_transaction
from tribekit.kit.errors import Conflict, NotFound
from tribekit.models.enums import OrderStatus, PaymentStatus
from tribekit.models.orders import Order, Payment, PaymentEvent
from tribekit.models.tenancy import Merchant
from tribekit.orders import events
from tribekit.orders.payments import (
    PaymentProvider,
    PaymentRequest,
    ProviderUnavailable,
    WebhookEvent,
    WebhookEventKind,
)
from tribekit.orders.payments.providers import provider as provider_named
from tribekit.orders.repository import Orders, Payments
from tribekit.orders.schemas import RefundIn
from tribekit.tenancy.principal import Tenant

from . import lifecycle, refunds

log = logging.getLogger(__name__)
#: Stripe closes a Checkout page 30 minutes after it opens at the earliest (31: a minute of
#: margin for the request, as the Stripe provider keeps).
PROVIDER_MINIMUM = timedelta(minutes=31)
#: How long a new online payment's page stays open at the least: a few minutes past the
#: provider's minimum, so that a start retried within them sends the provider the very same
#: request (the provider replays a key only for the same parameters).
ONLINE_MINIMUM = PROVIDER_MINIMUM + timedelta(minutes=4)
#: How long an order waits after its payment page closed, for the provider's webhook.
WEBHOOK_GRACE = timedelta(minutes=5)


class PaymentMismatch(Conflict):
    code = "payment_mismatch"
    title = "The payment does not match the order"


def _waiting(order: Order, action: str) -> None:
    if order.status != OrderStatus.PLACED:
        raise lifecycle.WrongOrderState(
            f"order {order.number} is {order.status}; it cannot be {action}",
            order_status=order.status,
        )


async def _order_for(
    session: AsyncSession,
    tenant: Tenant,
    order_id: uuid.UUID,
    member_id: uuid.UUID | None,
    *,
    for_update: bool = False,
) -> Order:
    order = await Orders(session, tenant.id).get_or_404(order_id, for_update=for_update)
    if member_id is not None and order.member_id != member_id:
        raise NotFound(f"no order with id {order_id} at this merchant")
    return order


async def start_payment(
    session: AsyncSession,
    tenant: Tenant,
    providers: Mapping[str, PaymentProvider],
    order_id: uuid.UUID,
    *,
    provider: str,
    actor: str,
    member_id: uuid.UUID | None = None,
    customer_email: str | None = None,
) -> Payment:
    """Ask a provider to collect the order's total. A member gets a pending payment (a Stripe
    Checkout page, or instructions to pay the shop); a pending one is reused, not doubled.

    An external provider is called outside any transaction (``kit.db.outside_transaction``):
    the pending payment commits first, the call follows, and a new transaction records what the
    provider answered. The provider's idempotency key is the payment's id, so a start retried
    after a failure (the payment stays pending without a page) or racing another start of the
    same order reuses the payment and gets the provider's same answer."""
    chosen = provider_named(providers, provider)
    orders = Orders(session, tenant.id)
    # The order first (kit.locks): a concurrent start of the same order waits here, then finds
    # the pending payment this one inserts.
    order = await _order_for(session, tenant, order_id, member_id, for_update=True)
    _waiting(order, "paid")
    payment = next(
        (
            p
            for p in await orders.payments(order.id)
            if p.provider == provider and p.status == PaymentStatus.PENDING
        ),
        None,
    )
    if payment is not None and payment.provider_ref is not None:
        return payment  # started before: the same page (or instructions) again
    reused = payment is not None
    if payment is None:
        payment = Payment(
            merchant_id=tenant.id,
            order_id=order.id,
            provider=provider,
            amount=order.total,
            currency=order.currency,
            status=PaymentStatus.PENDING,
        )
        session.add(payment)
        await session.flush()
    pay_by = await _pay_by(orders, order, reused=reused) if chosen.external else order.expires_at
    request = PaymentRequest(
        payment_id=payment.id,
        order_id=order.id,
        order_number=order.number,
        merchant_id=tenant.id,
        amount=payment.amount,
        currency=payment.currency,
        description=f"Order {order.number}",
        customer_email=customer_email,
        idempotency_key=f"payment:{payment.id}",
        expires_at=pay_by,
    )
    if chosen.external:
        try:
            async with outside_transaction(session):
                started = await chosen.start(request)
        except ProviderUnavailable as exc:
            if exc.kept_under_key:
                await _give_up(session, tenant, payment)
            raise
    else:
        started = await chosen.start(request)  # no I/O (manual): all in one transaction
    # A concurrent start of the same payment may have recorded the provider's answer first
    # (the same answer: the same idempotency key); the first one recorded stays.
    await session.execute(
        update(Payment)
        .where(
            Payment.merchant_id == tenant.id,
            Payment.id == payment.id,
            Payment.provider_ref.is_(None),
        )
        .values(
            provider_ref=started.provider_ref,
            redirect_url=started.redirect_url,
            instructions=started.instructions,
        )
        .execution_options(synchronize_session=False)
    )
    await session.refresh(payment)
    return payment


async def _give_up(session: AsyncSession, tenant: Tenant, payment: Payment) -> None:
    """The provider keeps its failed answer under this payment's key, so every retry with it
    would fail the same way: the payment fails now (committed, though the request then answers
    the error), and the next start makes a new one with a new key."""
    await session.execute(
        update(Payment)
        .where(
            Payment.merchant_id == tenant.id,
            Payment.id == payment.id,
            Payment.status == PaymentStatus.PENDING,
            Payment.provider_ref.is_(None),
        )
        .values(status=PaymentStatus.FAILED, settled_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    async with outside_transaction(session):
        pass  # commits the failed payment before the error rolls the request back


async def _pay_by(orders: Orders, order: Order, *, reused: bool) -> datetime:
    """When the provider's page closes; the order is kept open for it, plus ``WEBHOOK_GRACE``.

    A payment started again (its first start failed, or races this one) sends the close of its
    first start, so the provider can replay that start, unless too little of it is left."""
    now = clock.now()
    if reused and order.expires_at is not None:
        first = order.expires_at - WEBHOOK_GRACE
        if first >= now + PROVIDER_MINIMUM:
            return first
    # A payer on the provider's page is not cut off: the page closes when the order would
    # have, at the earliest after the provider's own minimum, and the order waits for it.
    pay_by = max(order.expires_at or now, now + ONLINE_MINIMUM)
    await orders.keep_open(order, expires_at=pay_by + WEBHOOK_GRACE)
    return pay_by


async def record_manual_payment(
    session: AsyncSession,
    tenant: Tenant,
    order_id: uuid.UUID,
    *,
    reference: str | None,
    actor: str,
) -> Payment:
    """Staff took the money (cash, bank transfer): the order is paid. A pending manual payment
    the member started is the one confirmed."""
    orders = Orders(session, tenant.id)
    # The order first (kit.locks), then its payment row: never the payment before its order.
    order = await orders.get_or_404(order_id, for_update=True)
    _waiting(order, "paid")
    pending = [
        p
        for p in await orders.payments(order.id)
        if p.provider == "manual" and p.status == PaymentStatus.PENDING
    ]
    if pending:
        payment = pending[0]
    else:
        payment = Payment(
            merchant_id=tenant.id,
            order_id=order.id,
            provider="manual",
            amount=order.total,
            currency=order.currency,
            status=PaymentStatus.PENDING,
            provider_ref=None,
        )
        session.add(payment)
    payment.reference = reference
    await session.flush()
    if not await lifecycle.mark_paid(session, tenant, order, payment, actor=actor):
        await orders.reload(order)
        _waiting(order, "paid")
    return payment


async def handle_webhook(
    session: AsyncSession,
    providers: Mapping[str, PaymentProvider],
    provider: str,
    body: bytes,
    headers: Mapping[str, str],
) -> str:
    """Verify and apply one provider event; returns what was done (for the log and the reply)."""
    event = provider_named(providers, provider).parse_webhook(body, headers)
    record = PaymentEvent(
        provider=provider,
        event_id=event.event_id,
        kind=event.kind.value,
        payment_id=event.payment_id,
        outcome="",
        received_at=clock.now(),
    )
    try:
        await add_unique(session, "replayed", record)
    except Conflict:
        return "already processed"
    record.outcome = await _apply(session, providers, provider, event)
    await session.flush()
    log.info(
        "payment webhook",
        extra={"provider": provider, "event": event.event_id, "outcome": record.outcome},
    )
    return record.outcome


async def _apply(
    session: AsyncSession,
    providers: Mapping[str, PaymentProvider],
    provider: str,
    event: WebhookEvent,
) -> str:
    kind = event.kind
    if kind == WebhookEventKind.IGNORED:
        return "ignored"
    payment = await _payment_of(session, provider, event)
    if payment is None:
        return "no such payment"
    merchant = await session.get(Merchant, payment.merchant_id)
    assert merchant is not None
    tenant = Tenant.of(merchant)
    payments = Payments(session, tenant.id)
    if kind == WebhookEventKind.PAYMENT_SUCCEEDED:
        if (event.amount, event.currency) != (payment.amount, payment.currency):
            log.error("paid amount differs from the payment", extra={"payment": str(payment.id)})
            return f"amount {event.amount} {event.currency} does not match the payment"
        payment.captured_ref = event.captured_ref
        order = await Orders(session, tenant.id).get_or_404(payment.order_id)
        if await lifecycle.mark_paid(session, tenant, order, payment, actor=f"provider:{provider}"):
            return "order paid"
        if order.campaign_id is not None:
            late = await _paid_late(session, tenant, providers, order, payment, provider)
            if late is not None:
                return late
        await payments.settle(payment, PaymentStatus.SUCCEEDED, settled_at=clock.now())
        await events.emit(
            session,
            tenant,
            order.id,
            events.PaidWhenClosed(
                member_id=order.member_id, payment_id=payment.id, paid=payment.amount
            ),
            actor=f"provider:{provider}",
        )
        log.error("payment arrived for a closed order", extra={"order": str(order.id)})
        return f"order is {order.status}: the payment needs refunding"
    status = (
        PaymentStatus.FAILED if kind == WebhookEventKind.PAYMENT_FAILED else PaymentStatus.EXPIRED
    )
    await payments.settle(payment, status, settled_at=clock.now())
    return f"payment {status}"


async def _paid_late(
    session: AsyncSession,
    tenant: Tenant,
    providers: Mapping[str, PaymentProvider],
    order: Order,
    payment: Payment,
    provider: str,
) -> str | None:
    """A flash sale's order paid after it closed unpaid: paid now, with its units taken again
    if they are still there (``campaigns/flash/settle.py``), else refunded in full at once.
    None if the order is not a closed flash order (another order closed unpaid)."""
    if not await flash_settle.is_flash_order(session, order):
        return None
    actor = f"provider:{provider}"
    now = clock.now()
    moved = await Orders(session, tenant.id).transition(
        order,
        [OrderStatus.EXPIRED, OrderStatus.CANCELLED],
        OrderStatus.PAID,
        paid_at=now,
        closed_at=None,
        close_reason=None,
    )
    if not moved:
        return None
    honoured = await flash_settle.take_again(session, order)
    await Payments(session, tenant.id).settle(
        payment, PaymentStatus.SUCCEEDED, settled_at=now, confirmed_by=actor
    )
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
    if honoured:
        return "order paid late: its units were still there"
    await refunds.refund(
        session,
        tenant,
        providers,
        order.id,
        RefundIn(reason="paid after the reservation expired; the units were gone", restock=False),
        actor=actor,
        key=f"paid-late:{payment.id}",
    )
    return "order paid late and refunded: its units were gone"


async def _payment_of(session: AsyncSession, provider: str, event: WebhookEvent) -> Payment | None:
    if event.payment_id is not None:
        found = await session.get(Payment, event.payment_id)
        if found is not None and found.provider == provider:
            return found
    if event.provider_ref is None:
        return None
    payment: Payment | None = await session.scalar(
        select(Payment).where(
            Payment.provider == provider, Payment.provider_ref == event.provider_ref
        )
    )
    return payment
