"""A sale on an engine that counts outside the database (Redis) is marked sold out by the
worker when its engine has no units left, and live again when units come back."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace

from httpx import AsyncClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import Factory
from tribekit.campaigns.flash import tasks
from tribekit.campaigns.flash.engine import Attempt, LiveSale, Refusal, Reserved
from tribekit.kit.db import Database
from tribekit.models.campaigns import FlashSale

from .world import create_sale, flash_shop, runtime_of, sale_row, start_sales


class CountingElsewhere:
    """An engine whose units left the test sets."""

    name = "redis"

    def __init__(self) -> None:
        self.units = 0

    async def open(self, sale: LiveSale, allotted: int) -> None:
        self.units = allotted

    async def reserve(self, attempt: Attempt) -> Reserved | Refusal:
        return Refusal.SOLD_OUT

    async def give_back(
        self,
        session: AsyncSession,
        sale: LiveSale,
        units: Mapping[uuid.UUID, int],
        *,
        reservation_ids: Sequence[uuid.UUID],
    ) -> None:
        self.units += sum(units.values())

    async def left(self, sale_id: uuid.UUID) -> int | None:
        return self.units

    async def close(self, sale: LiveSale) -> int | None:
        return self.units


async def test_the_worker_marks_an_engines_sale_sold_out_and_live_again(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    world = await flash_shop(db, factory)
    sale = await create_sale(client, world, quantity=3)
    assert await start_sales(db) == 1
    async with db.unit_of_work() as session:
        await session.execute(
            update(FlashSale).where(FlashSale.id == uuid.UUID(sale["id"])).values(engine="redis")
        )
    elsewhere = CountingElsewhere()
    shared = runtime_of(db)
    runtime = replace(shared, engines={**shared.engines, "redis": elsewhere})

    async def look() -> None:
        await db.run(lambda session: tasks.mark_sold_out(session, runtime, 50))

    elsewhere.units = 2
    await look()
    assert (await sale_row(db, sale["id"])).status == "live"
    elsewhere.units = 0
    await look()
    marked = await sale_row(db, sale["id"])
    assert marked.status == "sold_out"
    assert marked.sold_out_at is not None
    elsewhere.units = 1
    await look()
    again = await sale_row(db, sale["id"])
    assert (again.status, again.sold_out_at) == ("live", marked.sold_out_at)
