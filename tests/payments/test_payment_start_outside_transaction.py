"""Starting a payment calls the provider outside the request's transaction: the pending payment
commits first, the provider is called with nothing of the request held (not the order's row,
not SQLite's writer), and a new transaction records what it answered. A start that fails at the
provider leaves the payment pending and its retry with the same key completes it; concurrent
starts make one payment and one provider session; a replay answers the stored response."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

import aiosqlite
from fastapi import FastAPI
from httpx import AsyncClient, Response
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError

from tests.concurrency import fire
from tests.factories import Factory, count_rows
from tests.orders.store import Store, key, open_store, place
from tribekit.api.state import AppState
from tribekit.kit.db import Database, sqlstate
from tribekit.models.orders import IdempotencyRecord, Order, Payment
from tribekit.orders.payments import (
    InvalidWebhook,
    PaymentRequest,
    PaymentStarted,
    RefundDone,
    RefundRequest,
    WebhookEvent,
)
from tribekit.orders.service.paying import WEBHOOK_GRACE

from .fake_stripe import FakeStripe

SESSIONS = "/v1/checkout/sessions"
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL: FOR UPDATE NOWAIT found the row locked


async def order_row(db: Database, order_id: uuid.UUID) -> str:
    """ "free" when another unit of work can lock and write the order's row at once, "held" when
    something holds it (the row lock on PostgreSQL; the write lock or the writer's turn on
    SQLite)."""
    if db.dialect == "postgresql":
        try:
            async with db.unit_of_work() as session:
                await session.execute(
                    select(Order.id).where(Order.id == order_id).with_for_update(nowait=True)
                )
        except DBAPIError as exc:
            if sqlstate(exc) != LOCK_NOT_AVAILABLE:
                raise
            return "held"
        return "free"
    # SQLite: a write from a connection of its own with a short busy timeout, then one through
    # the Database, which queues for the writer's turn first.
    path = db.url.split(":///", 1)[1]
    async with aiosqlite.connect(path, timeout=0.2, isolation_level=None) as conn:
        try:
            await conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:  # database is locked
            return "held"
        cursor = await conn.execute(
            "UPDATE orders SET expires_at = expires_at WHERE id = ?", (order_id.hex,)
        )
        assert cursor.rowcount == 1
        await conn.execute("COMMIT")
    try:
        async with asyncio.timeout(1), db.unit_of_work() as session:
            await session.execute(
                update(Order).where(Order.id == order_id).values(expires_at=Order.expires_at)
            )
    except TimeoutError:
        return "held"
    return "free"


class LockProbe:
    """A payment provider for these tests: its ``start`` looks, from another unit of work,
    whether the order's row is free while it runs, and records what it saw in ``seen``.
    ``external`` is what the provider says of itself (False: no I/O, like the manual one).
    ``during_start``: one call made inside the next ``start`` (a twin request)."""

    def __init__(self, db: Database, *, name: str = "stripe", external: bool = True) -> None:
        self.db = db
        self.name = name
        self.external = external
        self.seen: list[str] = []
        self.requests: list[PaymentRequest] = []
        self.during_start: Callable[[], Awaitable[None]] | None = None

    async def start(self, request: PaymentRequest) -> PaymentStarted:
        self.requests.append(request)
        self.seen.append(await order_row(self.db, request.order_id))
        call, self.during_start = self.during_start, None
        if call is not None:
            await call()
        if not self.external:
            return PaymentStarted(f"probe:{request.payment_id}", None, "Pay at the counter")
        return PaymentStarted(
            f"probe_{request.payment_id}", f"https://pay.example/{request.payment_id}"
        )

    async def refund(self, request: RefundRequest) -> RefundDone:
        return RefundDone(provider_ref=None)

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        raise InvalidWebhook("the probe takes no webhooks")


def register(app: FastAPI, probe: LockProbe) -> None:
    state: AppState = app.state.tribekit
    state.providers = {**state.providers, probe.name: probe}


async def start(
    client: AsyncClient, order_id: str, headers: dict[str, str], provider: str = "stripe"
) -> Response:
    return await client.post(
        f"/api/v1/orders/{order_id}/payments", json={"provider": provider}, headers=headers
    )


async def payments_of(db: Database, order_id: str) -> list[Payment]:
    async with db.unit_of_work(read_only=True) as session:
        stmt = select(Payment).where(Payment.order_id == uuid.UUID(order_id))
        return list((await session.scalars(stmt)).all())


async def order_expiry(db: Database, order_id: str) -> datetime:
    async with db.unit_of_work(read_only=True) as session:
        expires_at = await session.scalar(
            select(Order.expires_at).where(Order.id == uuid.UUID(order_id))
        )
    assert expires_at is not None
    return expires_at


async def stored_answers(db: Database, idempotency_key: str) -> int:
    return await count_rows(db, IdempotencyRecord, IdempotencyRecord.key == idempotency_key)


async def placed_order(client: AsyncClient, store: Store, factory: Factory) -> str:
    member = (await factory.member(store.shop)).member
    placed = await place(client, store, member.id, (store.cherries, 1))
    assert placed.status_code == 201, placed.text
    return str(placed.json()["id"])


# -- nothing of the request is held while the provider runs ---------------------------------------


async def test_the_provider_starts_with_nothing_of_the_request_held(
    stripe_app: FastAPI, stripe_client: AsyncClient, db: Database, factory: Factory
) -> None:
    client = stripe_client
    probe = LockProbe(db)
    register(stripe_app, probe)
    store = await open_store(db, factory)
    order_id = await placed_order(client, store, factory)

    started = await start(client, order_id, store.headers())

    assert started.status_code == 201, started.text
    assert probe.seen == ["free"]
    [request] = probe.requests
    [payment] = await payments_of(db, order_id)
    assert request.idempotency_key == f"payment:{payment.id}"
    assert (payment.status, payment.provider_ref, payment.redirect_url) == (
        "pending",
        f"probe_{payment.id}",
        f"https://pay.example/{payment.id}",
    )
    body = started.json()
    assert (body["id"], body["redirect_url"]) == (str(payment.id), payment.redirect_url)
    # The order waits for the provider's page, and for its webhook 5 minutes more.
    assert request.expires_at is not None
    assert await order_expiry(db, order_id) == request.expires_at + WEBHOOK_GRACE


async def test_a_provider_without_io_starts_inside_the_one_transaction(
    stripe_app: FastAPI, stripe_client: AsyncClient, db: Database, factory: Factory
) -> None:
    client = stripe_client
    probe = LockProbe(db, name="manual", external=False)
    register(stripe_app, probe)
    store = await open_store(db, factory)
    member = (await factory.member(store.shop)).member
    placed = await place(client, store, member.id, (store.cherries, 1))
    order_id = placed.json()["id"]
    link = await client.post(
        f"/api/v1/members/{member.id}/access-links", headers=store.shop.headers
    )
    me = {"Authorization": f"Bearer {link.json()['token']}", "Idempotency-Key": key()}

    started = await client.post(
        f"/api/v1/me/orders/{order_id}/payments", json={"provider": "manual"}, headers=me
    )

    assert started.status_code == 201, started.text
    assert probe.seen == ["held"]  # the order stayed locked: no mid-way commit
    [payment] = await payments_of(db, order_id)
    assert (payment.provider_ref, payment.redirect_url, payment.instructions) == (
        f"probe:{payment.id}",
        None,
        "Pay at the counter",
    )
    assert started.json()["instructions"] == "Pay at the counter"
    # Nothing to wait for: the order expires when it was placed to.
    assert await order_expiry(db, order_id) == datetime.fromisoformat(placed.json()["expires_at"])


# -- a twin that ran while the first called out --------------------------------------------------


async def test_a_twin_that_stored_its_answer_meanwhile_is_replayed(
    stripe_app: FastAPI, stripe_client: AsyncClient, db: Database, factory: Factory
) -> None:
    client = stripe_client
    probe = LockProbe(db)
    register(stripe_app, probe)
    store = await open_store(db, factory)
    order_id = await placed_order(client, store, factory)
    same = store.headers()
    twins: list[Response] = []

    async def twin() -> None:
        # The first request's key went with its mid-way commit: the same request gets it (and
        # does not wait for the first one, which waits for it).
        async with asyncio.timeout(10):
            twins.append(await start(client, order_id, same))

    probe.during_start = twin

    first = await start(client, order_id, same)

    [second] = twins
    assert (second.status_code, second.headers.get("Idempotent-Replayed")) == (201, None)
    assert (first.status_code, first.headers.get("Idempotent-Replayed")) == (201, "true")
    assert first.json() == second.json()
    [payment] = await payments_of(db, order_id)
    assert second.json()["redirect_url"] == f"https://pay.example/{payment.id}"
    assert [r.payment_id for r in probe.requests] == [payment.id, payment.id]
    assert await stored_answers(db, same["Idempotency-Key"]) == 1


# -- a provider failure, and the retry that completes it ------------------------------------------


async def test_a_start_the_provider_failed_is_completed_by_its_retry(
    stripe_client: AsyncClient, fake_stripe: FakeStripe, db: Database, factory: Factory
) -> None:
    client = stripe_client
    store = await open_store(db, factory)
    order_id = await placed_order(client, store, factory)
    same = store.headers()
    fake_stripe.fail_with = 503

    failed = await start(client, order_id, same)

    assert failed.status_code == 502, failed.text
    assert failed.json()["code"] == "payment_provider_unavailable"
    [pending] = await payments_of(db, order_id)
    assert (pending.status, pending.provider_ref, pending.redirect_url) == ("pending", None, None)
    assert fake_stripe.sessions == {}
    assert await stored_answers(db, same["Idempotency-Key"]) == 0
    kept_open = await order_expiry(db, order_id)
    tried = len(fake_stripe.requests_to("POST", SESSIONS))

    fake_stripe.fail_with = None
    retried = await start(client, order_id, same)

    assert retried.status_code == 201, retried.text
    [payment] = await payments_of(db, order_id)
    [(session_id, session)] = fake_stripe.sessions.items()
    assert payment.id == pending.id
    assert (payment.provider_ref, payment.redirect_url) == (session_id, session["url"])
    assert retried.json()["redirect_url"] == session["url"]
    calls = fake_stripe.requests_to("POST", SESSIONS)
    assert len(calls) == tried + 1
    assert {c.idempotency_key for c in calls} == {f"payment:{payment.id}"}
    # The retry asked for the page the first start asked for; the order waits for it as before.
    assert calls[-1].form["expires_at"] == calls[0].form["expires_at"]
    assert await order_expiry(db, order_id) == kept_open
    assert int((kept_open - WEBHOOK_GRACE).timestamp()) == session["expires_at"]

    replayed = await start(client, order_id, same)

    assert (replayed.status_code, replayed.headers["Idempotent-Replayed"]) == (201, "true")
    assert replayed.json() == retried.json()
    assert len(fake_stripe.requests_to("POST", SESSIONS)) == tried + 1
    # Another key finds the started payment and does not call the provider again.
    again = await start(client, order_id, store.headers())
    assert again.status_code == 201, again.text
    assert again.headers.get("Idempotent-Replayed") is None
    assert again.json() == retried.json()
    assert len(fake_stripe.requests_to("POST", SESSIONS)) == tried + 1
    assert len(await payments_of(db, order_id)) == 1


async def test_a_server_error_the_provider_keeps_under_the_key_gives_the_payment_up(
    stripe_client: AsyncClient, fake_stripe: FakeStripe, db: Database, factory: Factory
) -> None:
    """Stripe keeps a 500 under its idempotency key for a day: retrying that key could never
    succeed, so the payment fails at once and the retry starts a new one with a new key."""
    client = stripe_client
    store = await open_store(db, factory)
    order_id = await placed_order(client, store, factory)
    same = store.headers()
    fake_stripe.fail_with = 500

    failed = await start(client, order_id, same)

    assert failed.status_code == 502, failed.text
    [given_up] = await payments_of(db, order_id)
    assert (given_up.status, given_up.provider_ref) == ("failed", None)
    assert await stored_answers(db, same["Idempotency-Key"]) == 0

    fake_stripe.fail_with = None
    retried = await start(client, order_id, same)

    assert retried.status_code == 201, retried.text
    payments = {p.id: p for p in await payments_of(db, order_id)}
    assert len(payments) == 2
    payment = payments[uuid.UUID(retried.json()["id"])]
    assert payment.id != given_up.id
    assert payment.status == "pending"
    keys = [c.idempotency_key for c in fake_stripe.requests_to("POST", SESSIONS)]
    assert keys[-1] == f"payment:{payment.id}"
    assert f"payment:{given_up.id}" in keys[:-1]


# -- concurrent starts ----------------------------------------------------------------------------


async def test_concurrent_starts_with_other_keys_make_one_payment_and_one_session(
    stripe_client: AsyncClient, fake_stripe: FakeStripe, db: Database, factory: Factory
) -> None:
    client = stripe_client
    n = 8 if db.dialect == "postgresql" else 4
    store = await open_store(db, factory)
    order_id = await placed_order(client, store, factory)
    keys = [store.headers() for _ in range(n)]

    responses = await fire(n, lambda i: start(client, order_id, keys[i]))

    assert [r.status_code for r in responses] == [201] * n, [r.text for r in responses]
    [payment] = await payments_of(db, order_id)
    [(session_id, session)] = fake_stripe.sessions.items()
    assert payment.provider_ref == session_id
    assert {r.json()["redirect_url"] for r in responses} == {session["url"]}
    assert {r.json()["id"] for r in responses} == {str(payment.id)}
    calls = fake_stripe.requests_to("POST", SESSIONS)
    assert {c.idempotency_key for c in calls} == {f"payment:{payment.id}"}
    assert {c.form["expires_at"] for c in calls} == {str(session["expires_at"])}
    for headers, first in zip(keys, responses, strict=True):
        replayed = await start(client, order_id, headers)
        assert (replayed.status_code, replayed.headers["Idempotent-Replayed"]) == (201, "true")
        assert replayed.json() == first.json()


async def test_concurrent_starts_with_one_key_make_one_payment_and_one_session(
    stripe_client: AsyncClient, fake_stripe: FakeStripe, db: Database, factory: Factory
) -> None:
    client = stripe_client
    n = 8 if db.dialect == "postgresql" else 4
    store = await open_store(db, factory)
    order_id = await placed_order(client, store, factory)
    same = store.headers()

    responses = await fire(n, lambda i: start(client, order_id, same))

    done = [r for r in responses if r.status_code == 201]
    busy = [r for r in responses if r.status_code != 201]
    # On PostgreSQL a duplicate that arrives while the first holds the key is told so at once
    # (409); SQLite's one writer makes it wait its turn and replay.
    assert done, [r.text for r in responses]
    assert [(r.status_code, r.json()["code"]) for r in busy] == [
        (409, "idempotency_in_progress")
    ] * len(busy)
    if db.dialect == "sqlite":
        assert busy == []
    [payment] = await payments_of(db, order_id)
    [(session_id, session)] = fake_stripe.sessions.items()
    assert payment.provider_ref == session_id
    assert {r.json()["redirect_url"] for r in done} == {session["url"]}
    assert {c.idempotency_key for c in fake_stripe.requests_to("POST", SESSIONS)} == {
        f"payment:{payment.id}"
    }
    assert await stored_answers(db, same["Idempotency-Key"]) == 1
    replayed = await start(client, order_id, same)
    assert (replayed.status_code, replayed.headers["Idempotent-Replayed"]) == (201, "true")
    assert replayed.json() == done[0].json()
