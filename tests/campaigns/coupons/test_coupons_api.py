"""Staff manage coupons through ``/api/v1/coupons`` (the campaigns domain): codes are stored
upper-case and unique per shop, a page lists them, a change that would undercut the uses
already taken is refused and changes nothing."""

from __future__ import annotations

from httpx import AsyncClient

from tests.factories import Factory


async def test_a_coupon_is_created_listed_read_and_changed(
    client: AsyncClient, factory: Factory
) -> None:
    shop = await factory.shop()
    created = await client.post(
        "/api/v1/coupons",
        json={"code": "spring-10", "kind": "percent", "value": 1000, "usage_limit": 3},
        headers=shop.headers,
    )
    assert created.status_code == 201, created.text
    coupon = created.json()
    assert (coupon["code"], coupon["kind"], coupon["value"], coupon["used"]) == (
        "SPRING-10",
        "percent",
        1000,
        0,
    )
    assert (coupon["per_member_limit"], coupon["min_subtotal"], coupon["active"]) == (1, 0, True)

    taken = await client.post(
        "/api/v1/coupons",
        json={"code": "Spring-10", "kind": "amount", "value": 100},
        headers=shop.headers,
    )
    assert taken.status_code == 409, taken.text

    listed = await client.get("/api/v1/coupons", headers=shop.headers)
    assert [c["code"] for c in listed.json()["items"]] == ["SPRING-10"]
    assert listed.json()["next_cursor"] is None

    path = f"/api/v1/coupons/{coupon['id']}"
    changed = await client.patch(
        path, json={"usage_limit": 5, "active": False}, headers=shop.headers
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["usage_limit"], changed.json()["active"]) == (5, False)
    read = await client.get(path, headers=shop.headers)
    assert (read.json()["usage_limit"], read.json()["active"]) == (5, False)


async def test_a_percent_above_100_is_refused_and_nothing_is_created(
    client: AsyncClient, factory: Factory
) -> None:
    shop = await factory.shop()
    refused = await client.post(
        "/api/v1/coupons",
        json={"code": "ALL", "kind": "percent", "value": 10_001},
        headers=shop.headers,
    )
    assert refused.status_code == 422, refused.text
    listed = await client.get("/api/v1/coupons", headers=shop.headers)
    assert listed.json()["items"] == []
