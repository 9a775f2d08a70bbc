"""The burst, through the real HTTP route, released together from a barrier: exact totals
afterwards. The issue's sizes run on PostgreSQL; SQLite (one writer) runs the same races
smaller."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from httpx import AsyncClient
from sqlalchemy import func, select

from tests.concurrency import fire
from tests.factories import Factory
from tribekit.kit.db import Database
from tribekit.models.campaigns import FlashReservation
from tribekit.models.orders import Order, OrderEvent, OrderLine

from .world import (
    buy,
    flash_headers,
    flash_shop,
    live_sale,
    many_members,
    reservations,
    sale_row,
    stock,
    takes,
)


def outcome(response: Any) -> str:
    return "won" if response.status_code == 201 else str(response.json()["code"])


async def _rows(db: Database, sale_id: str) -> tuple[int, int, int, int]:
    """Orders, their lines, their units and their 'placed' events written for the sale."""
    sale = uuid.UUID(sale_id)
    async with db.unit_of_work(read_only=True) as session:
        orders = await session.scalar(
            select(func.count()).select_from(Order).where(Order.campaign_id == sale)
        )
        lines, units = (
            await session.execute(
                select(func.count(), func.coalesce(func.sum(OrderLine.quantity), 0))
                .join(Order, Order.id == OrderLine.order_id)
                .where(Order.campaign_id == sale)
            )
        ).one()
        placed = await session.scalar(
            select(func.count())
            .select_from(OrderEvent)
            .join(Order, Order.id == OrderEvent.order_id)
            .where(Order.campaign_id == sale, OrderEvent.kind == "placed")
        )
    return int(orders or 0), int(lines), int(units), int(placed or 0)


async def test_10000_attempts_from_2000_members_for_100_units(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    big = db.dialect == "postgresql"
    attempts, buyers, units = (10_000, 2_000, 100) if big else (600, 120, 10)
    world = await flash_shop(db, factory, stock=units + 50)
    sale_id = await live_sale(client, db, world, quantity=units, per_member_limit=2)
    members = await many_members(db, world.shop, buyers)
    headers = [flash_headers(world.shop, m) for m in members]
    results = await fire(attempts, lambda i: buy(client, sale_id, headers[i % buyers]))
    counted = Counter(outcome(r) for r in results)
    assert all(r.status_code < 500 for r in results)
    assert counted["won"] == units
    assert set(counted) <= {"won", "sold_out", "limit_reached"}
    assert sum(counted.values()) == attempts
    held = await reservations(db, sale_id)
    assert len(held) == units
    assert sum(r.quantity for r in held) == units  # 0 oversell
    assert {r.id for r in held} == {
        uuid.UUID(r.json()["reservation_id"]) for r in results if r.status_code == 201
    }
    per_member = Counter(r.member_id for r in held)
    assert max(per_member.values()) <= 2
    assert await takes(db, sale_id) == dict(per_member)
    assert await _rows(db, sale_id) == (units, units, units, units)
    row = await sale_row(db, sale_id)
    assert (row.remaining, row.status, row.allotted) == (0, "sold_out", units)
    assert row.sold_out_at is not None
    assert await stock(db, world.product) == 50  # the allotment only: product stock untouched


async def test_one_member_firing_500_attempts_with_a_limit_of_2_gets_2(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    attempts = 500 if db.dialect == "postgresql" else 100
    world = await flash_shop(db, factory, stock=100)
    sale_id = await live_sale(client, db, world, quantity=100, per_member_limit=2)
    member = (await factory.member(world.shop)).member.id
    headers = flash_headers(world.shop, member)
    results = await fire(attempts, lambda _: buy(client, sale_id, headers))
    counted = Counter(outcome(r) for r in results)
    assert counted == {"won": 2, "limit_reached": attempts - 2}
    held = await reservations(db, sale_id)
    assert sum(r.quantity for r in held) == 2
    assert await takes(db, sale_id) == {member: 2}
    row = await sale_row(db, sale_id)
    assert row.remaining == 98
    async with db.unit_of_work(read_only=True) as session:
        orders = await session.scalar(
            select(func.count())
            .select_from(FlashReservation)
            .where(FlashReservation.member_id == member)
        )
    assert orders == 2
