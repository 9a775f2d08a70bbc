"""A product starts and stops tracking its stock through the API (race-safe); products report
their margin and flag prices below cost."""

from __future__ import annotations

import uuid
from typing import Any

from httpx import AsyncClient
from sqlalchemy import select

from tests.concurrency import fire
from tests.factories import Factory, Shop
from tests.orders.store import key
from tribekit.kit.db import Database
from tribekit.models.catalog import Product

API = "/api/v1/products"


async def _product(client: AsyncClient, shop: Shop, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "Lychee box")
    body.setdefault("price", 3000)
    response = await client.post(API, json=body, headers=shop.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _stock(db: Database, product_id: str) -> tuple[int | None, bool]:
    async with db.unit_of_work() as session:
        row = (
            await session.execute(
                select(Product.stock, Product.stock_tracked_since).where(
                    Product.id == uuid.UUID(product_id)
                )
            )
        ).one()
    return row[0], row[1] is not None


async def _order(client: AsyncClient, shop: Shop, member_id: uuid.UUID, product_id: str) -> str:
    response = await client.post(
        "/api/v1/orders",
        json={"member_id": str(member_id), "lines": [{"product_id": product_id, "quantity": 2}]},
        headers={**shop.headers, "Idempotency-Key": key()},
    )
    assert response.status_code == 201, response.text
    order_id: str = response.json()["id"]
    return order_id


async def test_an_untracked_product_starts_and_stops_tracking(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    member = (await factory.member(shop)).member
    product = await _product(client, shop)
    assert product["stock"] is None
    url = f"{API}/{product['id']}/stock-tracking"
    before = await _order(client, shop, member.id, product["id"])  # untracked: takes nothing

    started = await client.put(url, json={"track": True, "stock": 10}, headers=shop.headers)
    assert started.status_code == 200, started.text
    body = started.json()
    assert (body["product_id"], body["tracked"], body["stock"]) == (product["id"], True, 10)
    assert body["tracked_since"] is not None
    after = await _order(client, shop, member.id, product["id"])  # tracked: takes 2
    assert await _stock(db, product["id"]) == (8, True)

    # The order placed before tracking started gives nothing back; the one after does.
    for order_id in (before, after):
        cancelled = await client.post(
            f"/api/v1/orders/{order_id}/cancel",
            json={"reason": "changed my mind"},
            headers={**shop.headers, "Idempotency-Key": key()},
        )
        assert cancelled.status_code == 200, cancelled.text
    assert await _stock(db, product["id"]) == (10, True)

    again = await client.put(url, json={"track": True, "stock": 99}, headers=shop.headers)
    assert again.status_code == 409
    assert again.json()["code"] == "stock_already_tracked"
    assert await _stock(db, product["id"]) == (10, True)  # refused: nothing changed

    stopped = await client.put(url, json={"track": False}, headers=shop.headers)
    assert stopped.status_code == 200
    assert stopped.json() == {
        "product_id": product["id"],
        "tracked": False,
        "stock": None,
        "tracked_since": None,
    }
    assert (await client.put(url, json={"track": False}, headers=shop.headers)).status_code == 200
    assert await _stock(db, product["id"]) == (None, False)

    missing = await client.put(url, json={"track": True}, headers=shop.headers)
    assert missing.status_code == 422
    assert "give the units on hand now" in missing.json()["detail"]
    extra = await client.put(url, json={"track": False, "stock": 3}, headers=shop.headers)
    assert extra.status_code == 422
    foreign = await factory.shop()
    hidden = await client.put(url, json={"track": True, "stock": 5}, headers=foreign.headers)
    assert hidden.status_code == 404
    assert await _stock(db, product["id"]) == (None, False)


async def test_concurrent_starts_set_one_count(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    product = await _product(client, shop)
    url = f"{API}/{product['id']}/stock-tracking"

    async def start(i: int) -> tuple[int, int]:
        response = await client.put(
            url, json={"track": True, "stock": 100 + i}, headers=shop.headers
        )
        return response.status_code, 100 + i

    results = await fire(12, start)
    assert sorted(status for status, _ in results) == [200] + [409] * 11
    (winner,) = [stock for status, stock in results if status == 200]
    assert await _stock(db, product["id"]) == (winner, True)


async def test_products_report_margin_and_flag_prices_below_cost(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    no_cost = await _product(client, shop)
    assert (no_cost["margin"], no_cost["margin_bps"], no_cost["warnings"]) == (None, None, [])
    product = await _product(
        client,
        shop,
        price=1000,
        cost_price=700,
        ladder=[{"min_quantity": 10, "unit_price": 650}],
    )
    assert product["margin"] == 300
    assert product["margin_bps"] == 3000
    assert product["warnings"] == [
        "ladder price from 10 units 6.50 CNY is below the cost price 7.00 CNY"
    ]
    traffic = await client.patch(
        f"{API}/{product['id']}", json={"price": 500, "ladder": []}, headers=shop.headers
    )
    assert traffic.status_code == 200  # allowed, and flagged
    assert (traffic.json()["margin"], traffic.json()["margin_bps"]) == (-200, -4000)
    assert traffic.json()["warnings"] == ["price 5.00 CNY is below the cost price 7.00 CNY"]
