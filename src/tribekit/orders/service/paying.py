"""Payments: starting one with a provider, staff confirming manual ones, provider webhooks.

A webhook event is stored once per (provider, event id) before it is acted on, in the same
transaction: a replayed event finds its row and changes nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock
from tribekit.kit.db import add_unique
from tribekit.kit.errors import Conflict, NotFound
from tribekit.models.enums import OrderStatus, PaymentStatus
from tribekit.models.orders import Order, Payment, PaymentEvent
from tribekit.models.tenancy import Merchant
from tribekit.orders import events
from tribekit.orders.payments import PaymentProvider, PaymentRequest, WebhookEvent, WebhookEventKind
from tribekit.orders.payments.providers import provider as provider_named
from tribekit.orders.repository import Orders, Payments
from tribekit.tenancy.principal import Tenant

from . import lifecycle

log = logging.getLogger(__name__)
#: Stripe closes a Checkout page 30 minutes after it opens at the earliest.
ONLINE_MINIMUM = timedelta(minutes=31)
#: How long an order waits after its payment page closed, for the provider's webhook.
WEBHOOK_GRACE = timedelta(minutes=5)


class PaymentMismatch(Conflict):
    code = "payment_mismatch"
    title = "The payment does not match the order"


def _waiting(order: Order, action: str) -> None:
    if order.status != OrderStatus.PLACED:
        raise lifecycle.WrongOrderState(
            f"order {order.number} is {order.status}; it cannot be {action}",
            status=order.status,
        )


async def _order_for(
    session: AsyncSession, tenant: Tenant, order_id: uuid.UUID, member_id: uuid.UUID | None
) -> Order:
    order = await Orders(session, tenant.id).get_or_404(order_id)
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
    Checkout page, or instructions to pay the shop); a pending one is reused, not doubled."""
    order = await _order_for(session, tenant, order_id, member_id)
    _waiting(order, "paid")
    chosen = provider_named(providers, provider)
    for existing in await Orders(session, tenant.id).payments(order.id):
        if existing.provider == provider and existing.status == PaymentStatus.PENDING:
            return existing
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
    pay_by = order.expires_at
    if provider != "manual":
        # A payer on the provider's page is not cut off: the page closes when the order would
        # have, at the earliest after the provider's own minimum, and the order waits for it.
        pay_by = max(order.expires_at or clock.now(), clock.now() + ONLINE_MINIMUM)
        await Orders(session, tenant.id).keep_open(order, expires_at=pay_by + WEBHOOK_GRACE)
    started = await chosen.start(
        PaymentRequest(
            payment_id=payment.id,
            order_id=order.id,
            order_number=order.number,
            merchant_id=tenant.id,
            amount=order.total,
            currency=order.currency,
            description=f"Order {order.number}",
            customer_email=customer_email,
            idempotency_key=f"payment:{payment.id}",
            expires_at=pay_by,
        )
    )
    payment.provider_ref = started.provider_ref
    payment.redirect_url = started.redirect_url
    payment.instructions = started.instructions
    await session.flush()
    return payment


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
    record.outcome = await _apply(session, provider, event)
    await session.flush()
    log.info(
        "payment webhook",
        extra={"provider": provider, "event": event.event_id, "outcome": record.outcome},
    )
    return record.outcome


async def _apply(session: AsyncSession, provider: str, event: WebhookEvent) -> str:
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
