"""A coupon that cannot be used is shown as not applied in a quote, with the reason; an order is
not placed with it (409 coupon_used_up when no use is left, 422 coupon_not_usable otherwise)."""

from __future__ import annotations

from httpx import AsyncClient

from tests.factories import Factory, count_rows
from tribekit.kit.db import Database
from tribekit.models.orders import Order

from .store import cart, open_store, place


async def test_a_coupon_the_member_used_is_not_applied_and_the_quote_still_prices(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    member = (await factory.member(store.shop)).member
    for code, value in (("ONCE", 500), ("TEN", 1000)):
        created = await client.post(
            "/api/v1/coupons",
            json={"code": code, "kind": "amount", "value": value},
            headers=store.shop.headers,
        )
        assert created.status_code == 201, created.text
    first = await place(client, store, member.id, (store.cherries, 1), coupon_codes=["once"])
    assert first.status_code == 201, first.text
    assert first.json()["coupon_discount"] == 500

    body = {
        "member_id": str(member.id),
        **cart((store.cherries, 1), coupon_codes=["ONCE", "NOPE", "TEN"]),
    }
    quoted = await client.post("/api/v1/orders/quote", json=body, headers=store.shop.headers)
    assert quoted.status_code == 200, quoted.text
    quote = quoted.json()
    assert [(c["code"], c["applied"], c["discount"], c["why"]) for c in quote["coupons"]] == [
        ("ONCE", False, 0, "coupon ONCE was already used by this member"),
        ("NOPE", False, 0, "no active coupon 'NOPE' at this shop"),
        ("TEN", True, 1000, quote["coupons"][2]["why"]),
    ]
    assert quote["coupon_discount"] == 1000
    assert quote["total"] == 4000
    assert "coupon ONCE not applied: coupon ONCE was already used by this member" in quote["why"]

    orders_before = await count_rows(db, Order)
    used = await place(client, store, member.id, (store.cherries, 1), coupon_codes=["ONCE"])
    assert used.status_code == 409
    assert used.json()["code"] == "coupon_used_up"
    assert used.json()["detail"] == "coupon_codes: coupon ONCE was already used by this member"
    unknown = await place(client, store, member.id, (store.cherries, 1), coupon_codes=["NOPE"])
    assert unknown.status_code == 422
    assert unknown.json()["code"] == "coupon_not_usable"
    assert await count_rows(db, Order) == orders_before  # nothing placed
