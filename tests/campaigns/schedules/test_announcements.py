"""The campaigns' announcements: each moment of a flash sale (before, start, sold out) and of a
group buy (before, start, result with the tier each team reached) posted once, when its campaign
row says so, as a marketing broadcast with a buy or join button to the member page, in the
groups' languages; a group that takes no marketing skipped; the campaign's own texts; any
number of sweeps at once, each moment once."""

# ruff: noqa: RUF001  # Chinese texts use full-width punctuation on purpose
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from httpx import AsyncClient
from sqlalchemy import update

from tests.concurrency import fire
from tests.factories import Factory
from tests.robot.worlds import telegram_world
from tribekit.campaigns.flash import service as flash
from tribekit.campaigns.flash.spec import FlashSaleSpec
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.models.broadcasts import Broadcast, BroadcastDelivery
from tribekit.models.campaigns import FlashSale, GroupBuy, GroupBuyParticipant, GroupBuyTeam
from tribekit.models.communities import Community
from tribekit.robot.broadcasts import tasks as broadcast_tasks

from .world import PUBLIC, announce, rows

START = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)  # 20:00 in Shanghai
MIN = timedelta(minutes=1)


async def _sale(db: Database, shop: Any, product_id: uuid.UUID, **fields: Any) -> FlashSale:
    spec = FlashSaleSpec(
        product_id=product_id,
        price=fields.pop("price", 1990),
        quantity=fields.pop("quantity", 100),
        starts_at=START,
        ends_at=START + timedelta(hours=2),
        name=fields.pop("name", "Mango night"),
        **fields,
    )
    async with db.unit_of_work() as session:
        return await flash.create(session, shop.tenant, spec, created_by="staff:test")


async def _move(db: Database, model: Any, row_id: uuid.UUID, **values: Any) -> None:
    """What the flash sales' and group buys' own sweeps do at their times."""
    async with db.unit_of_work() as session:
        await session.execute(update(model).where(model.id == row_id).values(**values))


def _said(b: Broadcast) -> tuple[Any, ...]:
    return (b.name, b.content["texts"], b.content["buttons"], b.audience, b.marketing)


async def test_a_flash_sale_is_announced_before_at_the_start_and_when_sold_out_once_each(
    factory: Factory, db: Database
) -> None:
    world = await telegram_world(db, factory, [-1001, -1002, -1003])
    shop = world.shop
    async with db.unit_of_work() as session:
        await session.execute(
            update(Community).where(Community.id == world.groups[1]).values(language="zh-CN")
        )
        await session.execute(
            update(Community).where(Community.id == world.groups[2]).values(accepts_marketing=False)
        )
    product = await factory.product(shop, name="Mango box", price=2990)
    with clock.frozen_at(START - 30 * MIN) as now:
        sale = await _sale(db, shop, product.id)
        assert await announce(db) == 0  # ten minutes before is not yet
        now.at = START - 10 * MIN
        assert await announce(db) == 1
        assert await announce(db) == 0
        (before,) = await rows(db, Broadcast)
        button = [[{"text": "Buy now", "url": f"{PUBLIC}/m/flash/{sale.id}", "data": None}]]
        assert _said(before) == (
            "Mango night · before",
            {
                "en": "Mango night: Mango box at CN¥19.90 instead of CN¥29.90, only 100, at most "
                "2 each. Starts at 20:00, in 10 minutes!",
                "zh-CN": "Mango night：Mango box 仅售 ¥19.90（原价 ¥29.90），限量 100 份，"
                "每人限购 2 份。20:00 开抢，还有 10 分钟！",
            },
            button,
            "all",
            True,
        )
        assert (before.campaign_id, before.created_by, before.send_at) == (
            sale.id,
            f"campaign:{sale.id}",
            now.at,
        )

        now.at = START + 2 * MIN  # the sale's own sweep started it
        await _move(db, FlashSale, sale.id, status="live", started_at=START)
        assert await announce(db) == 1
        assert await announce(db) == 0
        now.at = START + 4 * MIN
        await _move(db, FlashSale, sale.id, status="sold_out", sold_out_at=now.at)
        assert await announce(db) == 1
        assert await announce(db) == 0
        start, sold_out = (await rows(db, Broadcast))[1:]
        assert _said(start)[1]["en"] == (
            "Mango night has started: Mango box at CN¥19.90, only 100, at most 2 each, until "
            "22:00. Tap to buy!"
        )
        assert _said(start)[2] == button
        assert _said(sold_out)[1:3] == (
            {
                "en": "Mango night: sold out! Thank you all; the next one is announced here.",
                "zh-CN": "Mango night：已售罄！感谢大家，下一场会在本群预告。",
            },
            [],
        )
        assert (await rows(db, FlashSale))[0].announced == ["before", "start", "sold_out"]

        # Written out as deliveries: each group in its language; the one without marketing
        # skipped, as every marketing broadcast is there.
        await db.run(lambda session: broadcast_tasks.expand_due(session, {}, 10))
    deliveries = await rows_of_deliveries(db, before.id)
    assert deliveries == [
        (world.groups[0], "en", "pending", None),
        (world.groups[1], "zh-CN", "pending", None),
        (world.groups[2], "en", "skipped", "the group does not accept marketing"),
    ]


async def rows_of_deliveries(db: Database, broadcast_id: uuid.UUID) -> list[tuple[Any, ...]]:
    from sqlalchemy import select

    async with db.unit_of_work() as session:
        found = (
            await session.execute(
                select(
                    BroadcastDelivery.community_id,
                    BroadcastDelivery.language,
                    BroadcastDelivery.status,
                    BroadcastDelivery.last_error,
                ).where(BroadcastDelivery.broadcast_id == broadcast_id)
            )
        ).all()
    return sorted((tuple(r) for r in found), key=lambda r: str(r[0]))


async def test_the_campaigns_own_texts_its_groups_and_a_late_sweep(
    factory: Factory, db: Database
) -> None:
    world = await telegram_world(db, factory, [-1001, -1002])
    shop = world.shop
    product = await factory.product(shop, name="Lychee", price=1500)
    texts = {"start": {"zh-CN": "{product} {price} 开抢，限 {limit} 份！", "en": "{product}: go"}}
    with clock.frozen_at(START + MIN):  # the sweep first runs after the start
        sale = await _sale(
            db,
            shop,
            product.id,
            price=990,
            per_member_limit=1,
            community_ids=(world.groups[0],),
            announcements=texts,
        )
        await _move(db, FlashSale, sale.id, status="live", started_at=START)
        assert await announce(db) == 1
    (start,) = await rows(db, Broadcast)  # "before" came too late: not posted
    assert _said(start) == (
        "Mango night · start",
        {"zh-CN": "Lychee ¥9.90 开抢，限 1 份！", "en": "Lychee: go"},
        [[{"text": "立即抢购", "url": f"{PUBLIC}/m/flash/{sale.id}", "data": None}]],
        "communities",
        True,
    )
    assert start.community_ids == [str(world.groups[0])]
    assert (await rows(db, FlashSale))[0].announced == ["start"]


async def test_a_group_buy_is_announced_and_its_result_names_the_tier_each_team_reached(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    world = await telegram_world(db, factory, [-1001])
    shop = world.shop
    pack = await factory.product(shop, name="Gift pack", price=9900)
    members = [(await factory.member(shop)).member.id for _ in range(7)]
    orders = []
    for n, member in enumerate(members):
        placed = await client.post(
            "/api/v1/orders",
            json={"member_id": str(member), "lines": [{"product_id": str(pack.id), "quantity": 1}]},
            headers={**shop.headers, "Idempotency-Key": f"gb-{n}"},
        )
        assert placed.status_code == 201, placed.text
        orders.append(uuid.UUID(placed.json()["id"]))
    tiers = [
        {"size": 2, "unit_price": 9000},
        {"size": 3, "unit_price": 8500},
        {"size": 5, "unit_price": 7500},
    ]
    async with db.unit_of_work() as session:
        buy = GroupBuy(
            merchant_id=shop.tenant.id,
            name="Gift-pack day",
            product_id=pack.id,
            tiers=tiers,
            min_size=2,
            max_size=5,
            starts_at=START,
            deadline=START + timedelta(hours=3),
            status="scheduled",
            created_by="staff:test",
        )
        session.add(buy)
        await session.flush()
        buy_id = buy.id
    with clock.frozen_at(START - 5 * MIN) as now:
        assert await announce(db) == 1
        now.at = START
        await _move(db, GroupBuy, buy_id, status="open")
        assert await announce(db) == 1
        # What the group buy's close leaves: a team of 5 paid (and a seat never paid), and a
        # team of 1 refunded in full.
        async with db.unit_of_work() as session:
            five = GroupBuyTeam(
                merchant_id=shop.tenant.id,
                group_buy_id=buy_id,
                code="FIVE5",
                initiator_id=members[0],
                size=5,
                max_size=5,
                status="succeeded",
                final_unit_price=7500,
            )
            one = GroupBuyTeam(
                merchant_id=shop.tenant.id,
                group_buy_id=buy_id,
                code="ONE11",
                initiator_id=members[6],
                size=1,
                max_size=5,
                status="failed",
            )
            session.add_all([five, one])
            await session.flush()
            places = [(five, "settled")] * 5 + [(five, "cancelled"), (one, "refunded")]
            for (team, status), member, order in zip(places, members, orders, strict=True):
                session.add(
                    GroupBuyParticipant(
                        merchant_id=shop.tenant.id,
                        group_buy_id=buy_id,
                        team_id=team.id,
                        member_id=member,
                        order_id=order,
                        unit_price_paid=9000,
                        status=status,
                    )
                )
        now.at = START + timedelta(hours=3, minutes=1)
        await _move(db, GroupBuy, buy_id, status="closed", closed_at=now.at)
        found = await fire(4, lambda _: announce(db))
        assert sum(found) >= 1
        assert await announce(db) == 0
    before, start, result = await rows(db, Broadcast)
    join = [  # joined in the chat (the robot's "+1") or on the member page
        [
            {"text": "+1 Join", "url": None, "data": f"gb:{buy_id}"},
            {"text": "Join the group buy", "url": f"{PUBLIC}/m/group-buys/{buy_id}", "data": None},
        ]
    ]
    assert _said(before)[1]["en"] == (
        "Gift-pack day: Gift pack as a group buy from 20:00, priced by your team's size: 2 people "
        "CN¥90.00 each; 3 people CN¥85.00 each; 5 people CN¥75.00 each. Starts in 5 minutes!"
    )
    assert _said(before)[2] == _said(start)[2] == join
    assert _said(start)[1]["zh-CN"] == (
        "Gift-pack day 开团啦：Gift pack，按成团人数定价：2人团 每人¥90.00；3人团 每人¥85.00；"
        "5人团 每人¥75.00。23:00 前参团或发起拼团！"
    )
    assert _said(result)[1:3] == (
        {
            "en": "Gift-pack day has closed. Team FIVE5: 5 joined, the 5-people tier, CN¥75.00 "
            "each. Team ONE11: 1 joined, short of 2; everyone is refunded in full.",
            "zh-CN": "Gift-pack day 已结束。FIVE5 团：5 人参团，达到5人档，每人 ¥75.00。ONE11 "
            "团：1 人参团，未达到 2 人，已全额退款。",
        },
        [],
    )
    assert (await rows(db, GroupBuy))[0].announced == ["before", "start", "result"]


async def test_concurrent_sweeps_post_each_moment_once(factory: Factory, db: Database) -> None:
    world = await telegram_world(db, factory, [-1001])
    shop = world.shop
    product = await factory.product(shop, name="Mango box")
    with clock.frozen_at(START - 5 * MIN) as now:
        sales = [await _sale(db, shop, product.id, name=f"Sale {n}") for n in range(5)]
        await fire(6, lambda _: announce(db))
        now.at = START
        for sale in sales:
            await _move(db, FlashSale, sale.id, status="live", started_at=START)
        await fire(6, lambda _: announce(db))
    posted = await rows(db, Broadcast)
    assert sorted((b.campaign_id, b.name.rsplit(" · ", 1)[1]) for b in posted) == sorted(
        (s.id, moment) for s in sales for moment in ("before", "start")
    )
    assert all(s.announced == ["before", "start"] for s in await rows(db, FlashSale))
