"""Staff's flash sale routes: making one (every bad input a 4xx that names the field, nothing
written), reading it with its units, changing and cancelling it before it starts only, the
permissions; the public live state."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from httpx import AsyncClient

from tests.factories import Factory, bearer, count_rows
from tribekit.campaigns.flash import service
from tribekit.campaigns.flash.spec import FlashSaleSpec
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.models.campaigns import CampaignSchedule, FlashSale
from tribekit.models.enums import Role

from .world import (
    buy,
    create_sale,
    flash_headers,
    flash_shop,
    group,
    level,
    live_sale,
    sale_body,
    start_sales,
    stock,
)


async def test_a_sale_is_made_scheduled_with_what_was_asked(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    world = await flash_shop(db, factory)
    starts = clock.now() + timedelta(hours=1)
    sale = await create_sale(
        client,
        world,
        starts_at=starts.isoformat(),
        ends_at=(starts + timedelta(hours=2)).isoformat(),
        quantity=20,
        per_member_limit=3,
        announcements={"start": {"en": "Durians at 49!"}},
    )
    assert sale["name"] == "Durian box"  # the product's, when not given
    assert (sale["status"], sale["price"], sale["quantity"], sale["per_member_limit"]) == (
        "scheduled",
        4900,
        20,
        3,
    )
    assert sale["counts"] == {
        "allotted": 0,
        "reserved": 0,
        "paid": 0,
        "expired": 0,
        "returned": 0,
        "left": 0,
    }
    assert sale["announcements"] == {"start": {"en": "Durians at 49!"}}
    assert sale["created_by"].startswith("staff:")
    assert await start_sales(db) == 0  # an hour early
    assert await stock(db, world.product) == 50
    listed = await client.get("/api/v1/flash-sales", headers=world.shop.headers)
    assert [s["id"] for s in listed.json()["items"]] == [sale["id"]]
    got = await client.get(f"/api/v1/flash-sales/{sale['id']}", headers=world.shop.headers)
    assert got.json()["quantity"] == 20


async def test_bad_sales_are_refused_with_what_to_fix_and_nothing_written(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    world = await flash_shop(db, factory)
    other = await flash_shop(db, factory)
    theirs = await group(db, other.shop, "Their group")
    their_level = await level(db, other.shop, "Gold", 1)
    now = clock.now()
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"product_id": str(other.product.id)}, 404, "not_found"),
        ({"product_id": str(uuid.uuid4())}, 404, "not_found"),
        ({"price": -1}, 422, "validation_failed"),
        ({"quantity": 0}, 422, "validation_failed"),
        ({"per_member_limit": 11}, 422, "bad_flash_sale"),
        ({"reservation_ttl_seconds": 10}, 422, "bad_flash_sale"),
        (
            {"starts_at": (now + timedelta(hours=2)).isoformat(), "ends_at": now.isoformat()},
            422,
            "bad_flash_sale",
        ),
        ({"ends_at": (now - timedelta(minutes=1)).isoformat()}, 422, "bad_flash_sale"),
        ({"starts_at": "2026-12-01T20:00:00"}, 422, "validation_failed"),
        ({"community_ids": [str(theirs)]}, 404, "not_found"),
        ({"level_ids": [str(their_level)]}, 404, "not_found"),
        ({"announcements": {"later": {"en": "?"}}}, 422, "bad_flash_sale"),
    ]
    for fields, code, problem in cases:
        made = await client.post(
            "/api/v1/flash-sales", json=sale_body(world, **fields), headers=world.shop.headers
        )
        assert (made.status_code, made.json()["code"]) == (code, problem), fields
    assert await count_rows(db, FlashSale) == 0


async def test_only_goods_on_sale_can_be_sold(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    world = await flash_shop(db, factory)
    off = await factory.product(world.shop, name="Old stock", active=False)
    made = await client.post(
        "/api/v1/flash-sales",
        json=sale_body(world, product_id=str(off.id)),
        headers=world.shop.headers,
    )
    assert (made.status_code, made.json()["code"]) == (422, "bad_flash_sale")
    assert "activate it first" in made.json()["detail"]
    assert await count_rows(db, FlashSale) == 0


async def test_a_sale_changes_and_cancels_before_it_starts_only(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    world = await flash_shop(db, factory)
    starts = clock.now() + timedelta(hours=1)
    sale = await create_sale(
        client,
        world,
        starts_at=starts.isoformat(),
        ends_at=(starts + timedelta(hours=1)).isoformat(),
    )
    changed = await client.patch(
        f"/api/v1/flash-sales/{sale['id']}",
        json={"price": 3900, "quantity": 30},
        headers=world.shop.headers,
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["price"], changed.json()["quantity"], changed.json()["version"]) == (
        3900,
        30,
        2,
    )
    bad = await client.patch(
        f"/api/v1/flash-sales/{sale['id']}",
        json={"per_member_limit": 31},
        headers=world.shop.headers,
    )
    assert (bad.status_code, bad.json()["code"]) == (422, "bad_flash_sale")
    cancelled = await client.post(
        f"/api/v1/flash-sales/{sale['id']}/cancel", headers=world.shop.headers
    )
    assert cancelled.json()["status"] == "cancelled"
    again = await client.post(
        f"/api/v1/flash-sales/{sale['id']}/cancel", headers=world.shop.headers
    )
    assert again.json()["status"] == "cancelled"
    with clock.frozen_at(starts + timedelta(minutes=1)):
        assert await start_sales(db) == 0  # a cancelled sale never starts
    assert await stock(db, world.product) == 50

    live_id = await live_sale(client, db, world)
    late = await client.patch(
        f"/api/v1/flash-sales/{live_id}", json={"price": 100}, headers=world.shop.headers
    )
    assert (late.status_code, late.json()["code"]) == (409, "flash_sale_started")
    stop = await client.post(f"/api/v1/flash-sales/{live_id}/cancel", headers=world.shop.headers)
    assert (stop.status_code, stop.json()["code"]) == (409, "flash_sale_started")
    got = await client.get(f"/api/v1/flash-sales/{live_id}", headers=world.shop.headers)
    assert (got.json()["status"], got.json()["price"]) == ("live", 4900)


async def test_analysts_read_sales_and_cannot_make_them(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    world = await flash_shop(db, factory)
    sale = await create_sale(client, world)
    analyst = bearer(await factory.staff_token(world.shop, Role.ANALYST))
    leader = bearer(await factory.staff_token(world.shop, Role.LEADER))
    assert (await client.get("/api/v1/flash-sales", headers=analyst)).status_code == 200
    made = await client.post("/api/v1/flash-sales", json=sale_body(world), headers=analyst)
    assert made.status_code == 403
    assert (await client.get("/api/v1/flash-sales", headers=leader)).status_code == 403
    cancel = await client.post(f"/api/v1/flash-sales/{sale['id']}/cancel", headers=analyst)
    assert cancel.status_code == 403
    assert await count_rows(db, FlashSale) == 1


async def test_the_live_state_counts_down_and_counts_units(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    world = await flash_shop(db, factory)
    sale_id = await live_sale(client, db, world, quantity=5, per_member_limit=5)
    state = await client.get(f"/api/v1/flash-sales/{sale_id}/live")
    assert state.status_code == 200, state.text
    body = state.json()
    assert (body["status"], body["left"], body["price"], body["regular_price"]) == (
        "live",
        5,
        4900,
        9900,
    )
    assert body["seconds_to_start"] == 0
    assert 7190 <= body["seconds_to_end"] <= 7200
    member = await factory.member(world.shop)
    bought = await buy(client, sale_id, flash_headers(world.shop, member.member.id), quantity=5)
    assert bought.status_code == 201
    after = (await client.get(f"/api/v1/flash-sales/{sale_id}/live")).json()
    assert (after["status"], after["left"]) == ("sold_out", 0)
    staff = await client.get(f"/api/v1/flash-sales/{sale_id}", headers=world.shop.headers)
    assert staff.json()["status"] == "sold_out"
    assert staff.json()["counts"] == {
        "allotted": 5,
        "reserved": 5,
        "paid": 0,
        "expired": 0,
        "returned": 0,
        "left": 0,
    }
    unknown = await client.get(f"/api/v1/flash-sales/{uuid.uuid4()}/live")
    assert unknown.status_code == 404


async def test_a_schedule_occurrence_makes_one_sale_however_often_it_is_made(
    db: Database, factory: Factory
) -> None:
    world = await flash_shop(db, factory)
    now = clock.now()
    async with db.unit_of_work() as session:
        schedule = CampaignSchedule(
            merchant_id=world.shop.tenant.id,
            name="Weeknights",
            rule="Mon-Thu 20:00 for 2 h",
            cron="0 20 * * 1-4",
            duration_seconds=7200,
            timezone="Asia/Shanghai",
            kind="flash_sale",
            template={},
            due_at=now,
            created_by="test",
        )
        session.add(schedule)
        await session.flush()
        schedule_id = schedule.id
    spec = FlashSaleSpec(
        product_id=world.product.id,
        price=4900,
        quantity=10,
        starts_at=now + timedelta(hours=1),
        ends_at=now + timedelta(hours=3),
    )

    async def make() -> FlashSale | None:
        async with db.unit_of_work() as session:
            await service.check_create(session, world.shop.tenant, spec)
            return await service.do_create(
                session,
                world.shop.tenant,
                spec,
                "schedule",
                schedule_id=schedule_id,
                occurrence_key="2026-12-07",
            )

    first = await make()
    assert first is not None
    assert (first.schedule_id, first.occurrence_key, first.status) == (
        schedule_id,
        "2026-12-07",
        "scheduled",
    )
    assert await make() is None
    assert await count_rows(db, FlashSale) == 1


async def test_the_live_state_of_a_coming_sale_counts_down_to_its_start(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    world = await flash_shop(db, factory)
    starts = clock.now() + timedelta(minutes=10)
    sale = await create_sale(
        client,
        world,
        quantity=8,
        starts_at=starts.isoformat(),
        ends_at=(starts + timedelta(hours=1)).isoformat(),
    )
    state = (await client.get(f"/api/v1/flash-sales/{sale['id']}/live")).json()
    assert (state["status"], state["left"]) == ("scheduled", 8)
    assert 590 <= state["seconds_to_start"] <= 600
    assert 4190 <= state["seconds_to_end"] <= 4200
