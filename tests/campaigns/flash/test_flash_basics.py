"""A flash sale end to end on the SQL engine: made by staff, started from stock, bought with a
flash token (every refusal a 409 with its code), paid, expired, ended with the rest back."""

from __future__ import annotations

from datetime import timedelta

from httpx import AsyncClient

from tests.factories import Factory
from tribekit.kit import clock
from tribekit.kit.db import Database

from .world import (
    buy,
    end_sales,
    expire_reservations,
    flash_headers,
    flash_shop,
    live_sale,
    reservations,
    sale_row,
    stock,
    takes,
)


async def test_a_sale_sells_its_allotment_and_gives_back_the_rest(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    world = await flash_shop(db, factory, stock=50)
    sale_id = await live_sale(client, db, world, quantity=10, per_member_limit=2)
    row = await sale_row(db, sale_id)
    assert (row.status, row.allotted, row.remaining) == ("live", 10, 10)
    assert await stock(db, world.product) == 40
    member = await factory.member(world.shop)
    bought = await buy(client, sale_id, flash_headers(world.shop, member.member.id), quantity=2)
    assert bought.status_code == 201, bought.text
    body = bought.json()
    assert (body["quantity"], body["unit_price"], body["total"], body["left"]) == (2, 4900, 9800, 8)
    assert body["order_id"] == body["reservation_id"]
    order = await client.get(f"/api/v1/orders/{body['order_id']}", headers=world.shop.headers)
    assert order.status_code == 200, order.text
    assert (order.json()["status"], order.json()["total"]) == ("placed", 9800)
    again = await buy(client, sale_id, flash_headers(world.shop, member.member.id))
    assert (again.status_code, again.json()["code"]) == (409, "limit_reached")
    assert await takes(db, sale_id) == {member.member.id: 2}
    assert await end_sales(db) == 0  # not its time yet
    with clock.frozen_at(row.ends_at + timedelta(seconds=1)):
        assert await end_sales(db) == 1
    ended = await sale_row(db, sale_id)
    assert (ended.status, ended.remaining, ended.returned) == ("ended", 0, 8)
    assert await stock(db, world.product) == 48  # 50 - 10 + 8: the reserved 2 are still held
    with clock.frozen_at(row.ends_at + timedelta(minutes=20)):
        assert await expire_reservations(db) == 1
    ended = await sale_row(db, sale_id)
    assert ended.returned == 10
    assert await stock(db, world.product) == 50
    [reservation] = await reservations(db, sale_id)
    assert reservation.status == "expired"
    late = await buy(client, sale_id, flash_headers(world.shop, member.member.id))
    assert (late.status_code, late.json()["code"]) == (409, "ended")
