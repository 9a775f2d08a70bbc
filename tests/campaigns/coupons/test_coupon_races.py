"""Coupons under concurrency: orders released together from a barrier through the real HTTP
stack, exact totals afterwards. A single-use coupon is used once by 100 members at once; a
coupon of 1,000 uses is used exactly 1,000 times by 5,000 attempts; a coupon granted to one
member, sent on 50 orders of theirs at once, is used once. The full sizes run on PostgreSQL;
SQLite (one writer at a time) runs the same races smaller."""

from __future__ import annotations

import uuid
from collections import Counter

from httpx import AsyncClient
from sqlalchemy import func, select

from tests.concurrency import fire
from tests.factories import Factory
from tests.orders.store import open_store, place
from tests.orders.test_orders_concurrency import many_members, outcome
from tribekit.campaigns.coupons import grants
from tribekit.kit.db import Database
from tribekit.models.coupons import Coupon, CouponGrant, CouponRedemption
from tribekit.models.orders import Order

from .book import make_coupon

LOSING = {"coupon_used_up", "coupon_not_usable"}


async def _totals(db: Database, coupon_id: str) -> tuple[int, int, int]:
    """The coupon's uses, its redemptions, and the orders it took money off."""
    async with db.unit_of_work() as session:
        used = await session.scalar(select(Coupon.used).where(Coupon.id == uuid.UUID(coupon_id)))
        redemptions = await session.scalar(
            select(func.count())
            .select_from(CouponRedemption)
            .where(CouponRedemption.coupon_id == uuid.UUID(coupon_id))
        )
        discounted = await session.scalar(
            select(func.count()).select_from(Order).where(Order.coupon_discount > 0)
        )
    return int(used or 0), int(redemptions or 0), int(discounted or 0)


async def test_a_single_use_coupon_is_used_once_by_100_members_at_once(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    n = 100 if db.dialect == "postgresql" else 20
    store = await open_store(db, factory)
    once = await make_coupon(client, store.shop, code="ONLY-ONE", usage_limit=1)
    buyers = await many_members(db, store.shop, n)
    results = await fire(
        n, lambda i: place(client, store, buyers[i], (store.cherries, 1), coupon_codes=["ONLY-ONE"])
    )
    counted = Counter(outcome(r) for r in results)
    assert counted["ok"] == 1
    assert set(counted) - {"ok"} <= LOSING
    assert sum(counted.values()) == n
    assert await _totals(db, once["id"]) == (1, 1, 1)


async def test_a_coupon_of_1000_uses_is_used_1000_times_under_5000_attempts(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    big = db.dialect == "postgresql"
    attempts, limit, buyers_n = (5000, 1000, 1000) if big else (200, 40, 40)
    store = await open_store(db, factory)
    thousand = await make_coupon(
        client, store.shop, code="THOUSAND", usage_limit=limit, per_member_limit=None
    )
    buyers = await many_members(db, store.shop, buyers_n)
    results = await fire(
        attempts,
        lambda i: place(
            client, store, buyers[i % buyers_n], (store.cherries, 1), coupon_codes=["THOUSAND"]
        ),
    )
    counted = Counter(outcome(r) for r in results)
    assert counted["ok"] == limit
    assert set(counted) - {"ok"} <= LOSING
    assert await _totals(db, thousand["id"]) == (limit, limit, limit)


async def test_a_granted_coupon_sent_on_50_orders_of_its_member_at_once_is_used_once(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    n = 50 if db.dialect == "postgresql" else 10
    store = await open_store(db, factory)
    gift = await make_coupon(client, store.shop, code="MINE", issue_mode="grant", valid_days=30)
    member_id = (await factory.member(store.shop)).member.id
    async with db.unit_of_work() as session:
        made = await grants.grant(
            session, store.shop.tenant, member_id, uuid.UUID(gift["id"]), "staff"
        )
    assert len(made) == 1
    results = await fire(
        n, lambda i: place(client, store, member_id, (store.cherries, 1), coupon_codes=["MINE"])
    )
    counted = Counter(outcome(r) for r in results)
    assert counted == {"ok": 1, "coupon_used_up": n - 1}
    winner = next(r.json()["id"] for r in results if r.status_code == 201)
    assert await _totals(db, gift["id"]) == (1, 1, 1)
    async with db.unit_of_work() as session:
        taken_by = await session.scalar(select(CouponGrant.order_id))
    assert str(taken_by) == winner
