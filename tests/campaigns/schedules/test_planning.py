"""The worker's planning of campaign schedules: each occurrence made a horizon ahead, once, as
a flash sale of the rotation's next product (the rotation moved once per occurrence), a group
buy or a promotion day with its announcements; a change reaching only what is not made yet; a
product no longer on sale passed over; the spring-forward and fall-back nights of
Europe/Berlin and a 30-day month's missing 31st; any number of workers at once, each
occurrence once."""

# ruff: noqa: RUF001  # Chinese texts use full-width punctuation on purpose
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from httpx import AsyncClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tests.concurrency import fire
from tests.factories import Factory, Shop
from tribekit.campaigns.schedules import tasks
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.models.broadcasts import Broadcast
from tribekit.models.campaigns import CampaignSchedule, FlashSale, GroupBuy, PromotionDay
from tribekit.models.catalog import Product
from tribekit.models.tenancy import Merchant
from tribekit.tenancy.principal import Tenant

from .world import (
    API,
    flash_template,
    gift_pack_template,
    products,
    rows,
    schedule,
    schedule_row,
    sweep,
)

MONDAY = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def _utc(day: int, hour: int, minute: int = 0, month: int = 12, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


async def test_each_occurrence_is_made_ahead_once_and_takes_the_next_product(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    mango, lychee, durian = await products(factory, shop, "Mango", "Lychee", "Durian", price=2990)
    with clock.frozen_at(MONDAY) as now:
        made = await schedule(
            client,
            shop,
            "Mon-Thu 20:00 for 2 h",
            flash_template(mango, lychee, durian, discount_bps=2000, quantity=100),
            name="Flash",
            announcements={"start": {"en": "{product} now"}},
            announce_before_seconds=900,
        )
        assert await sweep(db) == 1
        (first,) = await rows(db, FlashSale)
        assert (first.occurrence_key, first.starts_at, first.ends_at) == (
            "2026-12-07T20:00@Asia/Shanghai",
            _utc(7, 12),
            _utc(7, 14),
        )
        assert (first.product_id, first.name, first.price, first.quantity) == (
            mango,
            "Flash: Mango",
            2392,  # 2990 less 20 %, the discount rounded half up (598)
            100,
        )
        assert (first.per_member_limit, first.status, first.announce_before_seconds) == (
            2,
            "scheduled",
            900,
        )
        assert first.announcements == {"start": {"en": "{product} now"}}
        assert (first.schedule_id, first.created_by) == (
            uuid.UUID(made["id"]),
            f"schedule:{made['id']}",
        )
        row = await schedule_row(db, made["id"])
        assert (row.rotation_index, row.planned_until, row.due_at) == (
            1,
            MONDAY + DAY,
            MONDAY + HOUR,
        )
        assert await sweep(db) == 0  # not due again yet

        # Through the week, a sweep every hour: each weeknight once, the rotation in turn.
        while now.at < _utc(15, 0):
            now.advance(HOUR)
            await sweep(db)
    sales = await rows(db, FlashSale)
    assert [(s.occurrence_key[:10], s.product_id) for s in sales] == [
        ("2026-12-07", mango),
        ("2026-12-08", lychee),
        ("2026-12-09", durian),
        ("2026-12-10", mango),
        ("2026-12-14", lychee),
        ("2026-12-15", durian),  # Tuesday 20:00 is within a day of Monday 24:00 UTC
    ]
    assert (await schedule_row(db, made["id"])).rotation_index == 6


async def test_a_product_no_longer_on_sale_is_passed_over_for_the_next(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    mango, lychee = await products(factory, shop, "Mango", "Lychee")
    async with db.unit_of_work() as session:
        await session.execute(update(Product).where(Product.id == mango).values(active=False))
    with clock.frozen_at(MONDAY):
        # Made while both were on sale is refused now; so make it with both, then retire one.
        async with db.unit_of_work() as session:
            await session.execute(update(Product).where(Product.id == mango).values(active=True))
        made = await schedule(
            client, shop, "every day 20:00 for 1 h", flash_template(mango, lychee)
        )
        async with db.unit_of_work() as session:
            await session.execute(update(Product).where(Product.id == mango).values(active=False))
        await sweep(db, 2 * DAY)
    assert [s.product_id for s in await rows(db, FlashSale)] == [lychee, lychee]
    # Each occurrence moved past the retired product and the one it sold.
    assert (await schedule_row(db, made["id"])).rotation_index == 4


async def test_a_change_reaches_only_the_occurrences_not_made_yet(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    (mango,) = await products(factory, shop, "Mango")
    with clock.frozen_at(MONDAY) as now:
        made = await schedule(client, shop, "every day 20:00 for 2 h", flash_template(mango))
        await sweep(db)
        changed = await client.patch(
            f"{API}/{made['id']}",
            json={"rule": "every day 19:00 for 2 h", "template": flash_template(mango, price=990)},
            headers={**shop.headers, "If-Match": '"1"'},
        )
        assert changed.status_code == 200, changed.text
        assert [(c["local_start"], c["status"]) for c in changed.json()["coming"][:2]] == [
            ("2026-12-07T20:00", "scheduled"),  # made: it stays as it was
            ("2026-12-08T19:00", "planned"),
        ]
        await sweep(db)  # due at once after the change: Tuesday 19:00 is not within a day yet
        now.at = _utc(7, 12)
        await sweep(db)
    assert [(s.starts_at, s.price) for s in await rows(db, FlashSale)] == [
        (_utc(7, 12), 1990),
        (_utc(8, 11), 990),
    ]


async def test_a_paused_schedule_makes_nothing_and_resumed_not_what_it_missed(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    (mango,) = await products(factory, shop, "Mango")
    with clock.frozen_at(MONDAY) as now:
        made = await schedule(client, shop, "every day 20:00 for 2 h", flash_template(mango))
        await client.post(f"{API}/{made['id']}/pause", headers=shop.headers)
        assert await sweep(db) == 0
        now.at = _utc(9, 13)  # Wednesday 21:00: Monday's, Tuesday's and Wednesday's went by
        await client.post(f"{API}/{made['id']}/resume", headers=shop.headers)
        await sweep(db)
    assert [s.occurrence_key for s in await rows(db, FlashSale)] == [
        "2026-12-10T20:00@Asia/Shanghai"
    ]


async def test_a_promotion_day_on_the_1st_with_its_announcements(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    texts = {
        "before": {"en": "Tomorrow: rewards x{multiplier}!", "zh-CN": "明天奖励 {multiplier} 倍！"},
        "start": {"en": "{name}: today every referral counts x{multiplier}"},
    }
    with clock.frozen_at(_utc(31, 2)):  # 10:00 on 31 December in Shanghai
        made = await schedule(
            client,
            shop,
            "1st of the month",
            {"kind": "promotion_day", "reward_multiplier_bps": 20_000},
            name="Member promotion day",
            announcements=texts,
            announce_before_seconds=3600,
        )
        await sweep(db)
        await sweep(db)
    (day,) = await rows(db, PromotionDay)
    assert (day.name, day.starts_at, day.ends_at, day.reward_multiplier_bps) == (
        "Member promotion day",
        _utc(31, 16),  # 1 January 00:00 in Shanghai
        _utc(1, 16, month=1, year=2027),
        20_000,
    )
    assert (day.occurrence_key, day.schedule_id) == (
        "2027-01-01T00:00@Asia/Shanghai",
        uuid.UUID(made["id"]),
    )
    posts = await rows(db, Broadcast)
    assert [
        (b.send_at, b.content["texts"], b.campaign_id, b.audience, b.marketing) for b in posts
    ] == [
        (
            _utc(31, 15),
            {"en": "Tomorrow: rewards x2!", "zh-CN": "明天奖励 2 倍！"},
            day.id,
            "all",
            True,
        ),
        (
            _utc(31, 16),
            {"en": "Member promotion day: today every referral counts x2"},
            day.id,
            "all",
            True,
        ),
    ]


async def test_a_gift_pack_group_buy_every_friday_evening(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    (pack,) = await products(factory, shop, "Gift pack", price=9900)
    texts = {"result": {"en": "{name}: {results}"}}
    with clock.frozen_at(_utc(11, 0)):  # Friday 08:00 in Shanghai
        made = await schedule(
            client,
            shop,
            "Fri 20:00-23:00",
            gift_pack_template(pack, per_member_limit=1),
            name="Member gift-pack day",
            announcements=texts,
        )
        assert await sweep(db, 8 * DAY) == 1
        assert await sweep(db, 8 * DAY) == 0
    buys = await rows(db, GroupBuy)
    assert [(b.occurrence_key, b.starts_at, b.deadline) for b in buys] == [
        ("2026-12-11T20:00@Asia/Shanghai", _utc(11, 12), _utc(11, 15)),
        ("2026-12-18T20:00@Asia/Shanghai", _utc(18, 12), _utc(18, 15)),
    ]
    first = buys[0]
    assert (first.name, first.product_id, first.min_size, first.max_size) == (
        "Member gift-pack day",
        pack,
        2,
        5,
    )
    assert first.tiers == [
        {"size": 2, "unit_price": 9000},
        {"size": 3, "unit_price": 8500},
        {"size": 5, "unit_price": 7500},
    ]
    assert (first.grouping, first.join_price, first.per_member_limit, first.status) == (
        "address",
        "reached",
        1,
        "scheduled",
    )
    assert (first.announcements, first.schedule_id) == (texts, uuid.UUID(made["id"]))


async def _berlin(db: Database, shop: Shop) -> None:
    async with db.unit_of_work() as session:
        await session.execute(
            update(Merchant).where(Merchant.id == shop.tenant.id).values(timezone="Europe/Berlin")
        )


async def test_daylight_saving_nights_make_each_occurrence_once(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    await _berlin(db, shop)
    (mango,) = await products(factory, shop, "Mango")
    with clock.frozen_at(_utc(27, 12, month=3)) as now:
        spring = await schedule(client, shop, "Sun 02:30 for 2 h", flash_template(mango))
        assert spring["timezone"] == "Europe/Berlin"
        # Every ten minutes through both nights (the horizon a day): each Sunday once.
        while now.at < _utc(30, 0, month=3):
            await sweep(db)
            now.advance(timedelta(minutes=10))
        now.at = _utc(23, 12, month=10)
        while now.at < _utc(26, 0, month=10):
            await sweep(db)
            now.advance(timedelta(minutes=10))
    sales = await rows(db, FlashSale)
    assert [(s.occurrence_key, s.starts_at, s.ends_at) for s in sales] == [
        # 02:30 does not exist on 29 March: 03:30 CEST, two real hours.
        ("2026-03-29T02:30@Europe/Berlin", _utc(29, 1, 30, month=3), _utc(29, 3, 30, month=3)),
        # 02:30 happens twice on 25 October: the first (CEST), once.
        ("2026-10-25T02:30@Europe/Berlin", _utc(25, 0, 30, month=10), _utc(25, 2, 30, month=10)),
    ]


async def test_the_31st_makes_nothing_in_a_30_day_month(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    (mango,) = await products(factory, shop, "Mango")
    with clock.frozen_at(_utc(31, 0, month=10)) as now:
        await schedule(client, shop, "31st of the month 20:00 for 2 h", flash_template(mango))
        while now.at < _utc(2, 0, month=1, year=2027):
            await sweep(db)
            now.advance(6 * HOUR)
    assert [s.occurrence_key for s in await rows(db, FlashSale)] == [
        "2026-10-31T20:00@Asia/Shanghai",
        "2026-12-31T20:00@Asia/Shanghai",  # none on 30 November, nor moved to it
    ]


async def test_concurrent_sweeps_make_each_occurrence_once(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    fruit = await products(factory, shop, "Mango", "Lychee", "Durian")
    with clock.frozen_at(MONDAY):
        ids = [
            (await schedule(client, shop, rule, flash_template(*fruit), name=rule))["id"]
            for rule in (
                "Mon-Thu 20:00 for 2 h",
                "every day 12:00 for 1 h",
                "weekdays 09:30 for 1 h",
            )
        ]
        days = await schedule(
            client,
            shop,
            "every day 00:00 for 1 h",
            {"kind": "promotion_day"},
            announcements={"start": {"en": "x{multiplier} today"}},
        )
        planned = await fire(8, lambda _: sweep(db, 4 * DAY))
        assert sum(planned) == 4  # each schedule claimed by one worker

        # Past the claim: workers planning the same schedules at the same moment (as if a lock
        # were lost) wait for each other on the schedule's row and make nothing more.
        tenant: Tenant = shop.tenant

        async def work(session: AsyncSession) -> int:
            found = (
                await session.scalars(select(CampaignSchedule.id).order_by(CampaignSchedule.id))
            ).all()
            return sum([await tasks.plan(session, tenant, i, horizon=4 * DAY) for i in found])

        again = await fire(8, lambda _: db.run(work))
    assert sum(again) == 0
    sales = await rows(db, FlashSale)
    keys = [(s.schedule_id, s.occurrence_key) for s in sales]
    assert len(keys) == len(set(keys)) == 4 + 4 + 4  # Mon-Thu; Mon-Thu noons; Mon-Thu 09:30
    for schedule_id in ids:
        mine = [s for s in sales if str(s.schedule_id) == schedule_id]
        assert [s.product_id for s in mine] == [fruit[0], fruit[1], fruit[2], fruit[0]]
        assert (await schedule_row(db, schedule_id)).rotation_index == 4
    promotion = await rows(db, PromotionDay)
    assert [d.occurrence_key for d in promotion] == [
        f"2026-12-{d:02d}T00:00@Asia/Shanghai" for d in (8, 9, 10, 11)
    ]
    assert len(await rows(db, Broadcast)) == 4
    assert {b.campaign_id for b in await rows(db, Broadcast)} == {d.id for d in promotion}
    assert days["id"] == str(promotion[0].schedule_id)
