"""A sale's start and end, by themselves on time and exactly once whatever the number of
workers: the allotment taken from stock (at most what there is), the rest given back."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from httpx import AsyncClient

from tests.factories import Factory
from tribekit.campaigns.flash import tasks
from tribekit.kit import clock
from tribekit.kit.db import Database

from .world import (
    buy,
    create_sale,
    end_sales,
    flash_headers,
    flash_shop,
    runtime_of,
    sale_row,
    start_sales,
    stock,
)


async def test_the_allotment_is_at_most_the_stock_and_an_empty_one_is_sold_out(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    world = await flash_shop(db, factory, stock=7)
    short = await create_sale(client, world, quantity=10)
    assert await start_sales(db) == 1
    row = await sale_row(db, short["id"])
    assert (row.status, row.allotted, row.remaining) == ("live", 7, 7)
    assert row.started_at is not None
    assert await stock(db, world.product) == 0
    empty = await create_sale(client, world, quantity=5)
    assert await start_sales(db) == 1
    none = await sale_row(db, empty["id"])
    assert (none.status, none.allotted, none.remaining) == ("sold_out", 0, 0)
    member = (await factory.member(world.shop)).member.id
    refused = await buy(client, empty["id"], flash_headers(world.shop, member))
    assert (refused.status_code, refused.json()["code"]) == (409, "sold_out")
    with clock.frozen_at(row.ends_at + timedelta(seconds=1)):
        assert await end_sales(db) == 2
    assert await stock(db, world.product) == 7  # everything back, nothing invented
    assert (await sale_row(db, short["id"])).returned == 7
    assert (await sale_row(db, empty["id"])).returned == 0


async def test_untracked_stock_allots_the_whole_quantity_and_takes_none_back(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    world = await flash_shop(db, factory, stock=None)
    sale = await create_sale(client, world, quantity=25)
    assert await start_sales(db) == 1
    row = await sale_row(db, sale["id"])
    assert (row.allotted, row.remaining) == (25, 25)
    with clock.frozen_at(row.ends_at + timedelta(seconds=1)):
        assert await end_sales(db) == 1
    assert await stock(db, world.product) is None
    assert (await sale_row(db, sale["id"])).returned == 25


async def test_racing_workers_start_and_end_a_sale_once(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    workers = 6 if db.dialect == "postgresql" else 2
    world = await flash_shop(db, factory, stock=30)
    sale = await create_sale(client, world, quantity=20)
    runtime = runtime_of(db)

    async def start() -> int:
        return await db.run(lambda session: tasks.start_due(session, runtime, 1))

    async def end() -> int:
        return await db.run(lambda session: tasks.end_due(session, runtime, 1))

    assert sum(await asyncio.gather(*(start() for _ in range(workers)))) == 1
    assert await stock(db, world.product) == 10
    row = await sale_row(db, sale["id"])
    runtime.live.forget(row.id)
    member = (await factory.member(world.shop)).member.id
    assert (await buy(client, sale["id"], flash_headers(world.shop, member))).status_code == 201
    with clock.frozen_at(row.ends_at + timedelta(seconds=1)):
        assert sum(await asyncio.gather(*(end() for _ in range(workers)))) == 1
        assert await end_sales(db) == 0
    ended = await sale_row(db, sale["id"])
    assert (ended.status, ended.returned, ended.remaining) == ("ended", 19, 0)
    assert ended.ended_at is not None
    assert await stock(db, world.product) == 29
