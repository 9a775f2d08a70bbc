"""Quotes and orders report their margin to staff (per line and in total); members never see
cost prices; a level price below cost is allowed and flagged."""

from __future__ import annotations

from httpx import AsyncClient

from tests.factories import Factory, bearer
from tribekit.kit.db import Database

from .store import cart, key, open_store, place


async def test_staff_quotes_and_orders_carry_margins_members_see_none(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    member = (await factory.member(store.shop)).member
    body = {"member_id": str(member.id), **cart((store.mango, 2), (store.cherries, 1))}
    quoted = await client.post("/api/v1/orders/quote", json=body, headers=store.shop.headers)
    assert quoted.status_code == 200, quoted.text
    quote = quoted.json()
    assert [(line["unit_cost"], line["margin"]["amount"]) for line in quote["lines"]] == [
        (700, 600),
        (2500, 2500),
    ]
    assert quote["margin"] == {
        "revenue": 7000,
        "cost": 3900,
        "amount": 3100,
        "bps": 4428,
        "below_cost": False,
        "unknown_lines": 0,
        "why": "margin 31.00 CNY (44.28 %)",
    }

    placed = await place(client, store, member.id, (store.mango, 2), (store.cherries, 1))
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["margin"] == quote["margin"]
    assert [line["margin"]["bps"] for line in order["lines"]] == [3000, 5000]
    # The cost price is kept as it was when ordered.
    changed = await client.patch(
        f"/api/v1/products/{store.mango.id}", json={"cost_price": 900}, headers=store.shop.headers
    )
    assert changed.status_code == 200
    again = await client.get(f"/api/v1/orders/{order['id']}", headers=store.shop.headers)
    assert again.json()["margin"]["amount"] == 3100

    link = await client.post(
        f"/api/v1/members/{member.id}/access-links", headers=store.shop.headers
    )
    me = bearer(link.json()["token"])
    mine = await client.post("/api/v1/me/quote", json=cart((store.mango, 1)), headers=me)
    assert mine.status_code == 200, mine.text
    assert mine.json()["margin"] is None
    assert [(line["unit_cost"], line["margin"]) for line in mine.json()["lines"]] == [(None, None)]
    my_order = await client.get(f"/api/v1/me/orders/{order['id']}", headers=me)
    assert my_order.status_code == 200
    assert my_order.json()["margin"] is None
    assert {(line["unit_cost"], line["margin"]) for line in my_order.json()["lines"]} == {
        (None, None)
    }
    placed_by_me = await client.post(
        "/api/v1/me/orders",
        json=cart((store.cherries, 1)),
        headers={**me, "Idempotency-Key": key()},
    )
    assert placed_by_me.json()["margin"] is None


async def test_an_order_with_a_product_without_cost_has_an_unknown_margin(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    member = (await factory.member(store.shop)).member
    plain = await factory.product(store.shop, name="Tea", price=800)
    placed = await place(client, store, member.id, (store.mango, 1), (plain, 1))
    assert placed.status_code == 201, placed.text
    assert placed.json()["margin"] == {
        "revenue": 1800,
        "cost": None,
        "amount": None,
        "bps": None,
        "below_cost": False,
        "unknown_lines": 1,
        "why": "margin unknown: 1 line has no cost",
    }


async def test_a_level_price_below_cost_is_allowed_and_flagged(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    url = f"/api/v1/membership/levels/{store.ladder.gold.id}/prices/{store.mango.id}"
    below = await client.put(url, json={"price": 650}, headers=store.shop.headers)
    assert below.status_code == 200, below.text
    assert below.json()["warnings"] == ["level price 6.50 CNY is below the cost price 7.00 CNY"]
    listed = await client.get(
        f"/api/v1/membership/levels/{store.ladder.gold.id}/prices", headers=store.shop.headers
    )
    assert [p["warnings"] for p in listed.json()["items"]] == [
        ["level price 6.50 CNY is below the cost price 7.00 CNY"]
    ]
    fine = await client.put(url, json={"price": 800}, headers=store.shop.headers)
    assert fine.json()["warnings"] == []
