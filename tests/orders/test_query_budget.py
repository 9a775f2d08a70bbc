"""Query budgets of the order path: the statements a quote, a placement and a payment cost
do not grow with the number of lines (products, level prices and lines are read in batches)."""

from __future__ import annotations

from httpx import AsyncClient

from tests.factories import Factory
from tests.members.test_query_budget import counted
from tribekit.kit.db import Database

from .store import key, open_store

# Auth is one statement; BEGIN is one more on SQLite. Measured, with a little room.
QUOTE_BUDGET = 6
PLACE_BUDGET = 11
PAY_BUDGET = 30


async def test_order_statements_do_not_grow_with_lines(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    member = (await factory.member(store.shop)).member
    products = [await factory.product(store.shop, name=f"Box {i}", stock=100) for i in range(8)]
    await client.get("/api/v1/merchant", headers=store.shop.headers)  # records the token's use
    costs = []
    for size in (1, 8):
        body = {
            "member_id": str(member.id),
            "lines": [{"product_id": str(p.id), "quantity": 1} for p in products[:size]],
        }
        with counted(db) as quote:
            quoted = await client.post("/api/v1/orders/quote", json=body, headers=store.headers())
        assert quoted.status_code == 200
        with counted(db) as place:
            placed = await client.post("/api/v1/orders", json=body, headers=store.headers(key()))
        assert placed.status_code == 201
        with counted(db) as pay:
            paid = await client.post(
                f"/api/v1/orders/{placed.json()['id']}/payments",
                json={"provider": "manual"},
                headers=store.headers(),
            )
        assert paid.status_code == 201
        costs.append((len(quote), len(place), len(pay)))
    one, eight = costs
    assert eight[0] == one[0]
    assert eight[2] == one[2]
    assert eight[1] == one[1] + 7  # one conditional stock update per product, nothing else
    assert one[0] <= QUOTE_BUDGET, costs
    assert one[1] <= PLACE_BUDGET, costs
    assert one[2] <= PAY_BUDGET, costs
