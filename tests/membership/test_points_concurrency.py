"""Points are money: concurrent postings from a barrier, exact totals, on SQLite and PostgreSQL.
Each call is its own transaction, as it is behind the API."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import select

from tests.concurrency import fire
from tests.factories import Factory, Shop, count_rows
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.kit.errors import TribekitError
from tribekit.membership import service
from tribekit.membership.ledger import PointsLedger, Source
from tribekit.membership.schemas import PlanGrant, PointsRedeem
from tribekit.models.membership import PlanPurchase, PlanSubscription, PointsEntry

from .ladder import scenario_7
from .test_points_api import ledger_totals


async def _funded(db: Database, factory: Factory, points: int) -> tuple[Shop, uuid.UUID]:
    shop = await factory.shop()
    member = (await factory.member(shop)).member
    async with db.unit_of_work() as session:
        await PointsLedger(session, shop.tenant).earn(
            member.id, points, source=Source.CAMPAIGN, key="funding"
        )
    return shop, member.id


async def _redeem_all(
    db: Database, shop: Shop, member_id: uuid.UUID, n: int, points: int
) -> Counter[str]:
    async def redeem(i: int) -> str:
        try:
            async with db.unit_of_work() as session:
                await service.redeem_points(
                    session,
                    shop.tenant,
                    member_id,
                    PointsRedeem(points=points, reward="sticker"),
                    key=f"redeem-{i}",
                    actor="test",
                )
        except TribekitError as exc:
            return exc.code
        return "ok"

    return Counter(await fire(n, redeem))


async def test_1000_one_point_redemptions_against_100_points(
    db: Database, factory: Factory
) -> None:
    shop, member_id = await _funded(db, factory, 100)
    outcomes = await _redeem_all(db, shop, member_id, 1000, 1)
    assert outcomes == {"ok": 100, "insufficient_points": 900}
    assert await ledger_totals(db, member_id) == (0, 0, 0)
    assert await count_rows(db, PointsEntry, PointsEntry.kind == "spend") == 100


async def test_200_sixty_point_redemptions_against_100_points(
    db: Database, factory: Factory
) -> None:
    shop, member_id = await _funded(db, factory, 100)
    outcomes = await _redeem_all(db, shop, member_id, 200, 60)
    assert outcomes == {"ok": 1, "insufficient_points": 199}
    assert await ledger_totals(db, member_id) == (40, 40, 40)


async def test_the_same_earn_event_posted_50_times_at_once_posts_once(
    db: Database, factory: Factory
) -> None:
    shop = await factory.shop()
    member = (await factory.member(shop)).member

    async def post(_: int) -> str:
        try:
            async with db.unit_of_work() as session:
                posting = await service.earn_points(
                    session,
                    shop.tenant,
                    member.id,
                    25,
                    source=Source.REFERRAL,
                    key="referral:friend-joined",
                )
        except TribekitError as exc:
            return exc.code
        return "replayed" if posting.replayed else "posted"

    outcomes = Counter(await fire(50, post))
    assert outcomes["posted"] == 1
    assert outcomes["posted"] + outcomes["replayed"] + outcomes["idempotency_in_progress"] == 50
    assert await count_rows(db, PointsEntry) == 1
    assert await ledger_totals(db, member.id) == (25, 25, 25)


async def test_concurrent_reversals_of_one_entry_reverse_it_once(
    db: Database, factory: Factory
) -> None:
    shop, member_id = await _funded(db, factory, 100)
    async with db.unit_of_work() as session:
        spend = await PointsLedger(session, shop.tenant).spend(
            member_id, 70, source=Source.REWARD, key="spend"
        )

    async def reverse(i: int) -> str:
        try:
            async with db.unit_of_work() as session:
                await PointsLedger(session, shop.tenant).reverse(spend.entry.id, key=f"rev-{i}")
        except TribekitError as exc:
            return exc.code
        return "ok"

    outcomes = Counter(await fire(30, reverse))
    assert outcomes["ok"] == 1
    assert outcomes["ok"] + outcomes["not_reversible"] + outcomes["idempotency_in_progress"] == 30
    assert await ledger_totals(db, member_id) == (100, 100, 100)


async def test_concurrent_card_sales_post_once_per_key_and_extend_exactly(
    db: Database, factory: Factory
) -> None:
    shop = await factory.shop()
    ladder = await scenario_7(db, shop)
    member = (await factory.member(shop)).member

    async def sell(key: str) -> str:
        try:
            async with db.unit_of_work() as session:
                bought = await service.grant_plan(
                    session,
                    shop.tenant,
                    member.id,
                    PlanGrant(plan_id=ladder.black_card.id),
                    key=key,
                    actor="test",
                )
        except TribekitError as exc:
            return exc.code
        return "replayed" if bought.replayed else "sold"

    with clock.frozen_at(datetime(2026, 1, 1, tzinfo=UTC)):
        same = Counter(await fire(20, lambda _: sell("one-sale")))
        different = Counter(await fire(20, lambda i: sell(f"sale-{i}")))
    assert same["sold"] == 1
    assert same["sold"] + same["replayed"] + same["idempotency_in_progress"] == 20
    assert different == {"sold": 20}
    assert await count_rows(db, PlanPurchase) == 21
    async with db.unit_of_work() as session:
        ends = await session.scalar(
            select(PlanSubscription.ends_at).where(PlanSubscription.member_id == member.id)
        )
    assert ends == datetime(2047, 1, 1, tzinfo=UTC)  # 21 paid years, none lost or doubled
