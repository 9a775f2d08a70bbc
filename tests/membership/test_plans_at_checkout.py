"""Paid plans sold through checkout: the plan's product, a paid order line granting the plan and
its level, refunds taking periods back, the product kept in step with its plan, and many
payments of one member's plan at once."""

from __future__ import annotations

import uuid
from typing import Any

from httpx import AsyncClient
from sqlalchemy import select

from tests.concurrency import fire
from tests.factories import Factory, count_rows
from tests.membership.test_member_card import _me
from tests.orders.store import Store, key, open_store, pay, place
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.models.catalog import Product
from tribekit.models.membership import LevelChange, PlanPurchase, PlanSubscription
from tribekit.models.orders import Order


async def plan_product(db: Database, store: Store) -> Product:
    async with db.unit_of_work(read_only=True) as session:
        product = await session.scalar(
            select(Product).where(Product.plan_id == store.ladder.black_card.id)
        )
    assert product is not None
    return product


async def subscriptions(db: Database, member_id: uuid.UUID) -> list[PlanSubscription]:
    async with db.unit_of_work(read_only=True) as session:
        rows = await session.scalars(
            select(PlanSubscription).where(PlanSubscription.member_id == member_id)
        )
        return list(rows.all())


async def level_of(client: AsyncClient, store: Store, member_id: uuid.UUID) -> dict[str, Any]:
    response = await client.get(f"/api/v1/members/{member_id}/level", headers=store.shop.headers)
    assert response.status_code == 200, response.text
    level: dict[str, Any] = response.json()
    return level


async def refund(client: AsyncClient, store: Store, order_id: str, **body: Any) -> Any:
    response = await client.post(
        f"/api/v1/orders/{order_id}/refunds",
        json={"reason": "changed their mind", **body},
        headers=store.headers(),
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_member_buys_the_black_card_at_checkout_and_a_refund_takes_it_back(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    card = await plan_product(db, store)
    assert (card.kind, card.name, card.price, card.stock, card.active) == (
        "plan",
        "Black card",
        19900,
        None,
        True,
    )
    listed = await client.get(
        "/api/v1/products", params={"kind": "plan"}, headers=store.shop.headers
    )
    assert [(p["name"], p["plan_id"]) for p in listed.json()["items"]] == [
        ("Black card", str(store.ladder.black_card.id))
    ]
    member = (await factory.member(store.shop)).member
    me = await _me(client, store.shop, member.id)
    on_sale = (await client.get("/api/v1/me", headers=me)).json()["plans_on_sale"]
    assert on_sale == [
        {
            "plan_id": str(store.ladder.black_card.id),
            "product_id": str(card.id),
            "name": "Black card",
            "price": 19900,
            "duration_months": 12,
            "level": {"id": str(store.ladder.black.id), "name": "Black", "rank": 3},
        }
    ]

    ordered = await client.post(
        "/api/v1/me/orders",
        json={"lines": [{"product_id": on_sale[0]["product_id"], "quantity": 1}]},
        headers={**me, "Idempotency-Key": key()},
    )
    assert ordered.status_code == 201, ordered.text
    order = ordered.json()
    [line] = order["lines"]
    assert (line["kind"], line["unit_price"], order["total"]) == ("plan", 19900, 19900)
    assert await subscriptions(db, member.id) == []  # nothing before the money
    assert (await pay(client, store, order["id"])).status_code == 201

    [held] = await subscriptions(db, member.id)
    assert held.status == "active"
    assert held.ends_at == clock.add_months(held.starts_at, 12)
    level = await level_of(client, store, member.id)
    assert level["level"]["name"] == "Black"
    assert level["why"] == "holds the paid plan Black card"
    async with db.unit_of_work(read_only=True) as session:
        [purchase] = (await session.scalars(select(PlanPurchase))).all()
    assert (purchase.ref, purchase.price, purchase.periods) == (
        f"order-line:{line['id']}",
        19900,
        1,
    )
    plans = await client.get(f"/api/v1/members/{member.id}/plans", headers=store.shop.headers)
    assert [(p["plan_name"], p["status"]) for p in plans.json()["items"]] == [
        ("Black card", "active")
    ]

    await refund(client, store, order["id"])
    [ended] = await subscriptions(db, member.id)
    assert ended.status == "refunded"
    assert ended.ends_at == ended.starts_at
    assert (await level_of(client, store, member.id))["level"]["name"] == "Member"
    async with db.unit_of_work(read_only=True) as session:
        reasons = (
            await session.scalars(
                select(LevelChange.reason)
                .where(LevelChange.member_id == member.id)
                .order_by(LevelChange.at)
            )
        ).all()
    assert list(reasons) == ["plan_granted", "plan_refunded"]
    timeline = await client.get(f"/api/v1/members/{member.id}/events", headers=store.shop.headers)
    kinds = [e["kind"] for e in timeline.json()["items"] if e["kind"].startswith("plan.")]
    assert kinds == ["plan.refunded", "plan.purchased"]
    [refunded] = [e for e in timeline.json()["items"] if e["kind"] == "plan.refunded"]
    assert refunded["data"]["plan"] == "Black card"


async def test_two_years_at_once_then_one_refunded_keeps_one(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    card = await plan_product(db, store)
    member = (await factory.member(store.shop)).member
    order = (await place(client, store, member.id, (card, 2))).json()
    assert order["total"] == 39800
    assert (await pay(client, store, order["id"])).status_code == 201
    [held] = await subscriptions(db, member.id)
    assert held.ends_at == clock.add_months(held.starts_at, 24)

    line = order["lines"][0]["id"]
    first = await refund(client, store, order["id"], lines=[{"line_id": line, "quantity": 1}])
    assert first["amount"] == 19900
    [held] = await subscriptions(db, member.id)
    assert (held.status, held.ends_at) == ("active", clock.add_months(held.starts_at, 12))
    assert (await level_of(client, store, member.id))["level"]["name"] == "Black"

    await refund(client, store, order["id"])  # the rest: the second year
    [held] = await subscriptions(db, member.id)
    assert (held.status, held.ends_at) == ("refunded", held.starts_at)
    async with db.unit_of_work(read_only=True) as session:
        [purchase] = (await session.scalars(select(PlanPurchase))).all()
    assert (purchase.periods, purchase.refunded_periods) == (2, 2)


async def test_a_levels_price_does_not_discount_a_plan_and_the_plan_product_follows_its_plan(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    card = await plan_product(db, store)
    headers = store.shop.headers
    member = (await factory.member(store.shop)).member
    await client.put(
        f"/api/v1/members/{member.id}/level",
        json={"level_id": str(store.ladder.gold.id), "reason": "loyal customer"},
        headers=headers,
    )
    quote = await client.post(
        "/api/v1/orders/quote",
        json={"member_id": str(member.id), "lines": [{"product_id": str(card.id), "quantity": 1}]},
        headers=headers,
    )
    assert quote.status_code == 200, quote.text
    assert quote.json()["total"] == 19900  # Gold's 10 % off goods does not apply to a plan

    for change in ({"price": 100}, {"name": "Cheap card"}, {"active": False}, {"sku": "BLK"}):
        refused = await client.patch(f"/api/v1/products/{card.id}", json=change, headers=headers)
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "sold_by_plan"
        assert f"/api/v1/membership/plans/{store.ladder.black_card.id}" in refused.json()["detail"]
    described = await client.patch(
        f"/api/v1/products/{card.id}", json={"description": "A year of Black"}, headers=headers
    )
    assert described.status_code == 200, described.text
    stock = await client.post(
        f"/api/v1/products/{card.id}/stock-adjustments",
        json={"delta": 5, "reason": "found some"},
        headers=headers,
    )
    assert (stock.status_code, stock.json()["code"]) == (422, "sold_by_plan")
    level_price = await client.put(
        f"/api/v1/membership/levels/{store.ladder.gold.id}/prices/{card.id}",
        json={"price": 9900},
        headers=headers,
    )
    assert level_price.status_code == 422, level_price.text
    made = await client.post(
        "/api/v1/products", json={"name": "Sneaky", "price": 1, "kind": "plan"}, headers=headers
    )
    assert made.status_code == 422
    after = await plan_product(db, store)
    assert (after.name, after.price, after.active, after.sku, after.stock) == (
        "Black card",
        19900,
        True,
        None,
        None,
    )

    plan_path = f"/api/v1/membership/plans/{store.ladder.black_card.id}"
    changed = await client.patch(
        plan_path, json={"name": "Black card 2027", "price": 24900}, headers=headers
    )
    assert changed.status_code == 200, changed.text
    after = await plan_product(db, store)
    assert (after.name, after.price, after.description) == (
        "Black card 2027",
        24900,
        "A year of Black",
    )
    assert (await client.patch(plan_path, json={"active": False}, headers=headers)).is_success
    closed = await place(client, store, member.id, (card, 1))
    assert (closed.status_code, closed.json()["code"]) == (422, "not_on_sale")


async def test_many_payments_of_one_members_plan_at_once_add_up_exactly(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    n = 12 if db.dialect == "postgresql" else 4
    store = await open_store(db, factory)
    card = await plan_product(db, store)
    member = (await factory.member(store.shop)).member
    orders = [(await place(client, store, member.id, (card, 1))).json()["id"] for _ in range(n)]
    paid = await fire(n, lambda i: pay(client, store, orders[i]))
    assert [r.status_code for r in paid] == [201] * n
    [held] = await subscriptions(db, member.id)
    assert held.ends_at == clock.add_months(held.starts_at, 12 * n)
    assert await count_rows(db, PlanPurchase) == n
    assert await count_rows(db, Order, Order.status == "paid") == n
    assert (await level_of(client, store, member.id))["level"]["name"] == "Black"
