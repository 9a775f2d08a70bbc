"""Checkout through the REST API: quotes explain prices, orders reserve stock, idempotency keys
replay answers, unpaid orders give everything back when cancelled or expired."""

from __future__ import annotations

from datetime import timedelta

from httpx import AsyncClient
from sqlalchemy import select

from tests.factories import Factory, count_rows
from tests.membership.test_points_api import ledger_totals
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.kit.worker import WorkerLoop
from tribekit.models.catalog import Product
from tribekit.models.orders import IdempotencyRecord, Order, OrderEvent
from tribekit.orders import tasks

from .store import cart, give_points, key, open_store, pay, place


async def stock_of(db: Database, product: Product) -> int | None:
    async with db.unit_of_work() as session:
        return await session.scalar(select(Product.stock).where(Product.id == product.id))


async def test_quote_explains_every_price_and_changes_nothing(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    member = (await factory.member(store.shop)).member
    await give_points(db, store, member.id, 5000)  # Gold: 10 % off, points doubled
    await client.put(
        f"/api/v1/membership/levels/{store.ladder.gold.id}/prices/{store.mango.id}",
        json={"price": 800},
        headers=store.shop.headers,
    )
    body = {
        "member_id": str(member.id),
        **cart((store.mango, 2), (store.cherries, 3), (store.cherries, 2)),
    }
    response = await client.post("/api/v1/orders/quote", json=body, headers=store.shop.headers)
    assert response.status_code == 200, response.text
    quote = response.json()
    lines = quote["lines"]
    assert [(line["unit_price"], line["source"]) for line in lines] == [
        (800, "level_price"),  # Gold level price beats 10 % off 10.00
        (4500, "quantity_ladder"),  # 3 + 2 cherries count together: 5+ costs 45.00
        (4500, "quantity_ladder"),
    ]
    assert quote["subtotal"] == 2 * 800 + 5 * 4500
    assert quote["total"] == quote["subtotal"]
    assert quote["points_to_earn"] == 2 * (quote["total"] // 100)
    assert any("level price" in why.lower() for why in lines[0]["why"])
    assert await count_rows(db, Order) == 0
    assert await stock_of(db, store.mango) == 5


async def test_an_order_reserves_stock_and_a_key_replays_it(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    member = (await factory.member(store.shop)).member
    first = await place(
        client, store, member.id, (store.mango, 2), (store.mango, 1), idempotency_key="once"
    )
    assert first.status_code == 201, first.text
    order = first.json()
    assert order["status"] == "placed"
    assert order["total"] == 3000
    assert [line["quantity"] for line in order["lines"]] == [2, 1]
    assert await stock_of(db, store.mango) == 2
    again = await place(
        client, store, member.id, (store.mango, 2), (store.mango, 1), idempotency_key="once"
    )
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == order
    other = await place(client, store, member.id, (store.mango, 1), idempotency_key="once")
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert await count_rows(db, Order) == 1
    assert await stock_of(db, store.mango) == 2
    assert await count_rows(db, IdempotencyRecord) == 1


async def test_not_enough_stock_is_a_409_and_nothing_is_written(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    member = (await factory.member(store.shop)).member
    await give_points(db, store, member.id, 300)
    response = await place(
        client, store, member.id, (store.cherries, 1), (store.mango, 6), points_to_redeem=300
    )
    assert response.status_code == 409
    problem = response.json()
    assert problem["code"] == "not_enough_stock"
    assert problem["stock"] == 5
    assert "only 5 units of 'Mango box' left; 6 asked" in problem["detail"]
    assert await stock_of(db, store.mango) == 5
    assert await count_rows(db, Order) == 0
    assert await ledger_totals(db, member.id) == (300, 300, 300)


async def test_cancel_gives_back_stock_and_points_once(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    member = (await factory.member(store.shop)).member
    await give_points(db, store, member.id, 400)
    placed = await place(client, store, member.id, (store.mango, 4), points_to_redeem=400)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["points_redeemed"] == 400  # cap 50 % of 40.00 = 20.00 = 2,000 points
    assert order["total"] == 4000 - 400
    assert await ledger_totals(db, member.id) == (0, 0, 0)
    cancelled = await client.post(
        f"/api/v1/orders/{order['id']}/cancel",
        json={"reason": "changed mind"},
        headers=store.headers(),
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert await stock_of(db, store.mango) == 5
    assert await ledger_totals(db, member.id) == (400, 400, 400)
    twice = await client.post(
        f"/api/v1/orders/{order['id']}/cancel", json={"reason": "again"}, headers=store.headers()
    )
    assert twice.status_code == 409
    assert twice.json()["code"] == "order_state"
    assert (twice.json()["status"], twice.json()["order_status"]) == (409, "cancelled")
    assert await stock_of(db, store.mango) == 5
    assert await ledger_totals(db, member.id) == (400, 400, 400)
    paid = await pay(client, store, order["id"])
    assert paid.status_code == 409


async def test_unpaid_orders_expire_and_release_their_stock(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    member = (await factory.member(store.shop)).member
    placed = await place(client, store, member.id, (store.mango, 5))
    assert placed.status_code == 201
    paid_one = await place(client, store, member.id, (store.cherries, 1))
    assert (await pay(client, store, paid_one.json()["id"])).status_code == 201
    loop = WorkerLoop(db, tasks.SWEEPS)
    assert await loop.run_sweep(tasks.SWEEPS[0]) == 0  # not due yet
    with clock.frozen_at(clock.now() + timedelta(minutes=31)):
        assert await loop.run_sweep(tasks.SWEEPS[0]) == 1
        assert await loop.run_sweep(tasks.SWEEPS[0]) == 0
    order = (
        await client.get(f"/api/v1/orders/{placed.json()['id']}", headers=store.shop.headers)
    ).json()
    assert order["status"] == "expired"
    assert order["close_reason"] == "not paid in time"
    assert await stock_of(db, store.mango) == 5
    kinds = await count_rows(db, OrderEvent, OrderEvent.kind == "expired")
    assert kinds == 1


async def test_member_link_sees_only_own_orders(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    alice = (await factory.member(store.shop)).member
    bob = (await factory.member(store.shop)).member
    link = await client.post(f"/api/v1/members/{alice.id}/access-links", headers=store.shop.headers)
    assert link.status_code == 201, link.text
    token = link.json()["token"]
    me = {"Authorization": f"Bearer {token}"}
    mine = await client.post(
        "/api/v1/me/orders", json=cart((store.mango, 1)), headers={**me, "Idempotency-Key": key()}
    )
    assert mine.status_code == 201, mine.text
    assert mine.json()["member_id"] == str(alice.id)
    assert mine.json()["placed_by"] == f"member:{alice.id}"
    bobs = await place(client, store, bob.id, (store.mango, 1))
    listed = await client.get("/api/v1/me/orders", headers=me)
    assert [o["id"] for o in listed.json()["items"]] == [mine.json()["id"]]
    hidden = await client.get(f"/api/v1/me/orders/{bobs.json()['id']}", headers=me)
    assert hidden.status_code == 404
    cancel = await client.post(
        f"/api/v1/me/orders/{bobs.json()['id']}/cancel",
        json={"reason": "not mine"},
        headers={**me, "Idempotency-Key": key()},
    )
    assert cancel.status_code == 404
    session = await client.post("/api/v1/me/session", headers=me)
    assert session.status_code == 200
    client.cookies.set("tribekit_member", session.cookies["tribekit_member"])
    by_cookie = await client.get("/api/v1/me/orders")
    client.cookies.clear()
    assert [o["id"] for o in by_cookie.json()["items"]] == [mine.json()["id"]]
    forged = await client.get("/api/v1/me/orders", headers={"Authorization": f"Bearer {token}x"})
    assert forged.status_code == 401
    staff_token_refused = await client.get("/api/v1/me/orders", headers=store.shop.headers)
    assert staff_token_refused.status_code == 401


async def test_prices_and_totals_sent_by_the_client_are_ignored(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    member = (await factory.member(store.shop)).member
    body = cart((store.mango, 2), total=1, subtotal=1)
    body["lines"][0]["unit_price"] = 1
    placed = await place(client, store, member.id, (store.mango, 2), total=1, subtotal=1)
    assert placed.status_code == 201, placed.text
    assert (placed.json()["subtotal"], placed.json()["total"]) == (2000, 2000)
    quoted = await client.post(
        "/api/v1/orders/quote",
        json={"member_id": str(member.id), **body},
        headers=store.shop.headers,
    )
    assert quoted.json()["lines"][0]["unit_price"] == 1000
    assert quoted.json()["total"] == 2000


async def test_an_order_too_large_for_the_books_is_a_422_not_a_failed_payment(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    member = (await factory.member(store.shop)).member
    pricey = await factory.product(store.shop, name="Orchard", price=10**9)
    refused = await place(client, store, member.id, (pricey, 3))
    assert refused.status_code == 422
    assert "at most 20000000.00 CNY" in refused.json()["detail"]
    assert await count_rows(db, Order) == 0


async def test_null_for_a_required_coupon_or_product_field_is_a_422(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    coupon = await client.post(
        "/api/v1/coupons",
        json={"code": "SPRING", "kind": "amount", "value": 100},
        headers=store.shop.headers,
    )
    path = f"/api/v1/coupons/{coupon.json()['id']}"
    for body in ({"active": None}, {"min_subtotal": None}):
        response = await client.patch(path, json=body, headers=store.shop.headers)
        assert response.status_code == 422, body
    window = await client.patch(
        path,
        json={"starts_at": "2026-12-02T00:00:00Z", "ends_at": "2026-12-01T00:00:00Z"},
        headers=store.shop.headers,
    )
    assert window.status_code == 422
    assert window.json()["errors"][0]["loc"] == ["body", "ends_at"]
    unchanged = (await client.get(path, headers=store.shop.headers)).json()
    assert (unchanged["active"], unchanged["min_subtotal"], unchanged["starts_at"]) == (
        True,
        0,
        None,
    )
    images = await client.patch(
        f"/api/v1/products/{store.mango.id}", json={"images": None}, headers=store.shop.headers
    )
    assert images.status_code == 422
