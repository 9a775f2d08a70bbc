"""The ``Stripe-Signature`` header is parsed once, strictly: a second ``t``, an empty or malformed
part, or an old timestamp is refused, so a payload signed long ago cannot be replayed by adding
a fresh ``t`` next to its old one."""

from __future__ import annotations

import pytest
from httpx import AsyncClient

from tests.factories import Factory, count_rows
from tests.orders.store import open_store, place
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.models.orders import PaymentEvent
from tribekit.orders.payments import InvalidWebhook, StripeCheckoutProvider, WebhookEventKind

from .conftest import NOW, WEBHOOK_SECRET, make_provider
from .fake_stripe import FakeStripe
from .stripe_helpers import signed_webhook, stripe_signature
from .test_stripe_webhooks import checkout_event

OLD = NOW - 3600  # signed an hour ago
BODY, _ = signed_webhook(checkout_event("checkout.session.completed"), WEBHOOK_SECRET, OLD)


def _v1(timestamp: int, body: bytes = BODY) -> str:
    return stripe_signature(body, WEBHOOK_SECRET, timestamp).split(",")[1].removeprefix("v1=")


@pytest.fixture
def provider() -> StripeCheckoutProvider:
    return make_provider("http://127.0.0.1:9")  # parse_webhook makes no network call


def _refusal(provider: StripeCheckoutProvider, header: str, body: bytes = BODY) -> str:
    with pytest.raises(InvalidWebhook) as caught:
        provider.parse_webhook(body, {"Stripe-Signature": header})
    assert (caught.value.status, caught.value.code) == (400, "invalid_webhook")
    return caught.value.detail


DUPLICATE = "the Stripe-Signature header has more than one t=<timestamp> part"


@pytest.mark.parametrize(
    "header",
    [
        # the report: the age was read from one t, the HMAC checked against the other
        f"v1={_v1(OLD)}, t={NOW},t={OLD}",
        f"v1={_v1(OLD)},t={OLD},t={NOW}",
        f"t={NOW},v1={_v1(OLD)},t={OLD}",
        f"t={OLD},t={OLD},v1={_v1(OLD)}",
    ],
    ids=["report", "old-first", "around", "same-twice"],
)
def test_a_second_timestamp_is_refused(provider: StripeCheckoutProvider, header: str) -> None:
    assert _refusal(provider, header) == DUPLICATE


@pytest.mark.parametrize(
    "header",
    [
        f"t={NOW},v1={_v1(NOW)},garbage",
        f"t={NOW},,v1={_v1(NOW)}",
        f"t={NOW},v1={_v1(NOW)},",
        f"t={NOW},=abc,v1={_v1(NOW)}",
        f"t={NOW},v1=",
        f"t={NOW},v1={_v1(NOW)}=",
        f"t={NOW};v1={_v1(NOW)}",
        f"t={NOW},v1 ={_v1(NOW)}",
    ],
    ids=["no-equals", "empty", "trailing", "no-key", "no-value", "two-equals", "semicolon", "gap"],
)
def test_a_malformed_part_is_refused(provider: StripeCheckoutProvider, header: str) -> None:
    assert _refusal(provider, header).startswith(
        "the Stripe-Signature header has a malformed part "
    )


def test_an_old_signature_with_spaces_is_still_old(provider: StripeCheckoutProvider) -> None:
    detail = _refusal(provider, f" t={OLD} , v1={_v1(OLD)} ")
    assert detail == (
        "the webhook was signed 3600 seconds ago; events signed more than 300 seconds ago are "
        "refused"
    )


def test_a_fresh_t_does_not_carry_an_old_signature(provider: StripeCheckoutProvider) -> None:
    assert "does not match the body" in _refusal(provider, f"t={NOW},v1={_v1(OLD)}")


@pytest.mark.parametrize(
    "header",
    [
        f"t={NOW},v1={_v1(NOW)}",
        f"v1={_v1(NOW)},t={NOW}",
        # while a secret is rolled, Stripe signs with the old and the new one
        f"t={NOW},v1={'0' * 64},v1={_v1(NOW)}",
        f"t={NOW},v1={_v1(NOW)},v0={'1' * 64}",
    ],
    ids=["plain", "t-last", "two-v1", "with-v0"],
)
def test_well_formed_headers_are_accepted(provider: StripeCheckoutProvider, header: str) -> None:
    event = provider.parse_webhook(BODY, {"Stripe-Signature": header})
    assert event.kind == WebhookEventKind.PAYMENT_SUCCEEDED


# -- through the API: nothing is recorded --------------------------------------------------------


async def test_a_replayed_old_payment_with_a_fresh_t_pays_nothing(
    stripe_client: AsyncClient, fake_stripe: FakeStripe, db: Database, factory: Factory
) -> None:
    client = stripe_client
    store = await open_store(db, factory)
    member = (await factory.member(store.shop)).member
    order = (await place(client, store, member.id, (store.cherries, 1))).json()
    started = await client.post(
        f"/api/v1/orders/{order['id']}/payments",
        json={"provider": "stripe"},
        headers=store.headers(),
    )
    assert started.status_code == 201, started.text
    session_id = next(iter(fake_stripe.sessions))
    fake_stripe.pay(session_id)
    event = fake_stripe.event("checkout.session.completed", session_id)
    now = int(clock.now().timestamp())
    old = now - 3600
    body, signed = signed_webhook(event, WEBHOOK_SECRET, old)
    signature = signed["Stripe-Signature"].split(",")[1]
    for header in (
        f"{signature}, t={now},t={old}",
        f"t={now},{signature}",
        signed["Stripe-Signature"],
    ):
        hook = await client.post(
            "/api/v1/payments/stripe/webhook",
            content=body,
            headers={"Content-Type": "application/json", "Stripe-Signature": header},
        )
        assert hook.status_code == 400, (header, hook.text)
        assert hook.json()["code"] == "invalid_webhook"
    after = (await client.get(f"/api/v1/orders/{order['id']}", headers=store.shop.headers)).json()
    assert after["status"] == "placed"
    assert after["payments"][0]["status"] == "pending"
    assert await count_rows(db, PaymentEvent) == 0
