"""The birthday gift: a daily sweep grants each active birthday coupon to the members whose
birthday is the merchant's day (its timezone, not UTC's), once a year whatever runs twice,
catching up the days a stopped worker missed; 29 February is kept on 28 February."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from httpx import AsyncClient
from sqlalchemy import select

from tests.factories import Factory, Shop
from tribekit.campaigns.coupons import tasks
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.models.coupons import Coupon, CouponGrant

from .book import make_coupon

#: 00:30 on 4 December in Shanghai (UTC+8), the factory shops' timezone.
SHANGHAI_DEC_4 = datetime(2026, 12, 3, 16, 30, tzinfo=UTC)


async def _sweep(db: Database) -> int:
    async with db.unit_of_work() as session:
        return await tasks.give_birthday_gifts(session, 20)


async def _given(db: Database, coupon_id: str) -> list[tuple[uuid.UUID, str]]:
    async with db.unit_of_work() as session:
        rows = await session.execute(
            select(CouponGrant.member_id, CouponGrant.source_key)
            .where(CouponGrant.coupon_id == uuid.UUID(coupon_id))
            .order_by(CouponGrant.id)
        )
        return [(m, k) for m, k in rows.all()]


async def _born(factory: Factory, shop: Shop, birthday: date) -> uuid.UUID:
    return (await factory.member(shop, birthday=birthday)).member.id


async def test_birthdays_are_granted_on_the_merchant_day_once_and_caught_up(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    shop = await factory.shop()
    dec_3 = await _born(factory, shop, date(1985, 12, 3))  # today in UTC, yesterday in Shanghai
    dec_4 = await _born(factory, shop, date(1990, 12, 4))
    dec_5 = await _born(factory, shop, date(2001, 12, 5))
    dec_7 = await _born(factory, shop, date(1999, 12, 7))
    await _born(factory, shop, date(1990, 6, 4))
    await factory.member(shop)  # no birthday known
    with clock.frozen_at(SHANGHAI_DEC_4) as frozen:
        gift = await make_coupon(
            client, shop, code="CAKE", issue_mode="grant", grant_reason="birthday", valid_days=7
        )
        await make_coupon(client, shop, code="TYPED")
        assert await _sweep(db) == 1
        assert await _given(db, gift["id"]) == [(dec_4, "birthday:2026")]
        assert await _sweep(db) == 0  # not due again before the next day
        async with db.unit_of_work() as session:
            due = await session.scalar(select(Coupon.grants_due_at).where(Coupon.code == "CAKE"))
        assert due == datetime(2026, 12, 4, 16, 0, tzinfo=UTC)  # midnight of 5 Dec, Shanghai

        frozen.advance(timedelta(days=1))
        assert await _sweep(db) == 1
        assert await _given(db, gift["id"]) == [(dec_4, "birthday:2026"), (dec_5, "birthday:2026")]

        frozen.advance(timedelta(days=2))  # the worker missed 6 December
        assert await _sweep(db) == 1
        assert [m for m, _ in await _given(db, gift["id"])] == [dec_4, dec_5, dec_7]
    assert dec_3 not in [m for m, _ in await _given(db, gift["id"])]
    async with db.unit_of_work() as session:
        grant = await session.scalar(select(CouponGrant).where(CouponGrant.member_id == dec_4))
    assert grant is not None
    assert (grant.valid_from, grant.valid_until) == (
        SHANGHAI_DEC_4,
        SHANGHAI_DEC_4 + timedelta(days=7),
    )


async def test_a_birthday_is_given_once_a_year_and_29_february_on_the_28th(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    shop = await factory.shop()
    leapling = await _born(factory, shop, date(2000, 2, 29))
    feb_28 = await _born(factory, shop, date(1995, 2, 28))
    at = datetime(2027, 2, 27, 16, 5, tzinfo=UTC)  # 00:05 on 28 February 2027 in Shanghai
    with clock.frozen_at(at):
        gift = await make_coupon(
            client, shop, code="CAKE", issue_mode="grant", grant_reason="birthday"
        )
        assert await _sweep(db) == 1
    expected = sorted([(leapling, "birthday:2027"), (feb_28, "birthday:2027")])
    assert sorted(await _given(db, gift["id"])) == expected
    # Switched off and on again the same day: swept again, given nothing twice.
    for active in (False, True):
        changed = await client.patch(
            f"/api/v1/coupons/{gift['id']}", json={"active": active}, headers=shop.headers
        )
        assert changed.status_code == 200
    with clock.frozen_at(at + timedelta(hours=1)):
        assert await _sweep(db) == 1
    assert sorted(await _given(db, gift["id"])) == expected
