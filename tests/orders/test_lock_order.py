"""One lock order (``kit.locks``): the tracker refuses a lock out of order, in the real
repositories; and the interleaving that deadlocked a restocking refund against a checkout with
points on PostgreSQL now runs through, forced statement by statement."""

from __future__ import annotations

import asyncio
import contextvars
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import event
from sqlalchemy.util import await_only

from tests.conftest import SECRET, Databases, _empty_tables, test_settings
from tests.factories import Factory
from tests.membership.test_points_api import ledger_totals
from tribekit.api.app import create_app
from tribekit.catalog.repository import Products
from tribekit.kit import locks
from tribekit.kit.db import Database
from tribekit.kit.locks import LockOrderViolation, Rank
from tribekit.membership.repository import Accounts
from tribekit.orders.repository import Orders

from .store import give_points, open_store, pay, place
from .test_checkout_api import stock_of


async def test_a_product_after_the_member_account_is_refused(
    db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    member = (await factory.member(store.shop)).member
    tenant = store.shop.tenant

    async def account_then_product() -> None:
        async with db.unit_of_work() as session:
            await Accounts(session, tenant.id).lock(member.id)
            await Products(session, tenant.id).take_stock(store.mango.id, 1)

    with pytest.raises(LockOrderViolation) as refused:
        await account_then_product()
    assert str(refused.value) == (
        f"asked to lock PRODUCT {store.mango.id} while holding ACCOUNT {member.id}: lock in the "
        "order of tribekit.kit.locks.Rank (order, campaign, products, membership account, coupons)"
    )
    assert await stock_of(db, store.mango) == 5  # refused before the statement was sent


async def test_products_are_locked_in_id_order(db: Database, factory: Factory) -> None:
    store = await open_store(db, factory)
    tenant = store.shop.tenant
    member = (await factory.member(store.shop)).member
    low, high = sorted([store.mango.id, store.cherries.id])

    async def high_then_low() -> None:
        async with db.unit_of_work() as session:
            await Products(session, tenant.id).take_stock(high, 1)
            await Products(session, tenant.id).take_stock(low, 1)

    with pytest.raises(LockOrderViolation) as refused:
        await high_then_low()
    assert str(refused.value) == (
        f"asked to lock PRODUCT {low} after PRODUCT {high}: rows of one rank are locked in id "
        "order (lock them all at once, or up front)"
    )
    async with db.unit_of_work() as session:  # a new transaction starts with nothing held
        products = Products(session, tenant.id)
        await products.lock_in_order([high, low])  # all at once: fine
        assert await products.take_stock(low, 1)
        assert await products.take_stock(high, 1)  # held already: asking again never waits
        await Accounts(session, tenant.id).lock(member.id)
        assert await products.take_stock(store.mango.id, 1)  # held: fine after the account
    assert await stock_of(db, store.mango) == 3


async def test_an_order_after_its_products_is_refused_unless_this_transaction_made_it(
    db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    tenant = store.shop.tenant
    member = (await factory.member(store.shop)).member
    async with db.unit_of_work() as session:
        order_id = uuid.uuid4()
        locks.acquire(session, Rank.PRODUCT, [store.mango.id])
        locks.created(session, Rank.ORDER, order_id)
        assert locks.acquire(session, Rank.ORDER, [order_id]) == []  # its own new order
        assert locks.holds(session, Rank.ORDER, order_id)
        with pytest.raises(LockOrderViolation, match="asked to lock ORDER"):
            await Orders(session, tenant.id).get(uuid.uuid4(), for_update=True)
        await Accounts(session, tenant.id).lock(member.id)


async def test_skip_locked_claims_are_not_checked_but_count_as_held(db: Database) -> None:
    ids = sorted(uuid.uuid4() for _ in range(3))
    async with db.unit_of_work() as session:
        locks.acquire(session, Rank.ACCOUNT, [uuid.uuid4()])
        claimed = locks.acquire(session, Rank.ORDER, [ids[2], ids[0]], skip_locked=True)
        assert claimed == [ids[0], ids[2]]
        with pytest.raises(LockOrderViolation, match=f"ORDER {ids[1]} while holding ACCOUNT"):
            locks.acquire(session, Rank.ORDER, [ids[1]])
    async with db.unit_of_work() as session:
        locks.only_new_rows(session)  # the demo seed: every row is its own, nobody waits
        locks.acquire(session, Rank.COUPON, [ids[2]])
        assert locks.acquire(session, Rank.ORDER, [ids[1], ids[0]]) == [ids[0], ids[1]]


# ---- the forced interleaving on PostgreSQL ---------------------------------------------------

_role: contextvars.ContextVar[str] = contextvars.ContextVar("role", default="")


def _kind(statement: str) -> str | None:
    """Which ranked lock a statement takes: products (stock) or the membership account."""
    if statement.startswith("UPDATE products"):
        return "products"
    if "membership_accounts" in statement and (
        "FOR UPDATE" in statement or statement.startswith("INSERT")
    ):
        return "account"
    return None


class Interleaving:
    """The refund runs until it holds its first ranked lock after the order and pauses before
    the second; the checkout then sends its stock update; 0.3 s later the refund goes on. With
    the old order (refund: account, then products) this is the deadlock: the checkout holds the
    product and waits for the account, the refund holds the account and waits for the product."""

    def __init__(self) -> None:
        self.refund_paused = asyncio.Event()
        self.checkout_sent = asyncio.Event()
        self.first: str | None = None
        self.seen: list[tuple[str, str]] = []
        self.deadlocks: list[str] = []

    def before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        kind, role = _kind(statement), _role.get()
        if kind is None or not role:
            return
        if role == "refund" and self.first is None:
            self.first = kind
        elif role == "refund" and kind != self.first and not self.refund_paused.is_set():
            self.refund_paused.set()
            await_only(self.checkout_sent.wait())
            await_only(asyncio.sleep(0.3))
        self.seen.append((role, kind))  # the statement goes to the database now
        if role == "checkout" and kind == "products":
            self.checkout_sent.set()

    def error(self, context: Any) -> None:
        if "deadlock detected" in str(context.original_exception):
            self.deadlocks.append(_role.get())

    @contextmanager
    def installed(self, db: Database) -> Iterator[None]:
        engine = db.engine.sync_engine
        event.listen(engine, "before_cursor_execute", self.before)
        event.listen(engine, "handle_error", self.error)
        try:
            yield
        finally:
            event.remove(engine, "before_cursor_execute", self.before)
            event.remove(engine, "handle_error", self.error)


@pytest.fixture
async def pg(databases: Databases) -> AsyncIterator[Database]:
    """PostgreSQL only: on SQLite one writer at a time makes this interleaving impossible."""
    database = await databases.get("postgresql")
    yield database
    await _empty_tables(database)


@pytest.fixture
async def pg_client(pg: Database) -> AsyncIterator[AsyncClient]:
    app: FastAPI = create_app(test_settings(pg), db=pg)
    async with app.router.lifespan_context(app):
        transport = ASGITransport(app=app, raise_app_exceptions=False)
        async with AsyncClient(transport=transport, base_url="http://tribekit.test") as http:
            yield http


async def test_a_restocking_refund_and_a_checkout_with_points_do_not_deadlock(
    pg: Database, pg_client: AsyncClient
) -> None:
    client = pg_client
    store = await open_store(pg, Factory(pg, SECRET))
    member = (await Factory(pg, SECRET).member(store.shop)).member
    await give_points(pg, store, member.id, 1000)
    first = (await place(client, store, member.id, (store.mango, 2))).json()
    assert (await pay(client, store, first["id"])).status_code == 201
    earned = first["points_to_earn"]
    assert await stock_of(pg, store.mango) == 3
    interleaving = Interleaving()

    async def refund() -> Any:
        _role.set("refund")
        return await client.post(
            f"/api/v1/orders/{first['id']}/refunds",
            json={"reason": "bruised", "restock": True},
            headers=store.headers(),
        )

    async def checkout() -> Any:
        _role.set("checkout")
        return await place(client, store, member.id, (store.mango, 1), points_to_redeem=200)

    with interleaving.installed(pg):
        refunding = asyncio.create_task(refund())
        await asyncio.wait_for(interleaving.refund_paused.wait(), 10)
        checking_out = asyncio.create_task(checkout())
        refunded, placed = await asyncio.wait_for(asyncio.gather(refunding, checking_out), 30)

    assert interleaving.deadlocks == []
    assert refunded.status_code == 201, refunded.text
    assert placed.status_code == 201, placed.text
    # The interleaving happened as forced: the refund took the product, then (after the checkout
    # had asked for the product) the account; the checkout got the product after the refund.
    assert interleaving.seen[:3] == [
        ("refund", "products"),
        ("checkout", "products"),
        ("refund", "account"),
    ]
    assert placed.json()["points_redeemed"] == 200
    assert await stock_of(pg, store.mango) == 4  # 3 + 2 back - 1 bought
    balance = 1000 + earned - earned - 200
    assert await ledger_totals(pg, member.id) == (balance, balance, balance)
