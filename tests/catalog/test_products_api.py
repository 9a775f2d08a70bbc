"""Products and events through the HTTP API: create, validation, unique SKUs, partial updates,
conditional stock adjustments (also under concurrent requests), list filters, tenancy."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient, Response

from tests.catalog.csvfiles import products, snapshot
from tests.concurrency import fire
from tests.factories import Factory, Shop
from tribekit.kit.db import Database

API = "/api/v1/products"
EVENT_ONLY = "only events have a time, place or sign-up deadline"
CONCERT = {
    "name": "Jazz night",
    "kind": "event",
    "price": 8000,
    "stock": 120,
    "starts_at": "2025-06-01T19:30:00+08:00",
    "ends_at": "2025-06-01T22:00:00+08:00",
    "signup_deadline": "2025-05-31T12:00:00Z",
    "place": "Blue Note, Shanghai",
}


async def _create(client: AsyncClient, shop: Shop, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "Mango box")
    body.setdefault("price", 5900)
    response = await client.post(API, json=body, headers=shop.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _problem(response: Response) -> tuple[int, str, list[tuple[Any, ...]]]:
    body = response.json()
    errors = [(tuple(e["loc"]), e["message"]) for e in body["errors"]]
    return response.status_code, body["code"], errors


# ----------------------------------------------------------------------------------------- create


async def test_create_goods_with_every_field_and_read_it_back(
    client: AsyncClient, factory: Factory
) -> None:
    shop = await factory.shop()
    body = await _create(
        client,
        shop,
        sku="BOX-MANGO",
        name=" Mango box 3 kg ",
        description="Sweet.",
        role="traffic",
        price=5900,
        cost_price=3000,
        stock=40,
        category="fruit",
        tags=["Summer", "summer", "Fruit"],
        images=["https://cdn.example/m.png"],
        ladder=[{"min_quantity": 5, "unit_price": 5500}, {"min_quantity": 10, "unit_price": 5000}],
    )
    expected = {
        "sku": "BOX-MANGO",
        "name": "Mango box 3 kg",
        "description": "Sweet.",
        "kind": "goods",
        "role": "traffic",
        "price": 5900,
        "cost_price": 3000,
        "stock": 40,
        "active": True,
        "category": "fruit",
        "tags": ["fruit", "summer"],
        "images": ["https://cdn.example/m.png"],
        "ladder": [
            {"min_quantity": 5, "unit_price": 5500},
            {"min_quantity": 10, "unit_price": 5000},
        ],
        "starts_at": None,
        "ends_at": None,
        "place": None,
        "signup_deadline": None,
    }
    assert {k: body[k] for k in expected} == expected
    fetched = await client.get(f"{API}/{body['id']}", headers=shop.headers)
    assert fetched.status_code == 200
    assert fetched.json() == body


async def test_create_an_event_with_its_times_in_utc(client: AsyncClient, factory: Factory) -> None:
    shop = await factory.shop()
    body = await _create(client, shop, **CONCERT)
    assert (body["kind"], body["stock"], body["place"]) == ("event", 120, "Blue Note, Shanghai")
    assert (body["starts_at"], body["ends_at"], body["signup_deadline"]) == (
        "2025-06-01T11:30:00Z",
        "2025-06-01T14:00:00Z",
        "2025-05-31T12:00:00Z",
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"place": "Hall 1"},
            (422, "validation_failed", [(("body", "place"), EVENT_ONLY)]),
        ),
        (
            {"starts_at": "2025-06-01T10:00:00Z"},
            (422, "validation_failed", [(("body", "starts_at"), EVENT_ONLY)]),
        ),
        (
            {"kind": "event"},
            (422, "validation_failed", [(("body", "starts_at"), "an event needs a start time")]),
        ),
        (
            {**CONCERT, "ends_at": "2025-06-01T19:00:00+08:00"},
            (422, "validation_failed", [(("body", "ends_at"), "an event ends after it starts")]),
        ),
        (
            {**CONCERT, "signup_deadline": "2025-06-01T23:00:00+08:00"},
            (
                422,
                "validation_failed",
                [(("body", "signup_deadline"), "sign-up must close before the event ends")],
            ),
        ),
        (
            {
                "ladder": [
                    {"min_quantity": 10, "unit_price": 900},
                    {"min_quantity": 5, "unit_price": 950},
                ]
            },
            (
                422,
                "validation_failed",
                [
                    (
                        ("body",),
                        "Value error, ladder: tiers must be listed by strictly increasing "
                        "min_quantity",
                    )
                ],
            ),
        ),
        (
            {"ladder": [{"min_quantity": 0, "unit_price": 900}]},
            (
                422,
                "validation_failed",
                [
                    (
                        ("body", "ladder", 0, "min_quantity"),
                        "Input should be greater than or equal to 1",
                    )
                ],
            ),
        ),
        (
            {"price": -1},
            (
                422,
                "validation_failed",
                [(("body", "price"), "Input should be greater than or equal to 0")],
            ),
        ),
        (
            {"kind": "ticket"},
            (
                422,
                "validation_failed",
                [(("body", "kind"), "Input should be 'goods', 'event' or 'bundle'")],
            ),
        ),
    ],
    ids=[
        "goods-with-place",
        "goods-with-start",
        "event-without-start",
        "ends-before-start",
        "deadline-after-end",
        "ladder-not-increasing",
        "ladder-zero-quantity",
        "negative-price",
        "unknown-kind",
    ],
)
async def test_invalid_products_are_refused_and_nothing_is_created(
    client: AsyncClient,
    factory: Factory,
    db: Database,
    body: dict[str, Any],
    expected: tuple[int, str, list[tuple[Any, ...]]],
) -> None:
    shop = await factory.shop()
    response = await client.post(
        API, json={"name": "Thing", "price": 100, **body}, headers=shop.headers
    )
    assert _problem(response) == expected
    assert await products(db, shop) == {}


async def test_a_sku_is_unique_per_merchant(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop, other = await factory.shop(), await factory.shop()
    first = await _create(client, shop, sku="MANGO")

    again = await client.post(
        API, json={"sku": "MANGO", "name": "Other", "price": 1}, headers=shop.headers
    )
    assert again.status_code == 409
    assert (again.json()["code"], again.json()["detail"]) == (
        "conflict",
        "another product already has SKU 'MANGO'; SKUs are unique per merchant",
    )
    assert list(await products(db, shop)) == ["MANGO"]
    await _create(client, other, sku="MANGO")  # another merchant may use it

    second = await _create(client, shop, sku="KIWI")
    renamed = await client.patch(
        f"{API}/{second['id']}", json={"sku": "MANGO"}, headers=shop.headers
    )
    assert renamed.status_code == 409
    assert sorted(await products(db, shop)) == ["KIWI", "MANGO"]
    assert (await products(db, shop))["MANGO"].id.hex == first["id"].replace("-", "")


# ------------------------------------------------------------------------------------------ update


async def test_patch_changes_only_the_fields_sent(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    created = await _create(
        client, shop, sku="MANGO", category="fruit", tags=["summer"], stock=7, cost_price=3000
    )

    response = await client.patch(
        f"{API}/{created['id']}",
        json={"price": 6100, "category": None, "tags": ["Autumn"]},
        headers=shop.headers,
    )

    assert response.status_code == 200, response.text
    changed = response.json()
    assert {k: v for k, v in changed.items() if changed[k] != created[k]} == {
        "price": 6100,
        "category": None,
        "tags": ["autumn"],
        "updated_at": changed["updated_at"],
        "margin": 3100,  # 61.00 - 30.00, was 29.00
        "margin_bps": 5081,  # was 4915
    }
    refused = await client.patch(
        f"{API}/{created['id']}", json={"name": None}, headers=shop.headers
    )
    assert _problem(refused) == (422, "validation_failed", [(("body", "name"), "may not be null")])
    stock = await client.patch(f"{API}/{created['id']}", json={"stock": 1}, headers=shop.headers)
    assert stock.status_code == 422
    assert stock.json()["errors"][0]["loc"] == ["body", "stock"]
    event_field = await client.patch(
        f"{API}/{created['id']}", json={"place": "Hall"}, headers=shop.headers
    )
    assert _problem(event_field) == (422, "validation_failed", [(("body", "place"), EVENT_ONLY)])
    stored = (await products(db, shop))["MANGO"]
    assert (stored.price, stored.category, stored.tags, stored.stock, stored.name) == (
        6100,
        None,
        ["autumn"],
        7,
        "Mango box",
    )


async def test_patch_of_an_event_checks_the_merged_times(
    client: AsyncClient, factory: Factory
) -> None:
    shop = await factory.shop()
    event = await _create(client, shop, **CONCERT)
    late = await client.patch(
        f"{API}/{event['id']}", json={"starts_at": "2025-06-02T00:00:00Z"}, headers=shop.headers
    )
    assert _problem(late) == (
        422,
        "validation_failed",
        [(("body", "ends_at"), "an event ends after it starts")],
    )
    moved = await client.patch(
        f"{API}/{event['id']}",
        json={"starts_at": "2025-06-02T11:30:00Z", "ends_at": "2025-06-02T14:00:00Z"},
        headers=shop.headers,
    )
    assert moved.status_code == 200
    assert (moved.json()["starts_at"], moved.json()["signup_deadline"]) == (
        "2025-06-02T11:30:00Z",
        "2025-05-31T12:00:00Z",
    )


# ------------------------------------------------------------------------------------------- stock


async def test_stock_adjustments_are_conditional(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    tracked = await _create(client, shop, sku="MANGO", stock=5)
    untracked = await _create(client, shop, sku="KIWI")
    url = f"{API}/{tracked['id']}/stock-adjustments"

    added = await client.post(url, json={"delta": 3, "reason": "delivery"}, headers=shop.headers)
    assert (added.status_code, added.json()) == (200, {"product_id": tracked["id"], "stock": 8})
    removed = await client.post(url, json={"delta": -8, "reason": "sold"}, headers=shop.headers)
    assert removed.json()["stock"] == 0
    await client.post(url, json={"delta": 2, "reason": "found two"}, headers=shop.headers)

    too_many = await client.post(url, json={"delta": -3, "reason": "x"}, headers=shop.headers)
    assert too_many.status_code == 409
    assert too_many.json()["code"] == "not_enough_stock"
    assert too_many.json()["detail"] == "cannot remove 3 units: fewer are left"
    assert too_many.json()["stock"] == 2
    assert (await products(db, shop))["MANGO"].stock == 2

    not_tracked = await client.post(
        f"{API}/{untracked['id']}/stock-adjustments",
        json={"delta": 1, "reason": "x"},
        headers=shop.headers,
    )
    assert not_tracked.status_code == 422
    assert not_tracked.json()["code"] == "validation_failed"
    assert (await products(db, shop))["KIWI"].stock is None


async def test_concurrent_removals_never_take_more_than_is_left(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    product = await _create(client, shop, sku="MANGO", stock=10)
    url = f"{API}/{product['id']}/stock-adjustments"

    responses = await fire(
        25, lambda _: client.post(url, json={"delta": -1, "reason": "sold"}, headers=shop.headers)
    )

    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 10 + [409] * 15
    assert sorted(r.json()["stock"] for r in responses if r.status_code == 200) == list(range(10))
    assert (await products(db, shop))["MANGO"].stock == 0


# -------------------------------------------------------------------------------------------- list


async def test_the_list_filters_by_kind_role_active_category_tag_and_text(
    client: AsyncClient, factory: Factory
) -> None:
    shop = await factory.shop()
    mango = await _create(
        client,
        shop,
        sku="MANGO",
        name="Mango box",
        role="traffic",
        category="fruit",
        tags=["summer"],
    )
    kiwi = await _create(
        client, shop, sku="KIWI", name="Kiwi", role="profit", category="fruit", active=False
    )
    tea = await _create(client, shop, sku="TEA", name="Green tea", tags=["Summer", "drink"])
    concert = await _create(client, shop, **CONCERT, sku="JAZZ")
    other = await factory.shop()
    await _create(client, other, sku="MANGO-2", name="Mango elsewhere", category="fruit")

    async def names(**params: Any) -> list[str]:
        response = await client.get(API, params=params, headers=shop.headers)
        assert response.status_code == 200, response.text
        return [item["name"] for item in response.json()["items"]]

    assert await names() == ["Jazz night", "Green tea", "Kiwi", "Mango box"]
    assert await names(kind="event") == [concert["name"]]
    assert await names(kind="goods", role="traffic") == [mango["name"]]
    assert await names(active="false") == [kiwi["name"]]
    assert await names(category="fruit") == ["Kiwi", "Mango box"]
    assert await names(tag="SUMMER") == [tea["name"], mango["name"]]
    assert await names(q="mango") == ["Mango box"]
    assert await names(q="tea") == ["Green tea"]
    assert await names(q="jaz") == ["Jazz night"]

    first = await client.get(API, params={"limit": 3}, headers=shop.headers)
    rest = await client.get(
        API, params={"limit": 3, "cursor": first.json()["next_cursor"]}, headers=shop.headers
    )
    assert [i["name"] for i in rest.json()["items"]] == ["Mango box"]
    assert rest.json()["next_cursor"] is None
    bad = await client.get(API, params={"role": "vip"}, headers=shop.headers)
    assert bad.status_code == 422


# ----------------------------------------------------------------------------------------- tenancy


async def test_another_merchants_product_is_not_found_and_untouched(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop, other = await factory.shop(), await factory.shop()
    product = await _create(client, other, sku="MANGO", stock=5)
    before = snapshot(await products(db, other))
    missing = f"no product with id {product['id']} at this merchant"

    for method, path, body in (
        ("GET", f"{API}/{product['id']}", None),
        ("PATCH", f"{API}/{product['id']}", {"price": 1}),
        ("POST", f"{API}/{product['id']}/stock-adjustments", {"delta": -5, "reason": "x"}),
    ):
        response = await client.request(method, path, json=body, headers=shop.headers)
        assert (response.status_code, response.json()["detail"]) == (404, missing), method
    assert snapshot(await products(db, other)) == before
