"""Stock, idempotency keys and refunds under concurrency: many requests released together from a
barrier through the real HTTP stack, exact totals afterwards. The full sizes run on PostgreSQL;
SQLite (one writer at a time) runs the same races smaller."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

from httpx import AsyncClient
from sqlalchemy import func, select

from tests.concurrency import fire
from tests.factories import Factory, Shop, count_rows
from tests.membership.test_points_api import ledger_totals
from tribekit.kit.db import Database
from tribekit.members import service as members
from tribekit.members.schemas import MemberCreate
from tribekit.models.catalog import Product
from tribekit.models.coupons import Coupon
from tribekit.models.orders import Order, OrderEvent, Refund

from .store import open_store, pay, place
from .test_checkout_api import stock_of


async def many_members(db: Database, shop: Shop, n: int) -> list[uuid.UUID]:
    async with db.unit_of_work() as session:
        return [
            (
                await members.create_member(
                    session, shop.tenant, "test", MemberCreate(display_name=f"Buyer {i}")
                )
            ).member.id
            for i in range(n)
        ]


def outcome(response: Any) -> str:
    return "ok" if response.status_code == 201 else str(response.json()["code"])


async def test_2000_orders_from_500_members_for_100_units(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    big = db.dialect == "postgresql"
    orders, buyers, stock = (2000, 500, 100) if big else (200, 50, 10)
    store = await open_store(db, factory)
    product = await factory.product(store.shop, name="Flash box", price=990, stock=stock)
    member_ids = await many_members(db, store.shop, buyers)
    sampler_db = Database(db.url, pool_size=1, max_overflow=0)
    samples: list[int] = []
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            async with sampler_db.unit_of_work() as session:
                value = await session.scalar(select(Product.stock).where(Product.id == product.id))
            samples.append(int(value or 0))
            await asyncio.sleep(0.005)

    sampler = asyncio.create_task(sample())
    try:
        results = await fire(
            orders,
            lambda i: place(client, store, member_ids[i % buyers], (product, 1)),
        )
    finally:
        done.set()
        await sampler
        await sampler_db.dispose()
    counted = Counter(outcome(r) for r in results)
    assert counted == {"ok": stock, "not_enough_stock": orders - stock}
    assert await stock_of(db, product) == 0
    assert min(samples) >= 0
    assert len(samples) > 1
    async with db.unit_of_work() as session:
        sold = await session.scalar(select(func.count()).select_from(Order))
    assert sold == stock
    assert await count_rows(db, OrderEvent, OrderEvent.kind == "placed") == stock


async def test_one_idempotency_key_sent_50_times_makes_one_order(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    member = (await factory.member(store.shop)).member
    results = await fire(
        50, lambda i: place(client, store, member.id, (store.mango, 1), idempotency_key="same")
    )
    counted = Counter(outcome(r) for r in results)
    assert set(counted) <= {"ok", "idempotency_in_progress"}
    assert counted["ok"] >= 1
    bodies = {r.text for r in results if r.status_code == 201}
    assert len(bodies) == 1  # every success is the same order, replayed
    assert await count_rows(db, Order) == 1
    assert await stock_of(db, store.mango) == 4


async def test_100_concurrent_refunds_of_one_order_refund_it_once(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    member = (await factory.member(store.shop)).member
    order = (await place(client, store, member.id, (store.mango, 3), (store.cherries, 1))).json()
    assert (await pay(client, store, order["id"])).status_code == 201
    earned = order["points_to_earn"]
    assert await ledger_totals(db, member.id) == (earned, earned, earned)

    async def refund(i: int) -> Any:
        return await client.post(
            f"/api/v1/orders/{order['id']}/refunds",
            json={"reason": f"return {i}", "restock": True},
            headers=store.headers(),
        )

    counted = Counter(outcome(r) for r in await fire(100, refund))
    assert counted == {"ok": 1, "nothing_to_refund": 99}
    assert await count_rows(db, Refund) == 1
    assert await count_rows(db, OrderEvent, OrderEvent.kind == "refunded") == 1
    async with db.unit_of_work() as session:
        refunded = await session.scalar(
            select(Order.refunded_amount).where(Order.id == uuid.UUID(order["id"]))
        )
    assert refunded == order["total"]
    assert await stock_of(db, store.mango) == 5
    assert await ledger_totals(db, member.id) == (0, 0, 0)


async def test_a_coupon_limited_to_10_uses_is_used_10_times(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    created = await client.post(
        "/api/v1/coupons",
        json={"code": "welcome5", "kind": "amount", "value": 500, "usage_limit": 10},
        headers=store.shop.headers,
    )
    assert created.status_code == 201, created.text
    buyers = await many_members(db, store.shop, 60)
    results = await fire(
        60,
        lambda i: place(client, store, buyers[i], (store.cherries, 1), coupon_codes=["WELCOME5"]),
    )
    counted = Counter(outcome(r) for r in results)
    assert counted["ok"] == 10
    assert set(counted) <= {"ok", "coupon_used_up", "coupon_not_usable"}
    async with db.unit_of_work() as session:
        used = await session.scalar(select(Coupon.used))
        discounted = await session.scalar(
            select(func.count()).select_from(Order).where(Order.coupon_discount == 500)
        )
    assert (used, discounted) == (10, 10)
    one = next(r.json() for r in results if r.status_code == 201)
    cancelled = await client.post(
        f"/api/v1/orders/{one['id']}/cancel", json={"reason": "x"}, headers=store.headers()
    )
    assert cancelled.status_code == 200
    async with db.unit_of_work() as session:
        assert await session.scalar(select(Coupon.used)) == 9
    newcomer = (await factory.member(store.shop)).member
    again = await place(client, store, newcomer.id, (store.cherries, 1), coupon_codes=["welcome5"])
    assert outcome(again) == "ok"  # the cancelled order gave its use back
    async with db.unit_of_work() as session:
        assert await session.scalar(select(Coupon.used)) == 10
