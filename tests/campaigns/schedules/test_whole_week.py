"""Schedules through the worker as it runs: every campaign sweep (the schedules', the flash
sales' and group buys' own, the announcements') run at each moment. The schedule makes each
campaign, the campaigns' sweeps move them, and the announcements follow the rows: a flash
sale's before and start on the first evening; on the second, whose product has no stock left,
the sale sells out as it starts and "sold out" is posted instead of the start; a gift-pack
evening's result with the tier each team reached."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from httpx import AsyncClient
from sqlalchemy import select

from tests.factories import Factory
from tests.robot.worlds import telegram_world
from tribekit.campaigns import tasks as campaign_tasks
from tribekit.campaigns.group_buys import joining
from tribekit.campaigns.group_buys.schemas import JoinIn
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.kit.worker import WorkerLoop
from tribekit.models.broadcasts import Broadcast
from tribekit.models.campaigns import FlashSale, GroupBuy
from tribekit.orders.payments.manual import ManualProvider
from tribekit.orders.service import paying

from .world import PUBLIC, flash_template, gift_pack_template, rows, schedule

PROVIDERS = {"manual": ManualProvider()}


def _utc(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, second, tzinfo=UTC)


async def test_two_evenings_of_a_schedule_through_every_campaign_sweep(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    world = await telegram_world(db, factory, [-1001])
    shop = world.shop
    mango = await factory.product(shop, name="Mango", price=2990, stock=500)
    lychee = await factory.product(shop, name="Lychee", price=2990, stock=0)
    sweeps = campaign_tasks.sweeps(db, None, 24, PUBLIC, providers=PROVIDERS)
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


async def test_a_gift_pack_evening_through_every_campaign_sweep(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    """Friday: the schedule makes the group buy, its sweep opens it at 20:00 and closes it at
    23:00; five members pay into one team, one alone into another; the result is posted once,
    with the tier the five reached and the one refunded."""
    world = await telegram_world(db, factory, [-1001])
    shop = world.shop
    pack = await factory.product(shop, name="Gift pack", price=10_000, stock=50)
    members = [(await factory.member(shop)).member.id for _ in range(6)]
    sweeps = campaign_tasks.sweeps(db, None, 24, PUBLIC, providers=PROVIDERS)
    worker = WorkerLoop(db, sweeps)
    every = {s.name for s in sweeps}

    async def join(member_id: uuid.UUID, code: str | None = None) -> str:
        async with db.unit_of_work() as session:
            (buy,) = (await session.scalars(select(GroupBuy))).all()
            joined = await joining.join(
                session, shop.tenant, member_id, buy.id, JoinIn(code=code), actor="member"
            )
        async with db.unit_of_work() as session:
            await paying.record_manual_payment(
                session, shop.tenant, joined.order.order.id, reference=None, actor="staff"
            )
        return joined.team.code

    with clock.frozen_at(_utc(11, 0)) as now:  # Friday 08:00 in Shanghai
        await schedule(
            client,
            shop,
            "Fri 20:00-23:00",
            gift_pack_template(pack.id, grouping="team"),
            name="Gift-pack day",
        )
        for at in (_utc(11, 0), _utc(11, 11, 50), _utc(11, 12)):
            now.at = at
            await worker.run_due_sweeps(every)
        now.at = _utc(11, 12, 30)
        code = await join(members[0])
        for member_id in members[1:5]:
            await join(member_id, code)
        alone = await join(members[5])
        for at in (_utc(11, 15), _utc(11, 15, 0, 30), _utc(11, 15, 1)):
            now.at = at
            await worker.run_due_sweeps(every)
            await worker.run_due_sweeps(every)
    (buy,) = await rows(db, GroupBuy)
    assert (buy.status, buy.announced) == ("closed", ["before", "start", "result"])
    posted = await rows(db, Broadcast)
    assert [b.name for b in posted] == [
        "Gift-pack day · before",
        "Gift-pack day · start",
        "Gift-pack day · result",
    ]
    assert posted[2].content["texts"]["en"] == (
        f"Gift-pack day has closed. Team {code}: 5 joined, the 5-people tier, CN¥75.00 each. "
        f"Team {alone}: 1 joined, short of 2; everyone is refunded in full."
    )
