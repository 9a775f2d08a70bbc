"""A schedule through the worker as it runs: every campaign sweep (the schedules', the flash
sales' own start and end, the announcements') run at each moment of two evenings. The
schedule makes each sale, the flash sales start and end them, and the announcements follow
the rows: before and at the start on the first evening; on the second, whose product has no
stock left, the sale sells out as it starts, and "sold out" is posted instead of the start."""

from __future__ import annotations

from datetime import UTC, datetime

from httpx import AsyncClient

from tests.factories import Factory
from tests.robot.worlds import telegram_world
from tribekit.campaigns import tasks as campaign_tasks
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.kit.worker import WorkerLoop
from tribekit.models.broadcasts import Broadcast
from tribekit.models.campaigns import FlashSale

from .world import PUBLIC, flash_template, rows, schedule


def _utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


async def test_two_evenings_of_a_schedule_through_every_campaign_sweep(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    world = await telegram_world(db, factory, [-1001])
    shop = world.shop
    mango = await factory.product(shop, name="Mango", price=2990, stock=500)
    lychee = await factory.product(shop, name="Lychee", price=2990, stock=0)
    sweeps = campaign_tasks.sweeps(db, None, 24, PUBLIC)
    worker = WorkerLoop(db, sweeps)
    every = {s.name for s in sweeps}
    with clock.frozen_at(_utc(7, 1)) as now:  # Monday 09:00 in Shanghai
        await schedule(
            client,
            shop,
            "Mon-Thu 20:00 for 2 h",
            flash_template(mango.id, lychee.id, price=1990, quantity=100),
            name="Flash",
        )
        for at in (
            _utc(7, 1),
            _utc(7, 11, 50),
            _utc(7, 12),
            _utc(7, 14),
            _utc(8, 11, 50),
            _utc(8, 12),
            _utc(8, 14),
        ):
            now.at = at
            await worker.run_due_sweeps(every)
    sales = await rows(db, FlashSale)
    assert [(s.name, s.status, s.allotted, s.announced) for s in sales] == [
        ("Flash: Mango", "ended", 100, ["before", "start"]),
        ("Flash: Lychee", "ended", 0, ["before", "sold_out"]),
        ("Flash: Mango", "scheduled", 0, []),  # Wednesday's, made a day ahead
    ]
    posted = await rows(db, Broadcast)
    assert [(b.name, b.send_at, b.campaign_id) for b in posted] == [
        ("Flash: Mango · before", _utc(7, 11, 50), sales[0].id),
        ("Flash: Mango · start", _utc(7, 12), sales[0].id),
        ("Flash: Lychee · before", _utc(8, 11, 50), sales[1].id),
        ("Flash: Lychee · sold_out", _utc(8, 12), sales[1].id),
    ]
    assert posted[1].content["buttons"] == [
        [{"text": "Buy now", "url": f"{PUBLIC}/m/flash/{sales[0].id}", "data": None}]
    ]
