"""Unpaid reservations expire after their TTL and their units come back exactly once, with
workers racing; a cancelled order gives its units back to the sale (never to the product's
stock while the sale sells); a paid reservation is kept."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from httpx import AsyncClient
from sqlalchemy import select

from tests.concurrency import fire
from tests.conftest import SECRET
from tests.factories import Factory
from tests.orders.store import key
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.members import access
from tribekit.models.orders import Order

from .world import (
    buy,
    end_sales,
    expire_reservations,
    flash_headers,
    flash_shop,
    live_sale,
    many_members,
    reservations,
    runtime_of,
    sale_row,
    stock,
    takes,
)


async def test_1000_abandoned_reservations_all_come_back_once_within_5_s_of_their_ttl(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    big = db.dialect == "postgresql"
    n = 1000 if big else 100
    world = await flash_shop(db, factory, stock=n)
    sale_id = await live_sale(
        client, db, world, quantity=n, per_member_limit=1, reservation_ttl_seconds=60
    )
    members = await many_members(db, world.shop, n)
    results = await fire(n, lambda i: buy(client, sale_id, flash_headers(world.shop, members[i])))
    assert [r.status_code for r in results].count(201) == n
    held = await reservations(db, sale_id)
    assert (await sale_row(db, sale_id)).remaining == 0
    first = min(r.expires_at for r in held)
    last = max(r.expires_at for r in held)
    with clock.frozen_at(first - timedelta(seconds=1)) as frozen:
        assert await expire_reservations(db) == 0  # not a second early
        # The worker's turn comes every second; two workers race on PostgreSQL.
        while frozen.now() <= last + timedelta(seconds=5):
            frozen.advance(timedelta(seconds=1))
            runs = [expire_reservations(db) for _ in range(2 if big else 1)]
            await asyncio.gather(*runs)
    settled = await reservations(db, sale_id)
    assert {r.status for r in settled} == {"expired"}
    lateness = [(r.settled_at - r.expires_at).total_seconds() for r in settled if r.settled_at]
    assert len(lateness) == n
    assert min(lateness) >= 0
    assert max(lateness) <= 5
    row = await sale_row(db, sale_id)
    assert (row.remaining, row.status, row.returned) == (n, "live", 0)  # each unit back once
    assert set((await takes(db, sale_id)).values()) == {0}
    async with db.unit_of_work(read_only=True) as session:
        statuses = set(
            (
                await session.scalars(
                    select(Order.status).where(Order.campaign_id == uuid.UUID(sale_id))
                )
            ).all()
        )
    assert statuses == {"expired"}
    with clock.frozen_at(last + timedelta(minutes=5)):
        assert await expire_reservations(db) == 0  # nothing twice
    assert (await sale_row(db, sale_id)).remaining == n
    assert await stock(db, world.product) == 0  # the allotment is the sale's until it ends
    await asyncio.sleep(runtime_of(db).live.sold_out_hold)  # the sold-out flag lapses
    again = await buy(client, sale_id, flash_headers(world.shop, members[0]))
    assert again.status_code == 201, again.text  # the units sell again, the limit afresh


async def test_a_cancelled_order_gives_its_units_back_to_the_sale(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    world = await flash_shop(db, factory, stock=10)
    sale_id = await live_sale(client, db, world, quantity=2, per_member_limit=2)
    member = (await factory.member(world.shop)).member.id
    bought = await buy(client, sale_id, flash_headers(world.shop, member), quantity=2)
    assert (await sale_row(db, sale_id)).status == "sold_out"
    link, _ = access.issue_link(SECRET, world.shop.tenant, member)
    cancelled = await client.post(
        f"/api/v1/me/orders/{bought.json()['order_id']}/cancel",
        json={"reason": "changed my mind"},
        headers={"Authorization": f"Bearer {link}", "Idempotency-Key": key()},
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    row = await sale_row(db, sale_id)
    assert (row.remaining, row.status) == (2, "live")  # sold out no more
    assert await stock(db, world.product) == 8  # not into the product's stock
    assert await takes(db, sale_id) == {member: 0}
    [reservation] = await reservations(db, sale_id)
    assert reservation.status == "cancelled"
    with clock.frozen_at(row.ends_at + timedelta(seconds=1)):
        assert await end_sales(db) == 1
    assert await stock(db, world.product) == 10
    assert (await sale_row(db, sale_id)).returned == 2


async def test_a_paid_reservation_is_kept_and_counted_sold(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    world = await flash_shop(db, factory, stock=10)
    sale_id = await live_sale(client, db, world, quantity=5, reservation_ttl_seconds=60)
    member = (await factory.member(world.shop)).member.id
    bought = await buy(client, sale_id, flash_headers(world.shop, member))
    link, _ = access.issue_link(SECRET, world.shop.tenant, member)
    started = await client.post(
        bought.json()["pay_url"],
        json={"provider": "manual"},
        headers={"Authorization": f"Bearer {link}", "Idempotency-Key": key()},
    )
    assert started.status_code == 201, started.text
    order_id = bought.json()["order_id"]
    paid = await client.post(
        f"/api/v1/orders/{order_id}/payments",
        json={"provider": "manual", "reference": "cash"},
        headers={**world.shop.headers, "Idempotency-Key": key()},
    )
    assert paid.status_code == 201, paid.text
    [reservation] = await reservations(db, sale_id)
    assert reservation.status == "paid"
    with clock.frozen_at(reservation.expires_at + timedelta(minutes=1)):
        assert await expire_reservations(db) == 0
    row = await sale_row(db, sale_id)
    assert row.remaining == 4
    with clock.frozen_at(row.ends_at + timedelta(seconds=1)):
        assert await end_sales(db) == 1
    ended = await sale_row(db, sale_id)
    assert (ended.returned, ended.status) == (4, "ended")
    assert await stock(db, world.product) == 9  # 10 - 5 allotted + 4 unsold
    got = await client.get(f"/api/v1/flash-sales/{sale_id}", headers=world.shop.headers)
    assert got.json()["counts"] == {
        "allotted": 5,
        "reserved": 0,
        "paid": 1,
        "expired": 0,
        "returned": 4,
        "left": 0,
    }


async def test_one_expiry_batch_gives_units_back_to_several_shops_stock(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    worlds = [await flash_shop(db, factory, stock=5) for _ in range(3)]
    sales = []
    for world in worlds:
        sale_id = await live_sale(client, db, world, quantity=5, reservation_ttl_seconds=60)
        member = (await factory.member(world.shop)).member.id
        assert (await buy(client, sale_id, flash_headers(world.shop, member))).status_code == 201
        sales.append(sale_id)
    ends = max([(await sale_row(db, s)).ends_at for s in sales])
    with clock.frozen_at(ends + timedelta(seconds=1)):
        assert await end_sales(db) == 3
    for world in worlds:
        assert await stock(db, world.product) == 4  # the reserved unit is still held
    with clock.frozen_at(ends + timedelta(minutes=5)):
        assert await expire_reservations(db) == 3  # one batch, three shops' products
    for world, sale_id in zip(worlds, sales, strict=True):
        assert await stock(db, world.product) == 5
        assert (await sale_row(db, sale_id)).returned == 5
