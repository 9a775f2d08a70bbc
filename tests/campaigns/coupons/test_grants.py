"""Granted coupons: the welcome gift when a member is made, the referral reward the fission
part gives through ``grants.grant``, staff grants; each given once per (coupon, member, source
key), each one use that is the member's own, valid ``valid_days`` from issue. An order takes a
grant; cancelling the order, or refunding it in full where the shop gives coupons back, frees
it; a member who was given nothing, or whose grant ran out, is refused with the reason."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from httpx import AsyncClient
from sqlalchemy import select

from tests.factories import Factory, count_rows
from tests.orders.store import Store, open_store, pay, place
from tribekit.campaigns.coupons import grants
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.models.coupons import Coupon, CouponGrant
from tribekit.models.orders import Order
from tribekit.orders import tasks as order_tasks

from .book import make_coupon, member_headers


async def _new_member(client: AsyncClient, store: Store, name: str) -> uuid.UUID:
    made = await client.post(
        "/api/v1/members", json={"display_name": name}, headers=store.shop.headers
    )
    assert made.status_code == 201, made.text
    return uuid.UUID(made.json()["id"])


async def _mine(client: AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    listed = await client.get("/api/v1/me/coupons", headers=headers)
    assert listed.status_code == 200, listed.text
    items: list[dict[str, Any]] = listed.json()["items"]
    return items


async def _coupon_used(db: Database, coupon_id: str) -> int:
    async with db.unit_of_work() as session:
        return int(
            await session.scalar(select(Coupon.used).where(Coupon.id == uuid.UUID(coupon_id))) or 0
        )


async def test_a_new_member_gets_the_welcome_gift_once_and_uses_it_once(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    with clock.frozen_at(datetime(2026, 12, 3, 8, 0, tzinfo=UTC)):
        await _welcome_and_use(client, db, store)


async def _welcome_and_use(client: AsyncClient, db: Database, store: Store) -> None:
    welcome = await make_coupon(
        client, store.shop, code="HELLO", issue_mode="grant", grant_reason="welcome", valid_days=7
    )
    await make_coupon(
        client,
        store.shop,
        code="OLD-HELLO",
        issue_mode="grant",
        grant_reason="welcome",
        active=False,
    )
    member_id = await _new_member(client, store, "Newcomer")
    async with db.unit_of_work() as session:
        again = await grants.grant(session, store.shop.tenant, member_id, "welcome", "welcome")
    assert again == []  # given once, however often asked
    me = await member_headers(client, store.shop, member_id)
    mine = await _mine(client, me)
    assert [(c["code"], c["source_key"], c["used"], c["usable_now"]) for c in mine] == [
        ("HELLO", "welcome", False, True)
    ]
    assert mine[0]["valid_from"] == "2026-12-03T08:00:00Z"
    assert mine[0]["valid_until"] == "2026-12-10T08:00:00Z"

    first = await place(client, store, member_id, (store.cherries, 1), coupon_codes=["hello"])
    assert first.status_code == 201, first.text
    assert (first.json()["coupon_discount"], first.json()["total"]) == (500, 4500)
    used = await _mine(client, me)
    assert [(c["used"], c["order_id"], c["usable_now"]) for c in used] == [
        (True, first.json()["id"], False)
    ]
    orders_before = await count_rows(db, Order)
    twice = await place(client, store, member_id, (store.cherries, 1), coupon_codes=["HELLO"])
    assert (twice.status_code, twice.json()["code"]) == (409, "coupon_used_up")
    assert twice.json()["detail"] == "coupon_codes: coupon HELLO was already used by this member"
    assert await count_rows(db, Order) == orders_before
    assert await _coupon_used(db, welcome["id"]) == 1

    cancelled = await client.post(
        f"/api/v1/orders/{first.json()['id']}/cancel",
        json={"reason": "changed my mind"},
        headers=store.headers(),
    )
    assert cancelled.status_code == 200, cancelled.text
    assert [(c["used"], c["order_id"]) for c in await _mine(client, me)] == [(False, None)]
    assert await _coupon_used(db, welcome["id"]) == 0
    again_order = await place(client, store, member_id, (store.cherries, 1), coupon_codes=["HELLO"])
    assert again_order.status_code == 201, again_order.text
    assert again_order.json()["coupon_discount"] == 500


async def test_a_coupon_given_to_others_or_run_out_is_refused_with_the_reason(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    at = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    stranger = (await factory.member(store.shop)).member.id  # before the gift: none for them
    await make_coupon(
        client, store.shop, code="HELLO", issue_mode="grant", grant_reason="welcome", valid_days=7
    )
    with clock.frozen_at(at):
        given = await _new_member(client, store, "Given")

    quote = await client.post(
        "/api/v1/orders/quote",
        json={
            "member_id": str(stranger),
            "lines": [{"product_id": str(store.cherries.id), "quantity": 1}],
            "coupon_codes": ["HELLO"],
        },
        headers=store.shop.headers,
    )
    assert quote.status_code == 200, quote.text
    assert [(c["applied"], c["why"]) for c in quote.json()["coupons"]] == [
        (False, "coupon HELLO is not this member's: it is given by the shop")
    ]
    refused = await place(client, store, stranger, (store.cherries, 1), coupon_codes=["HELLO"])
    assert (refused.status_code, refused.json()["code"]) == (422, "coupon_not_usable")

    with clock.frozen_at(at + timedelta(days=7, seconds=1)):
        late = await place(client, store, given, (store.cherries, 1), coupon_codes=["HELLO"])
    assert (late.status_code, late.json()["code"]) == (422, "coupon_not_usable")
    assert late.json()["detail"] == "coupon_codes: coupon HELLO expired at 2026-12-10 08:00 UTC"
    with clock.frozen_at(at + timedelta(days=6, hours=23)):
        in_time = await place(client, store, given, (store.cherries, 1), coupon_codes=["HELLO"])
    assert in_time.status_code == 201, in_time.text


async def test_the_referral_reward_is_given_once_per_source_key(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    reward = await make_coupon(
        client, store.shop, code="THANKS", issue_mode="grant", grant_reason="referral", value=1000
    )
    member_id = (await factory.member(store.shop)).member.id
    tenant = store.shop.tenant
    async with db.unit_of_work() as session:
        first = await grants.grant(session, tenant, member_id, "referral", "referral:order-1")
        twin = await grants.grant(session, tenant, member_id, "referral", "referral:order-1")
        second = await grants.grant(
            session, tenant, member_id, uuid.UUID(reward["id"]), "referral:order-2"
        )
        nothing = await grants.grant(session, tenant, member_id, "birthday", "birthday:2026")
    assert [g.source_key for g in first] == ["referral:order-1"]
    assert (twin, nothing) == ([], [])
    assert [g.source_key for g in second] == ["referral:order-2"]
    assert [g.valid_until for g in (*first, *second)] == [None, None]  # no end: always valid
    for _ in range(2):  # one use per grant (no per-member limit given)
        used = await place(client, store, member_id, (store.cherries, 1), coupon_codes=["THANKS"])
        assert used.status_code == 201, used.text
        assert used.json()["coupon_discount"] == 1000
    third = await place(client, store, member_id, (store.cherries, 1), coupon_codes=["THANKS"])
    assert (third.status_code, third.json()["code"]) == (409, "coupon_used_up")
    assert await _coupon_used(db, reward["id"]) == 2


async def test_staff_grant_a_coupon_to_members_once_each(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    other = await factory.shop()
    gift = await make_coupon(client, store.shop, code="SORRY", issue_mode="grant", valid_days=30)
    typed = await make_coupon(client, store.shop, code="TYPED")
    a, b, c = [(await factory.member(store.shop)).member.id for _ in range(3)]
    foreign = (await factory.member(other)).member.id
    path = f"/api/v1/coupons/{gift['id']}/grants"
    given = await client.post(
        path, json={"member_ids": [str(a), str(b)]}, headers=store.shop.headers
    )
    assert given.status_code == 201, given.text
    assert sorted(g["member_id"] for g in given.json()["granted"]) == sorted([str(a), str(b)])
    assert {g["source_key"] for g in given.json()["granted"]} == {"staff"}
    assert given.json()["already"] == []
    again = await client.post(
        path, json={"member_ids": [str(a), str(c)]}, headers=store.shop.headers
    )
    assert [g["member_id"] for g in again.json()["granted"]] == [str(c)]
    assert again.json()["already"] == [str(a)]
    keyed = await client.post(
        path,
        json={"member_ids": [str(a)], "source_key": "staff:late-delivery"},
        headers=store.shop.headers,
    )
    assert [g["source_key"] for g in keyed.json()["granted"]] == ["staff:late-delivery"]

    before = await count_rows(db, CouponGrant)
    stranger = await client.post(
        path, json={"member_ids": [str(b), str(foreign)]}, headers=store.shop.headers
    )
    assert stranger.status_code == 404
    assert (
        stranger.json()["detail"] == f"member_ids.1: no member with id {foreign} at this merchant"
    )
    not_given = await client.post(
        f"/api/v1/coupons/{typed['id']}/grants",
        json={"member_ids": [str(a)]},
        headers=store.shop.headers,
    )
    assert (not_given.status_code, not_given.json()["code"]) == (409, "coupon_issue_mode")
    assert await count_rows(db, CouponGrant) == before
    listed = await client.get(path, headers=store.shop.headers)
    assert len(listed.json()["items"]) == 4


async def _refunded_grant(
    client: AsyncClient, db: Database, factory: Factory, *, returned: bool, partly: bool = False
) -> tuple[dict[str, Any], int]:
    """A granted coupon used by a paid order that is then refunded: the member's coupon after,
    and the coupon's uses."""
    store = await open_store(db, factory)
    setting = await client.patch(
        "/api/v1/checkout/settings",
        json={"coupon_returned_on_refund": returned},
        headers=store.shop.headers,
    )
    assert setting.status_code == 200, setting.text
    assert setting.json()["coupon_returned_on_refund"] is returned
    gift = await make_coupon(client, store.shop, code="GIFT", issue_mode="grant", valid_days=30)
    member_id = (await factory.member(store.shop)).member.id
    async with db.unit_of_work() as session:
        await grants.grant(session, store.shop.tenant, member_id, uuid.UUID(gift["id"]), "staff")
    placed = await place(client, store, member_id, (store.cherries, 2), coupon_codes=["GIFT"])
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert (await pay(client, store, order["id"])).status_code == 201
    body: dict[str, Any] = {"reason": "spoiled"}
    if partly:
        body["lines"] = [{"line_id": order["lines"][0]["id"], "quantity": 1}]
    refunded = await client.post(
        f"/api/v1/orders/{order['id']}/refunds", json=body, headers=store.headers()
    )
    assert refunded.status_code == 201, refunded.text
    mine = await _mine(client, await member_headers(client, store.shop, member_id))
    return mine[0], await _coupon_used(db, gift["id"])


async def test_a_full_refund_gives_the_grant_back_where_the_shop_says_so(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    back, used = await _refunded_grant(client, db, factory, returned=True)
    assert (back["used"], back["order_id"], back["usable_now"], used) == (False, None, True, 0)


async def test_a_refund_keeps_the_grant_used_where_the_shop_keeps_coupons(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    kept, used = await _refunded_grant(client, db, factory, returned=False)
    assert (kept["used"], kept["usable_now"], used) == (True, False, 1)


async def test_a_partial_refund_keeps_the_grant_used(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    kept, used = await _refunded_grant(client, db, factory, returned=True, partly=True)
    assert (kept["used"], kept["usable_now"], used) == (True, False, 1)


async def test_an_order_expired_unpaid_frees_its_grant(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    at = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    with clock.frozen_at(at) as frozen:
        gift = await make_coupon(client, store.shop, code="GIFT", issue_mode="grant", valid_days=30)
        member_id = (await factory.member(store.shop)).member.id
        async with db.unit_of_work() as session:
            await grants.grant(
                session, store.shop.tenant, member_id, uuid.UUID(gift["id"]), "staff"
            )
        placed = await place(client, store, member_id, (store.cherries, 1), coupon_codes=["GIFT"])
        assert placed.status_code == 201, placed.text
        frozen.advance(timedelta(days=1))
        async with db.unit_of_work() as session:
            assert await order_tasks.expire_unpaid(session, 100) == 1
        mine = await _mine(client, await member_headers(client, store.shop, member_id))
    assert [(c["used"], c["order_id"], c["usable_now"]) for c in mine] == [(False, None, True)]
    assert await _coupon_used(db, gift["id"]) == 0


async def test_a_grant_of_fixed_dates_follows_the_coupon_dates(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    at = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    with clock.frozen_at(at):
        gift = await make_coupon(
            client,
            store.shop,
            code="WINTER",
            issue_mode="grant",
            starts_at="2026-12-05T00:00:00Z",
            ends_at="2026-12-20T00:00:00Z",
        )
        member_id = (await factory.member(store.shop)).member.id
        async with db.unit_of_work() as session:
            await grants.grant(
                session, store.shop.tenant, member_id, uuid.UUID(gift["id"]), "staff"
            )
        me = await member_headers(client, store.shop, member_id)
        [mine] = await _mine(client, me)
        assert (mine["valid_from"], mine["valid_until"], mine["usable_now"]) == (
            "2026-12-05T00:00:00Z",
            "2026-12-20T00:00:00Z",
            False,
        )
        early = await place(client, store, member_id, (store.cherries, 1), coupon_codes=["WINTER"])
        assert early.json()["detail"] == (
            "coupon_codes: coupon WINTER can be used from 2026-12-05 00:00 UTC"
        )
        moved = await client.patch(
            f"/api/v1/coupons/{gift['id']}",
            json={"starts_at": None, "ends_at": "2026-12-31T00:00:00Z"},
            headers=store.shop.headers,
        )
        assert moved.status_code == 200, moved.text
        [mine] = await _mine(client, me)
        assert (mine["valid_from"], mine["valid_until"], mine["usable_now"]) == (
            "2026-12-03T08:00:00Z",
            "2026-12-31T00:00:00Z",
            True,
        )
        used = await place(client, store, member_id, (store.cherries, 1), coupon_codes=["WINTER"])
        assert used.status_code == 201, used.text
