"""Paying (manual and Stripe Checkout with signed webhooks) and refunding through the REST API:
points earned on payment, replayed webhooks posted once, partial refunds that add up exactly,
points and stock following the money."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from tests.conftest import test_settings
from tests.factories import Factory, count_rows
from tests.membership.test_points_api import ledger_totals
from tests.payments.fake_stripe import FakeStripe
from tests.payments.stripe_helpers import signed_webhook
from tribekit.api.app import create_app
from tribekit.kit.db import Database
from tribekit.kit.worker import WorkerLoop
from tribekit.models.orders import OrderEvent, PaymentEvent, Refund
from tribekit.orders.payments import aclose, build_providers
from tribekit.orders.tasks import pay_back_sweep

from .store import Store, give_points, open_store, pay, place
from .test_checkout_api import stock_of

API_KEY = "sk_test_orders_fake"
WEBHOOK_SECRET = "whsec_orders_fake"


@pytest.fixture(scope="module")
def stripe_server() -> Iterator[FakeStripe]:
    with FakeStripe(api_key=API_KEY) as fake:
        yield fake


@pytest.fixture
async def stripe_client(db: Database, stripe_server: FakeStripe) -> AsyncIterator[AsyncClient]:
    stripe_server.reset()
    settings = test_settings(
        db,
        stripe_secret_key=API_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=stripe_server.base_url,
    )
    app: FastAPI = create_app(settings, db=db)
    async with app.router.lifespan_context(app):
        transport = ASGITransport(app=app, raise_app_exceptions=False)
        async with AsyncClient(transport=transport, base_url="http://tribekit.test") as http:
            yield http


async def refund(client: AsyncClient, store: Store, order_id: str, **body: Any) -> dict[str, Any]:
    body.setdefault("reason", "customer returned it")
    response = await client.post(
        f"/api/v1/orders/{order_id}/refunds", json=body, headers=store.headers()
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_manual_payment_earns_points_by_the_membership_rules(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    member = (await factory.member(store.shop)).member
    order = (await place(client, store, member.id, (store.cherries, 2))).json()
    assert order["points_to_earn"] == 100
    paid = await pay(client, store, order["id"])
    assert paid.status_code == 201, paid.text
    assert paid.json()["status"] == "succeeded"
    assert paid.json()["reference"] == "cash"
    after = (await client.get(f"/api/v1/orders/{order['id']}", headers=store.shop.headers)).json()
    assert after["status"] == "paid"
    assert after["expires_at"] is None
    assert await ledger_totals(db, member.id) == (100, 100, 100)
    again = await pay(client, store, order["id"])
    assert again.status_code == 409
    assert await ledger_totals(db, member.id) == (100, 100, 100)
    for step, status in (("fulfil", "fulfilled"), ("complete", "completed")):
        moved = await client.post(f"/api/v1/orders/{order['id']}/{step}", headers=store.headers())
        assert moved.status_code == 200, moved.text
        assert moved.json()["status"] == status
    kinds = [
        kind
        for kind in ("placed", "paid", "fulfilled", "completed")
        if await count_rows(db, OrderEvent, OrderEvent.kind == kind) == 1
    ]
    assert kinds == ["placed", "paid", "fulfilled", "completed"]


async def test_stripe_checkout_is_paid_by_a_signed_webhook_once(
    stripe_client: AsyncClient, stripe_server: FakeStripe, db: Database, factory: Factory
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
    payment = started.json()
    assert payment["status"] == "pending"
    assert payment["redirect_url"].startswith("https://")
    session_id = next(iter(stripe_server.sessions))
    assert stripe_server.sessions[session_id]["amount_total"] == 5000
    # The page stays open at least Stripe's minimum; the order waits for it, plus a grace.
    waiting = (await client.get(f"/api/v1/orders/{order['id']}", headers=store.shop.headers)).json()
    closes = datetime.fromtimestamp(stripe_server.sessions[session_id]["expires_at"], UTC)
    grace = datetime.fromisoformat(waiting["expires_at"]) - closes
    assert timedelta(minutes=5) <= grace < timedelta(minutes=5, seconds=1)  # Stripe has seconds
    assert closes - datetime.fromisoformat(order["placed_at"]) >= timedelta(minutes=30)
    stripe_server.pay(session_id)
    event = stripe_server.event("checkout.session.completed", session_id)
    body, headers = signed_webhook(event, WEBHOOK_SECRET)
    for attempt in range(3):  # Stripe retries; each replay is acknowledged and ignored
        hook = await client.post("/api/v1/payments/stripe/webhook", content=body, headers=headers)
        assert hook.status_code == 200, hook.text
        expected = "order paid" if attempt == 0 else "already processed"
        assert hook.json() == {"outcome": expected}
    after = (await client.get(f"/api/v1/orders/{order['id']}", headers=store.shop.headers)).json()
    assert after["status"] == "paid"
    assert after["payments"][0]["status"] == "succeeded"
    assert await count_rows(db, PaymentEvent) == 1
    assert await ledger_totals(db, member.id) == (50, 50, 50)
    tampered = await client.post(
        "/api/v1/payments/stripe/webhook", content=body + b" ", headers=headers
    )
    assert tampered.status_code == 400
    assert tampered.json()["code"] == "invalid_webhook"
    # A refund goes back through Stripe, for exactly the amount refunded.
    # after the refund's transaction committed, by the worker.
    done = await refund(client, store, order["id"])
    assert (done["amount"], done["provider_status"]) == (5000, "pending")
    assert stripe_server.refunds == {}
    providers = build_providers(
        test_settings(
            db,
            stripe_secret_key=API_KEY,
            stripe_webhook_secret=WEBHOOK_SECRET,
            stripe_api_base=stripe_server.base_url,
        )
    )
    try:
        assert await WorkerLoop(db, []).run_sweep(pay_back_sweep(db, providers)) == 1
    finally:
        await aclose(providers)
    [at_stripe] = stripe_server.refunds.values()
    assert at_stripe["amount"] == 5000
    listed = await client.get(f"/api/v1/orders/{order['id']}/refunds", headers=store.shop.headers)
    [shown] = listed.json()["items"]
    assert (shown["provider_status"], shown["provider_ref"]) == ("succeeded", at_stripe["id"])


async def test_partial_refunds_add_up_to_what_was_paid(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    member = (await factory.member(store.shop)).member
    await give_points(db, store, member.id, 1000)  # Silver: 5 % off
    order = (await place(client, store, member.id, (store.mango, 3), points_to_redeem=1000)).json()
    # 3 x 9.50 = 28.50; 1,000 points pay 10.00 (cap 50 % = 14.25)
    assert (order["subtotal"], order["points_discount"], order["total"]) == (2850, 1000, 1850)
    assert (await pay(client, store, order["id"])).status_code == 201
    earned = order["points_to_earn"]
    assert earned == 18
    assert await ledger_totals(db, member.id) == (18, 18, 18)
    line = order["lines"][0]["id"]
    first = await refund(
        client, store, order["id"], lines=[{"line_id": line, "quantity": 1}], restock=True
    )
    assert (first["amount"], first["points_returned"], first["points_reversed"]) == (616, 333, 5)
    assert await stock_of(db, store.mango) == 3
    second = await refund(client, store, order["id"], lines=[{"line_id": line, "quantity": 1}])
    assert (second["amount"], second["points_returned"], second["points_reversed"]) == (617, 333, 6)
    assert await stock_of(db, store.mango) == 3  # not returned to stock
    last = await refund(client, store, order["id"])
    assert (last["amount"], last["points_returned"], last["points_reversed"]) == (617, 334, 7)
    assert first["amount"] + second["amount"] + last["amount"] == order["total"]
    after = (await client.get(f"/api/v1/orders/{order['id']}", headers=store.shop.headers)).json()
    assert after["status"] == "refunded"
    assert after["refunded_amount"] == order["total"]
    assert after["lines"][0]["refunded_quantity"] == 3
    assert await ledger_totals(db, member.id) == (1000, 1000, 1000)
    nothing = await client.post(
        f"/api/v1/orders/{order['id']}/refunds", json={"reason": "again"}, headers=store.headers()
    )
    assert nothing.status_code == 409
    assert nothing.json()["code"] == "nothing_to_refund"
    assert await count_rows(db, Refund) == 3
    assert await count_rows(db, OrderEvent, OrderEvent.kind == "refunded") == 3


async def test_refund_input_mistakes_are_422_and_change_nothing(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    member = (await factory.member(store.shop)).member
    order = (await place(client, store, member.id, (store.mango, 2))).json()
    unpaid = await client.post(
        f"/api/v1/orders/{order['id']}/refunds", json={"reason": "x"}, headers=store.headers()
    )
    assert unpaid.status_code == 409
    assert unpaid.json()["code"] == "order_state"
    assert (await pay(client, store, order["id"])).status_code == 201
    line = order["lines"][0]["id"]
    too_many = await client.post(
        f"/api/v1/orders/{order['id']}/refunds",
        json={"reason": "x", "lines": [{"line_id": line, "quantity": 3}]},
        headers=store.headers(),
    )
    assert too_many.status_code == 422
    assert "2 of 2 left to refund, 3 asked" in too_many.json()["detail"]
    foreign = await client.post(
        f"/api/v1/orders/{order['id']}/refunds",
        json={"reason": "x", "lines": [{"line_id": order["id"], "quantity": 1}]},
        headers=store.headers(),
    )
    assert foreign.status_code == 422
    assert await count_rows(db, Refund) == 0
