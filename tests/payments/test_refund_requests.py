"""Refunds at Stripe happen after the refund's transaction commits: a durable request on the refund
row that the worker performs with the refund's idempotency key, retries with backoff, and marks
failed when Stripe refuses it or never answers. The real ``stripe`` client talks to the fake
Stripe on loopback; it fails, times out and succeeds on a retry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select

from tests.concurrency import fire
from tests.factories import Factory
from tests.membership.test_points_api import ledger_totals
from tests.orders.store import Store, open_store, place
from tests.orders.test_checkout_api import stock_of
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.kit.worker import WorkerLoop
from tribekit.models.membership import PointsEntry
from tribekit.models.orders import Refund
from tribekit.orders import tasks
from tribekit.orders.payments import ManualProvider, PaymentProvider

from .conftest import WEBHOOK_SECRET, make_provider
from .fake_stripe import FakeStripe
from .stripe_helpers import signed_webhook


@pytest.fixture
def client(stripe_client: AsyncClient) -> AsyncClient:
    """These tests pay and refund through Stripe: the app's client is the Stripe-configured one."""
    return stripe_client


@pytest.fixture
async def providers(fake_stripe: FakeStripe) -> AsyncIterator[dict[str, PaymentProvider]]:
    """The worker's providers: one Stripe call per attempt (no client retries), short timeout."""
    stripe = make_provider(fake_stripe.base_url, timeout=0.5, max_network_retries=0)
    yield {"manual": ManualProvider(), "stripe": stripe}
    await stripe.aclose()


async def paid_by_stripe(
    client: AsyncClient, fake: FakeStripe, store: Store, factory: Factory
) -> dict[str, Any]:
    """A member's order of 2 mangoes and 1 kg of cherries, paid on Stripe Checkout."""
    member_id = (await factory.member(store.shop)).member.id
    order = (await place(client, store, member_id, (store.mango, 2), (store.cherries, 1))).json()
    started = await client.post(
        f"/api/v1/orders/{order['id']}/payments",
        json={"provider": "stripe"},
        headers=store.headers(),
    )
    assert started.status_code == 201, started.text
    session_id = list(fake.sessions)[-1]
    fake.pay(session_id)
    body, headers = signed_webhook(
        fake.event("checkout.session.completed", session_id), WEBHOOK_SECRET
    )
    hook = await client.post("/api/v1/payments/stripe/webhook", content=body, headers=headers)
    assert hook.json() == {"outcome": "order paid"}, hook.text
    return {**order, "member_id": member_id, "session_id": session_id}


async def refund_all(client: AsyncClient, store: Store, order: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/orders/{order['id']}/refunds",
        json={"reason": "the box arrived crushed", "restock": True},
        headers=store.headers(),
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def sweep_once(db: Database, providers: dict[str, PaymentProvider]) -> int:
    sweep = tasks.pay_back_sweep(db, providers)
    return await WorkerLoop(db, [sweep]).run_sweep(sweep)


async def shown(client: AsyncClient, store: Store, order: dict[str, Any]) -> dict[str, Any]:
    listed = await client.get(f"/api/v1/orders/{order['id']}/refunds", headers=store.shop.headers)
    [item] = listed.json()["items"]
    result: dict[str, Any] = item
    return result


async def refund_entries(db: Database) -> int:
    """Points postings made by refunds (each refund posts at most once per kind)."""
    async with db.unit_of_work() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(PointsEntry)
            .where(PointsEntry.idempotency_key.like("refund:%"))
        )
    return int(count or 0)


async def test_a_refund_is_given_back_at_stripe_by_the_worker_after_an_outage(
    client: AsyncClient,
    fake_stripe: FakeStripe,
    providers: dict[str, PaymentProvider],
    db: Database,
    factory: Factory,
) -> None:
    store = await open_store(db, factory)
    order = await paid_by_stripe(client, fake_stripe, store, factory)
    earned = order["points_to_earn"]
    assert await ledger_totals(db, order["member_id"]) == (earned, earned, earned)
    fake_stripe.fail_with = 503

    done = await refund_all(client, store, order)

    # Stock and points moved in the refund's transaction; nothing was sent to Stripe in it.
    assert (done["amount"], done["provider_status"], done["provider_attempts"]) == (
        7000,
        "pending",
        0,
    )
    assert fake_stripe.requests_to("POST", "/v1/refunds") == []
    assert await stock_of(db, store.mango) == 5
    assert await ledger_totals(db, order["member_id"]) == (0, 0, 0)
    assert await refund_entries(db) == 1

    start = clock.now()
    with clock.frozen_at(start):
        assert await sweep_once(db, providers) == 1  # Stripe answers 503
        assert await sweep_once(db, providers) == 0  # not due again for 30 seconds
    failed_once = await shown(client, store, order)
    assert failed_once["provider_status"] == "pending"
    assert failed_once["provider_attempts"] == 1
    assert (
        failed_once["provider_error"] == "Stripe did not refund the payment (HTTP 503): fake outage"
    )
    assert fake_stripe.refunds == {}

    fake_stripe.fail_with = None
    with clock.frozen_at(start + timedelta(seconds=29)):
        assert await sweep_once(db, providers) == 0
    with clock.frozen_at(start + timedelta(seconds=31)):
        assert await sweep_once(db, providers) == 1
        assert await sweep_once(db, providers) == 0
    [at_stripe] = fake_stripe.refunds.values()
    assert at_stripe["amount"] == 7000
    sent = fake_stripe.requests_to("POST", "/v1/refunds")
    assert [r.idempotency_key for r in sent] == [f"refund:{done['id']}"] * 2
    after = await shown(client, store, order)
    assert after["provider_status"] == "succeeded"
    assert after["provider_ref"] == at_stripe["id"]
    assert after["provider_attempts"] == 2
    assert after["provider_error"] is None
    # Exactly one ledger effect and one stock return, whatever the attempts.
    assert await refund_entries(db) == 1
    assert await ledger_totals(db, order["member_id"]) == (0, 0, 0)
    assert await stock_of(db, store.mango) == 5


async def test_a_timed_out_refund_is_retried_with_its_key_and_refunds_once(
    client: AsyncClient,
    fake_stripe: FakeStripe,
    providers: dict[str, PaymentProvider],
    db: Database,
    factory: Factory,
) -> None:
    store = await open_store(db, factory)
    order = await paid_by_stripe(client, fake_stripe, store, factory)
    done = await refund_all(client, store, order)
    fake_stripe.refund_delay = 1.5  # Stripe refunds, but its answer comes after our timeout
    start = clock.now()
    with clock.frozen_at(start):
        assert await sweep_once(db, providers) == 1
    timed_out = await shown(client, store, order)
    assert timed_out["provider_status"] == "pending"
    assert timed_out["provider_error"] == (
        "Stripe could not be reached to refund the payment; try again in a moment"
    )
    assert len(fake_stripe.refunds) == 1  # it did happen at Stripe

    fake_stripe.refund_delay = 0.0
    with clock.frozen_at(start + timedelta(seconds=31)):
        assert await sweep_once(db, providers) == 1
    [refund_id] = fake_stripe.refunds  # the retry was answered by Stripe's replay
    [intent] = fake_stripe.payment_intents.values()
    assert intent["amount_refunded"] == 7000
    sent = fake_stripe.requests_to("POST", "/v1/refunds")
    assert [r.idempotency_key for r in sent] == [f"refund:{done['id']}"] * 2
    after = await shown(client, store, order)
    assert (after["provider_status"], after["provider_ref"]) == ("succeeded", refund_id)
    assert await refund_entries(db) == 1


async def test_two_workers_never_both_call_stripe(
    client: AsyncClient,
    fake_stripe: FakeStripe,
    providers: dict[str, PaymentProvider],
    db: Database,
    factory: Factory,
) -> None:
    store = await open_store(db, factory)
    order = await paid_by_stripe(client, fake_stripe, store, factory)
    await refund_all(client, store, order)
    fake_stripe.refund_delay = 0.3  # the first worker's call is still running when others look
    handled = await fire(4, lambda i: sweep_once(db, providers))
    assert sorted(handled) == [0, 0, 0, 1]
    assert len(fake_stripe.requests_to("POST", "/v1/refunds")) == 1
    assert len(fake_stripe.refunds) == 1
    assert (await shown(client, store, order))["provider_status"] == "succeeded"


async def test_a_refund_stripe_refuses_is_failed_for_staff_and_keeps_its_effects(
    client: AsyncClient,
    fake_stripe: FakeStripe,
    providers: dict[str, PaymentProvider],
    db: Database,
    factory: Factory,
) -> None:
    store = await open_store(db, factory)
    order = await paid_by_stripe(client, fake_stripe, store, factory)
    await refund_all(client, store, order)
    fake_stripe.refund_limit = 100
    assert await sweep_once(db, providers) == 1
    failed = await shown(client, store, order)
    assert failed["provider_status"] == "failed"
    assert failed["provider_attempts"] == 1
    assert failed["provider_error"] == (
        "Stripe refused the refund: Refund amount (7000) is greater than unrefunded amount on "
        "charge (100)"
    )
    assert failed["provider_settled_at"] is not None
    with clock.frozen_at(clock.now() + timedelta(days=1)):
        assert await sweep_once(db, providers) == 0  # never tried again
    assert fake_stripe.refunds == {}
    # The order stays refunded in Tribekit: staff settle the money with the payer by hand.
    detail = (await client.get(f"/api/v1/orders/{order['id']}", headers=store.shop.headers)).json()
    assert (detail["status"], detail["refunded_amount"]) == ("refunded", 7000)
    assert await stock_of(db, store.mango) == 5


async def test_a_refund_stripe_never_answers_fails_after_the_last_attempt(
    client: AsyncClient,
    fake_stripe: FakeStripe,
    providers: dict[str, PaymentProvider],
    db: Database,
    factory: Factory,
) -> None:
    store = await open_store(db, factory)
    order = await paid_by_stripe(client, fake_stripe, store, factory)
    await refund_all(client, store, order)
    fake_stripe.fail_with = 502
    at = clock.now()
    waits = []
    for attempt in range(1, tasks.MAX_ATTEMPTS + 1):
        with clock.frozen_at(at):
            assert await sweep_once(db, providers) == 1
        async with db.unit_of_work() as session:
            row = await session.scalar(select(Refund))
            assert row is not None
            status, next_at = row.provider_status, row.provider_next_at
        if attempt < tasks.MAX_ATTEMPTS:
            assert status == "pending"
            assert next_at is not None
            waits.append(next_at - at)
            at = next_at
        else:
            assert (status, next_at) == ("failed", None)
    assert waits == [timedelta(seconds=30 * 2**n) for n in range(7)] + [timedelta(hours=1)]
    assert len(fake_stripe.requests_to("POST", "/v1/refunds")) == tasks.MAX_ATTEMPTS
    failed = await shown(client, store, order)
    assert (failed["provider_status"], failed["provider_attempts"]) == ("failed", 9)


async def test_a_manual_refund_completes_at_once(
    client: AsyncClient,
    fake_stripe: FakeStripe,
    providers: dict[str, PaymentProvider],
    db: Database,
    factory: Factory,
) -> None:
    store = await open_store(db, factory)
    member = (await factory.member(store.shop)).member
    order = (await place(client, store, member.id, (store.mango, 1))).json()
    paid = await client.post(
        f"/api/v1/orders/{order['id']}/payments",
        json={"provider": "manual", "reference": "cash"},
        headers=store.headers(),
    )
    assert paid.status_code == 201, paid.text
    done = await refund_all(client, store, order)
    assert (done["provider_status"], done["provider_attempts"], done["provider_ref"]) == (
        "succeeded",
        1,
        None,
    )
    assert await sweep_once(db, providers) == 0
    assert fake_stripe.requests == []
