"""Stripe webhooks: the signature is checked on the raw body, then the event is mapped."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.datastructures import Headers

from tribekit.kit import clock
from tribekit.orders.payments import (
    InvalidWebhook,
    PaymentStarted,
    StripeCheckoutProvider,
    WebhookEvent,
    WebhookEventKind,
)

from .conftest import NOW, WEBHOOK_SECRET, make_provider
from .fake_stripe import FakeStripe
from .stripe_helpers import signed_webhook, stripe_signature
from .test_stripe_api import PAYMENT_ID, payment_request

SESSION_ID = "cs_test_a1b2c3"
INTENT_ID = "pi_test_d4e5f6"


def checkout_event(event_type: str, payment_status: str = "paid", **session: Any) -> dict[str, Any]:
    return {
        "id": "evt_test_123",
        "object": "event",
        "type": event_type,
        "data": {
            "object": {
                "id": SESSION_ID,
                "object": "checkout.session",
                "payment_status": payment_status,
                "payment_intent": INTENT_ID,
                "amount_total": 1250,
                "currency": "eur",
                "metadata": {"payment_id": str(PAYMENT_ID), "order_id": str(uuid.uuid4())},
                **session,
            }
        },
    }


@pytest.fixture
def provider() -> StripeCheckoutProvider:
    # parse_webhook makes no network call: nothing listens on this address.
    return make_provider("http://127.0.0.1:9")


def parse(provider: StripeCheckoutProvider, event: dict[str, Any], age: int = 0) -> WebhookEvent:
    body, headers = signed_webhook(event, WEBHOOK_SECRET, timestamp=NOW - age)
    return provider.parse_webhook(body, headers)


def outcome(kind: WebhookEventKind, paid: bool) -> WebhookEvent:
    return WebhookEvent(
        event_id="evt_test_123",
        kind=kind,
        provider_ref=SESSION_ID,
        payment_id=PAYMENT_ID,
        captured_ref=INTENT_ID if paid else None,
        amount=1250 if paid else None,
        currency="EUR" if paid else None,
    )


@pytest.mark.parametrize(
    ("event_type", "payment_status", "expected"),
    [
        (
            "checkout.session.completed",
            "paid",
            outcome(WebhookEventKind.PAYMENT_SUCCEEDED, paid=True),
        ),
        (
            "checkout.session.async_payment_succeeded",
            "paid",
            outcome(WebhookEventKind.PAYMENT_SUCCEEDED, paid=True),
        ),
        (
            "checkout.session.completed",
            "unpaid",
            outcome(WebhookEventKind.IGNORED, paid=False),
        ),
        (
            "checkout.session.async_payment_failed",
            "unpaid",
            outcome(WebhookEventKind.PAYMENT_FAILED, paid=False),
        ),
        (
            "checkout.session.expired",
            "unpaid",
            outcome(WebhookEventKind.PAYMENT_EXPIRED, paid=False),
        ),
    ],
    ids=["completed-paid", "async-succeeded", "completed-unpaid", "async-failed", "expired"],
)
def test_checkout_events_are_mapped(
    provider: StripeCheckoutProvider,
    event_type: str,
    payment_status: str,
    expected: WebhookEvent,
) -> None:
    assert parse(provider, checkout_event(event_type, payment_status)) == expected


def test_other_events_are_ignored_with_their_id(provider: StripeCheckoutProvider) -> None:
    event = {
        "id": "evt_test_999",
        "object": "event",
        "type": "charge.refunded",
        "data": {"object": {"id": "ch_1", "object": "charge"}},
    }

    assert parse(provider, event) == WebhookEvent(
        event_id="evt_test_999",
        kind=WebhookEventKind.IGNORED,
        provider_ref=None,
        payment_id=None,
        captured_ref=None,
        amount=None,
        currency=None,
    )


def test_a_session_without_our_payment_id_still_names_the_session(
    provider: StripeCheckoutProvider,
) -> None:
    event = parse(provider, checkout_event("checkout.session.completed", metadata={}))

    assert (event.kind, event.provider_ref, event.payment_id) == (
        WebhookEventKind.PAYMENT_SUCCEEDED,
        SESSION_ID,
        None,
    )


@pytest.mark.parametrize("age", [0, 299, 300])
def test_signatures_up_to_300_seconds_old_are_accepted(
    provider: StripeCheckoutProvider, age: int
) -> None:
    event = parse(provider, checkout_event("checkout.session.completed"), age=age)

    assert event.kind == WebhookEventKind.PAYMENT_SUCCEEDED


def test_a_signature_older_than_300_seconds_is_refused(provider: StripeCheckoutProvider) -> None:
    with pytest.raises(InvalidWebhook) as caught:
        parse(provider, checkout_event("checkout.session.completed"), age=301)

    assert (caught.value.status, caught.value.code) == (400, "invalid_webhook")
    assert caught.value.detail == (
        "the webhook was signed 301 seconds ago; events signed more than 300 seconds ago are "
        "refused"
    )


def test_a_tampered_body_is_refused(provider: StripeCheckoutProvider) -> None:
    body, headers = signed_webhook(
        checkout_event("checkout.session.completed"), WEBHOOK_SECRET, NOW
    )
    tampered = body.replace(b'"amount_total":1250', b'"amount_total":1')
    assert tampered != body

    with pytest.raises(InvalidWebhook, match="does not match the body"):
        provider.parse_webhook(tampered, headers)


def test_a_body_signed_with_another_secret_is_refused(provider: StripeCheckoutProvider) -> None:
    body, headers = signed_webhook(
        checkout_event("checkout.session.completed"), "whsec_someone_else", NOW
    )

    with pytest.raises(InvalidWebhook, match="signed with another webhook secret"):
        provider.parse_webhook(body, headers)


def test_a_missing_signature_header_is_refused(provider: StripeCheckoutProvider) -> None:
    body, _ = signed_webhook(checkout_event("checkout.session.completed"), WEBHOOK_SECRET, NOW)

    with pytest.raises(InvalidWebhook) as caught:
        provider.parse_webhook(body, {"Content-Type": "application/json"})

    assert caught.value.detail == "the Stripe-Signature header is missing"


@pytest.mark.parametrize("header", ["v1=abc", "t=soon,v1=abc", "t=-5,v1=abc", "t=1e9,v1=abc"])
def test_a_malformed_signature_header_is_refused(
    provider: StripeCheckoutProvider, header: str
) -> None:
    body, _ = signed_webhook(checkout_event("checkout.session.completed"), WEBHOOK_SECRET, NOW)

    with pytest.raises(InvalidWebhook) as caught:
        provider.parse_webhook(body, {"Stripe-Signature": header})

    assert caught.value.detail == "the Stripe-Signature header has no valid t=<timestamp> part"


def test_a_signature_header_without_v1_is_refused(provider: StripeCheckoutProvider) -> None:
    body, _ = signed_webhook(checkout_event("checkout.session.completed"), WEBHOOK_SECRET, NOW)

    with pytest.raises(InvalidWebhook, match="does not match the body"):
        provider.parse_webhook(body, {"Stripe-Signature": f"t={NOW},v0=abc"})


def test_a_signed_body_that_is_not_json_is_refused(provider: StripeCheckoutProvider) -> None:
    body = b"not json"

    with pytest.raises(InvalidWebhook) as caught:
        provider.parse_webhook(body, {"Stripe-Signature": _sign(body, NOW)})

    assert caught.value.detail == "the webhook body is not JSON"


@pytest.mark.parametrize(
    "payload",
    [[1, 2], {"type": "checkout.session.completed"}, {"id": "evt_1", "type": 7}],
    ids=["not-an-object", "no-id", "type-not-text"],
)
def test_signed_json_that_is_not_an_event_is_refused(
    provider: StripeCheckoutProvider, payload: object
) -> None:
    body = json.dumps(payload).encode()

    with pytest.raises(InvalidWebhook, match="is not a Stripe event"):
        provider.parse_webhook(body, {"Stripe-Signature": _sign(body, NOW)})


def test_a_checkout_event_without_a_session_is_refused(provider: StripeCheckoutProvider) -> None:
    event = {"id": "evt_1", "type": "checkout.session.completed", "data": {}}

    with pytest.raises(InvalidWebhook) as caught:
        parse(provider, event)

    assert caught.value.detail == "the checkout.session.completed event carries no Checkout Session"


@pytest.mark.parametrize(
    "headers",
    [
        lambda sig: {"stripe-signature": sig},
        lambda sig: {"STRIPE-SIGNATURE": sig},
        lambda sig: Headers({"Stripe-Signature": sig}),
    ],
    ids=["lower-case-dict", "upper-case-dict", "starlette-headers"],
)
def test_the_header_is_found_whatever_its_case(
    provider: StripeCheckoutProvider, headers: Any
) -> None:
    body, signed = signed_webhook(checkout_event("checkout.session.completed"), WEBHOOK_SECRET, NOW)

    event = provider.parse_webhook(body, headers(signed["Stripe-Signature"]))

    assert event.kind == WebhookEventKind.PAYMENT_SUCCEEDED


async def test_the_default_clock_is_the_tribekit_clock() -> None:
    provider = StripeCheckoutProvider(  # no `now`: the default
        secret_key="sk_test_x",
        webhook_secret=WEBHOOK_SECRET,
        success_url="https://shop.example/ok",
        cancel_url="https://shop.example/cancel",
    )
    event = checkout_event("checkout.session.completed")
    try:
        with clock.frozen_at(datetime(2026, 3, 1, 12, 0, tzinfo=UTC)) as frozen:
            body, headers = signed_webhook(event, WEBHOOK_SECRET)  # signed "now", frozen
            frozen.advance(timedelta(seconds=300))
            assert provider.parse_webhook(body, headers).kind == WebhookEventKind.PAYMENT_SUCCEEDED
            frozen.advance(timedelta(seconds=1))
            with pytest.raises(InvalidWebhook, match="signed 301 seconds ago"):
                provider.parse_webhook(body, headers)
    finally:
        await provider.aclose()


async def test_a_paid_session_at_the_fake_round_trips(
    fake_stripe: FakeStripe, stripe_provider: StripeCheckoutProvider
) -> None:
    started: PaymentStarted = await stripe_provider.start(payment_request())
    session = fake_stripe.pay(started.provider_ref)
    event = fake_stripe.event("checkout.session.completed", started.provider_ref)

    body, headers = signed_webhook(event, WEBHOOK_SECRET, NOW - 5)
    parsed = stripe_provider.parse_webhook(body, headers)

    assert parsed == WebhookEvent(
        event_id=event["id"],
        kind=WebhookEventKind.PAYMENT_SUCCEEDED,
        provider_ref=started.provider_ref,
        payment_id=PAYMENT_ID,
        captured_ref=session["payment_intent"],
        amount=1250,
        currency="EUR",
    )


def _sign(body: bytes, timestamp: int) -> str:
    return stripe_signature(body, WEBHOOK_SECRET, timestamp)
