"""Flash sales on the Redis engine: this process's runtime with a Redis engine on the test
Redis database (a bounded pool, as production's), many members at once, and counts of what
the database holds for a sale."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import NamedTuple

import pytest
from httpx import AsyncClient
from redis.asyncio import Redis
from sqlalchemy import func, insert, select

from tests.conftest import REDIS_URL, SECRET
from tests.factories import Factory
from tribekit.campaigns.flash import runtime as flash_runtime
from tribekit.campaigns.flash.engine import Attempt, LiveSale
from tribekit.campaigns.flash.live import LiveSales, read_sale
from tribekit.campaigns.flash.redis_engine import RedisEngine
from tribekit.campaigns.flash.runtime import FlashRuntime
from tribekit.campaigns.flash.sql_engine import SqlEngine
from tribekit.campaigns.flash.tokens import REFUSED
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.kit.ids import new_id
from tribekit.kit.ratelimit import redis_client
from tribekit.models.campaigns import FlashReservation
from tribekit.models.members import Member
from tribekit.models.orders import Order, OrderEvent, OrderLine

from .world import FlashShop, create_sale, flash_shop, start_sales


def redis_url() -> str:
    """The test Redis database of this run (``TRIBEKIT_TEST_REDIS_DB``, as ``conftest``)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    first = int(os.environ.get("TRIBEKIT_TEST_REDIS_DB", "1"))
    index = first + (int(worker.removeprefix("gw")) if worker.startswith("gw") else 0)
    return f"{REDIS_URL}/{index}"


@dataclass
class RedisWorld:
    db: Database
    redis: Redis
    engine: RedisEngine
    runtime: FlashRuntime
    shop: FlashShop

    def other_drain(self, *, claim_idle_seconds: float = 5.0) -> RedisEngine:
        """Another process's drain (its own consumer name) on the same Redis."""
        return RedisEngine(self.db, self.redis, claim_idle_seconds=claim_idle_seconds)


@pytest.fixture
async def redis_world(
    db: Database, redis: Redis, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RedisWorld]:
    """A shop whose flash sales start on the Redis engine (``redis`` empties the database)."""
    del redis  # only for its flush before and after
    client = redis_client(redis_url(), max_connections=64, timeout=30)
    engine = RedisEngine(db, client)
    runtime = FlashRuntime(
        db=db,
        redis=client,
        secret_key=SECRET,
        engines={"sql": SqlEngine(db), "redis": engine},
        start_engine="redis",
        live=LiveSales(db),
        refused=REFUSED,
    )
    monkeypatch.setitem(flash_runtime._RUNTIMES, id(db), runtime)  # this test's runtime
    monkeypatch.setitem(flash_runtime._INSTALLED, "redis", engine)
    world = await flash_shop(db, factory, stock=5000)
    yield RedisWorld(db, client, engine, runtime, world)
    await client.aclose()


async def redis_sale(client: AsyncClient, world: RedisWorld, **fields: object) -> LiveSale:
    """A sale made through the API and started by the worker's sweep: live on Redis."""
    made = await create_sale(client, world.shop, **fields)
    assert await start_sales(world.db) == 1
    sale = await read_sale(world.db, uuid.UUID(made["id"]))
    assert sale is not None
    assert (sale.engine, sale.status) == ("redis", "live")
    return sale


async def members(db: Database, world: FlashShop, n: int) -> list[uuid.UUID]:
    """``n`` members of the shop, written in one statement."""
    ids = [new_id() for _ in range(n)]
    async with db.unit_of_work() as session:
        await session.execute(
            insert(Member),
            [
                {
                    "id": i,
                    "merchant_id": world.shop.tenant.id,
                    "display_name": f"Member {k}",
                    "source": "test",
                }
                for k, i in enumerate(ids)
            ],
        )
    return ids


def attempt(sale: LiveSale, member_id: uuid.UUID, quantity: int = 1) -> Attempt:
    return Attempt(
        sale=sale,
        member_id=member_id,
        quantity=quantity,
        reservation_id=new_id(),
        community_id=None,
        at=clock.now(),
    )


class Written(NamedTuple):
    """What the database holds for a sale: reservations (and their units), orders, lines,
    ``placed`` events."""

    reservations: int
    units: int
    orders: int
    lines: int
    events: int


async def written(db: Database, sale_id: uuid.UUID) -> Written:
    async with db.unit_of_work(read_only=True) as session:
        reservations, units = (
            await session.execute(
                select(func.count(), func.coalesce(func.sum(FlashReservation.quantity), 0)).where(
                    FlashReservation.sale_id == sale_id
                )
            )
        ).one()
        orders = await session.scalar(
            select(func.count()).select_from(Order).where(Order.campaign_id == sale_id)
        )
        lines = await session.scalar(
            select(func.count())
            .select_from(OrderLine)
            .join(Order, Order.id == OrderLine.order_id)
            .where(Order.campaign_id == sale_id)
        )
        events = await session.scalar(
            select(func.count())
            .select_from(OrderEvent)
            .join(Order, Order.id == OrderEvent.order_id)
            .where(Order.campaign_id == sale_id, OrderEvent.kind == "placed")
        )
    return Written(
        int(reservations), int(units), int(orders or 0), int(lines or 0), int(events or 0)
    )
