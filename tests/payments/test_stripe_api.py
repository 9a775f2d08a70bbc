"""Stripe Checkout over HTTP: the real ``stripe`` client against the fake Stripe on loopback."""

from __future__ import annotations

import socket
import uuid
from datetime import UTC, datetime

import pytest

from tribekit.orders.payments import (
    PaymentRequest,
    ProviderUnavailable,
    RefundRefused,
    RefundRequest,
    StripeCheckoutProvider,
)

from .conftest import API_KEY, NOW, make_provider
from .fake_stripe import FakeStripe

PAYMENT_ID = uuid.UUID("0b9f3c52-6a57-4c5e-9d0f-0a1b2c3d4e5f")
ORDER_ID = uuid.UUID("5c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5")
MERCHANT_ID = uuid.UUID("9e8d7c6b-5a49-4837-a261-504f3e2d1c0b")


def payment_request(**overrides: object) -> PaymentRequest:
    values: dict[str, object] = {
        "payment_id": PAYMENT_ID,
        "order_id": ORDER_ID,
        "order_number": "2026-000123",
        "merchant_id": MERCHANT_ID,
        "amount": 1250,
        "currency": "EUR",
        "description": "Order 2026-000123 at Greenwood Fruit",
        "customer_email": "mia@example.com",
        "idempotency_key": f"payment-{PAYMENT_ID}",
    }
    values.update(overrides)
    return PaymentRequest(**values)  # type: ignore[arg-type]  # loose to allow overrides


def refund_request(
    captured_ref: str | None, provider_ref: str, **overrides: object
) -> RefundRequest:
    values: dict[str, object] = {
        "provider_ref": provider_ref,
        "captured_ref": captured_ref,
        "amount": 500,
        "currency": "EUR",
        "reason": "two bruised mangoes",
        "idempotency_key": "refund-1",
    }
    values.update(overrides)
    return RefundRequest(**values)  # type: ignore[arg-type]  # loose to allow overrides


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens here once the socket is closed


async def test_start_creates_a_checkout_session(
    fake_stripe: FakeStripe, stripe_provider: StripeCheckoutProvider
) -> None:
    started = await stripe_provider.start(payment_request())

    [session_id] = fake_stripe.sessions
    assert started.provider_ref == session_id
    assert started.redirect_url == f"https://checkout.example/c/pay/{session_id}"
    assert started.instructions is None
    [sent] = fake_stripe.requests_to("POST", "/v1/checkout/sessions")
    assert sent.idempotency_key == f"payment-{PAYMENT_ID}"
    assert sent.authorization == f"Bearer {API_KEY}"
    metadata = {
        "payment_id": str(PAYMENT_ID),
        "order_id": str(ORDER_ID),
        "order_number": "2026-000123",
        "merchant_id": str(MERCHANT_ID),
    }
    assert sent.form == {
        "mode": "payment",
        "line_items[0][price_data][currency]": "eur",
        "line_items[0][price_data][unit_amount]": "1250",
        "line_items[0][price_data][product_data][name]": "Order 2026-000123 at Greenwood Fruit",
        "line_items[0][quantity]": "1",
        "client_reference_id": str(ORDER_ID),
        **{f"metadata[{k}]": v for k, v in metadata.items()},
        **{f"payment_intent_data[metadata][{k}]": v for k, v in metadata.items()},
        "customer_email": "mia@example.com",
        "success_url": (
            f"https://shop.example/m/orders/{ORDER_ID}?paid=1&session={{CHECKOUT_SESSION_ID}}"
        ),
        "cancel_url": f"https://shop.example/m/orders/{ORDER_ID}",
    }
    session = fake_stripe.sessions[session_id]
    assert (session["amount_total"], session["currency"]) == (1250, "eur")
    assert session["metadata"] == metadata


async def test_start_without_email_sends_no_email(
    fake_stripe: FakeStripe, stripe_provider: StripeCheckoutProvider
) -> None:
    await stripe_provider.start(payment_request(customer_email=None))

    [sent] = fake_stripe.requests_to("POST", "/v1/checkout/sessions")
    assert "customer_email" not in sent.form
    assert "expires_at" not in sent.form


@pytest.mark.parametrize(
    ("seconds_from_now", "sent_seconds_from_now"),
    [(3600, 3600), (10 * 60, 31 * 60), (3 * 24 * 3600, 24 * 3600 - 60)],
    ids=["inside-window", "too-soon-moved-to-31-min", "too-late-moved-to-24h"],
)
async def test_start_sends_the_expiry_inside_stripes_window(
    fake_stripe: FakeStripe,
    stripe_provider: StripeCheckoutProvider,
    seconds_from_now: int,
    sent_seconds_from_now: int,
) -> None:
    expires_at = datetime.fromtimestamp(NOW + seconds_from_now, UTC)

    await stripe_provider.start(payment_request(expires_at=expires_at))

    [sent] = fake_stripe.requests_to("POST", "/v1/checkout/sessions")
    assert sent.form["expires_at"] == str(NOW + sent_seconds_from_now)


async def test_start_with_the_same_key_returns_the_same_session(
    fake_stripe: FakeStripe, stripe_provider: StripeCheckoutProvider
) -> None:
    first = await stripe_provider.start(payment_request())
    again = await stripe_provider.start(payment_request())
    other = await stripe_provider.start(payment_request(idempotency_key="payment-other"))

    assert again == first
    assert other.provider_ref != first.provider_ref
    assert set(fake_stripe.sessions) == {first.provider_ref, other.provider_ref}
    assert [r.idempotency_key for r in fake_stripe.requests] == [
        f"payment-{PAYMENT_ID}",
        f"payment-{PAYMENT_ID}",
        "payment-other",
    ]


async def test_refund_posts_the_amount_and_key(
    fake_stripe: FakeStripe, stripe_provider: StripeCheckoutProvider
) -> None:
    started = await stripe_provider.start(payment_request())
    intent = fake_stripe.pay(started.provider_ref)["payment_intent"]

    done = await stripe_provider.refund(refund_request(intent, started.provider_ref))

    [refund_id] = fake_stripe.refunds
    assert done.provider_ref == refund_id
    [sent] = fake_stripe.requests_to("POST", "/v1/refunds")
    assert sent.idempotency_key == "refund-1"
    assert sent.form == {
        "payment_intent": intent,
        "amount": "500",
        "metadata[reason]": "two bruised mangoes",
    }
    assert fake_stripe.refunds[refund_id]["amount"] == 500
    assert fake_stripe.payment_intents[intent]["amount_refunded"] == 500


async def test_refund_with_the_same_key_refunds_once(
    fake_stripe: FakeStripe, stripe_provider: StripeCheckoutProvider
) -> None:
    started = await stripe_provider.start(payment_request())
    intent = fake_stripe.pay(started.provider_ref)["payment_intent"]

    first = await stripe_provider.refund(refund_request(intent, started.provider_ref))
    again = await stripe_provider.refund(refund_request(intent, started.provider_ref))

    assert again == first
    assert list(fake_stripe.refunds) == [first.provider_ref]
    assert fake_stripe.payment_intents[intent]["amount_refunded"] == 500


async def test_refund_without_captured_ref_finds_the_payment_intent(
    fake_stripe: FakeStripe, stripe_provider: StripeCheckoutProvider
) -> None:
    started = await stripe_provider.start(payment_request())
    intent = fake_stripe.pay(started.provider_ref)["payment_intent"]

    await stripe_provider.refund(refund_request(None, started.provider_ref))

    assert [(r.method, r.path) for r in fake_stripe.requests] == [
        ("POST", "/v1/checkout/sessions"),
        ("GET", f"/v1/checkout/sessions/{started.provider_ref}"),
        ("POST", "/v1/refunds"),
    ]
    assert fake_stripe.requests[-1].form["payment_intent"] == intent


async def test_refund_of_an_unpaid_session_is_refused(
    fake_stripe: FakeStripe, stripe_provider: StripeCheckoutProvider
) -> None:
    started = await stripe_provider.start(payment_request())

    with pytest.raises(RefundRefused) as caught:
        await stripe_provider.refund(refund_request(None, started.provider_ref))

    assert caught.value.detail == (
        f"Checkout Session {started.provider_ref} has no payment to refund"
    )
    assert fake_stripe.requests_to("POST", "/v1/refunds") == []


async def test_refund_above_what_is_left_is_refused(
    fake_stripe: FakeStripe, stripe_provider: StripeCheckoutProvider
) -> None:
    started = await stripe_provider.start(payment_request())
    intent = fake_stripe.pay(started.provider_ref)["payment_intent"]

    with pytest.raises(RefundRefused) as caught:
        await stripe_provider.refund(refund_request(intent, started.provider_ref, amount=1251))

    assert (caught.value.status, caught.value.code) == (422, "refund_refused")
    assert caught.value.detail == (
        "Stripe refused the refund: Refund amount (1251) is greater than unrefunded amount on "
        "charge (1250)"
    )
    assert fake_stripe.refunds == {}
    assert fake_stripe.payment_intents[intent]["amount_refunded"] == 0


async def test_refund_above_the_configured_limit_is_refused(
    fake_stripe: FakeStripe, stripe_provider: StripeCheckoutProvider
) -> None:
    started = await stripe_provider.start(payment_request())
    intent = fake_stripe.pay(started.provider_ref)["payment_intent"]
    fake_stripe.refund_limit = 499

    with pytest.raises(RefundRefused, match=r"greater than unrefunded amount on charge \(499\)"):
        await stripe_provider.refund(refund_request(intent, started.provider_ref))

    assert fake_stripe.refunds == {}


async def test_unreachable_stripe_is_provider_unavailable() -> None:
    provider = make_provider(f"http://127.0.0.1:{closed_port()}", max_network_retries=0)
    try:
        with pytest.raises(ProviderUnavailable) as started:
            await provider.start(payment_request())
        with pytest.raises(ProviderUnavailable) as refunded:
            await provider.refund(refund_request("pi_1", "cs_1"))
    finally:
        await provider.aclose()

    assert (started.value.status, started.value.code) == (502, "payment_provider_unavailable")
    assert started.value.detail == (
        "Stripe could not be reached to start the payment; try again in a moment"
    )
    assert refunded.value.detail == (
        "Stripe could not be reached to refund the payment; try again in a moment"
    )


async def test_a_wrong_api_key_names_the_setting_not_the_key(fake_stripe: FakeStripe) -> None:
    wrong_key = "sk_test_wrong_key_never_to_be_shown"
    provider = make_provider(fake_stripe.base_url, secret_key=wrong_key)
    try:
        with pytest.raises(ProviderUnavailable) as caught:
            await provider.start(payment_request())
    finally:
        await provider.aclose()

    assert caught.value.detail == (
        "Stripe refused our API key when asked to start the payment; "
        "check TRIBEKIT_STRIPE_SECRET_KEY"
    )
    assert wrong_key not in repr(provider)
    assert fake_stripe.sessions == {}


async def test_a_stripe_outage_is_provider_unavailable(fake_stripe: FakeStripe) -> None:
    fake_stripe.fail_with = 503
    provider = make_provider(fake_stripe.base_url, max_network_retries=1)
    try:
        with pytest.raises(ProviderUnavailable) as caught:
            await provider.start(payment_request())
    finally:
        await provider.aclose()

    assert caught.value.detail == "Stripe did not start the payment (HTTP 503): fake outage"
    assert len(fake_stripe.requests) == 2  # one retry, with the same idempotency key
    assert {r.idempotency_key for r in fake_stripe.requests} == {f"payment-{PAYMENT_ID}"}
    assert fake_stripe.sessions == {}
