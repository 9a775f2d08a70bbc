"""What a coupon applies to and with what: the pure engine refuses a coupon that is not
stackable next to another one, and covers only the products and gift packs a coupon lists,
each refusal explained; checkout refuses a member whose level the coupon does not list."""

from __future__ import annotations

import uuid
from typing import Any

from httpx import AsyncClient

from tests.factories import Factory
from tests.orders.store import Store, open_store
from tests.pricing.carts import APPLE, PEAR, line, rules
from tribekit.kit.db import Database
from tribekit.pricing import CouponInput, CouponResult, MemberInput, quote

from .book import make_coupon

PACK = uuid.UUID(int=9)
NOBODY = MemberInput()


def amount(code: str, value: int, **more: Any) -> CouponInput:
    return CouponInput(code, "amount", value, **more)


def test_a_coupon_that_is_not_stackable_is_refused_after_another() -> None:
    q = quote(
        [line("a", 5000)],
        NOBODY,
        rules(coupons_combine=True),
        [amount("FIVE", 500), amount("ALONE", 1000, stackable=False), amount("TWO", 200)],
    )
    assert q.coupons == (
        CouponResult("FIVE", True, 500, "5.00 CNY off 50.00 CNY: -5.00 CNY"),
        CouponResult(
            "ALONE", False, 0, "combines with no other coupon, and coupon FIVE is applied"
        ),
        CouponResult("TWO", True, 200, "2.00 CNY off 45.00 CNY: -2.00 CNY"),
    )
    assert q.total == 4300
    assert (
        "coupon ALONE not applied: combines with no other coupon, and coupon FIVE is applied"
        in q.why
    )


def test_a_coupon_that_is_not_stackable_takes_no_other_after_it() -> None:
    q = quote(
        [line("a", 5000)],
        NOBODY,
        rules(coupons_combine=True),
        [amount("ALONE", 1000, stackable=False), amount("FIVE", 500)],
    )
    assert [(c.code, c.applied, c.why) for c in q.coupons] == [
        ("ALONE", True, "10.00 CNY off 50.00 CNY: -10.00 CNY"),
        ("FIVE", False, "coupon ALONE is applied and combines with no other coupon"),
    ]
    assert q.total == 4000


def test_where_coupons_never_combine_the_shop_rule_is_the_reason() -> None:
    q = quote(
        [line("a", 5000)],
        NOBODY,
        rules(),
        [amount("FIVE", 500), amount("ALONE", 1000, stackable=False)],
    )
    assert q.coupons[1] == CouponResult("ALONE", False, 0, "coupons do not combine at this shop")


def test_a_coupon_covers_the_products_and_gift_packs_it_lists() -> None:
    cart = [
        line("a", 3000),
        line("b", 2000, product=PEAR, name="Pear"),
        line("c", 9000, product=PACK, name="Friday pack"),
    ]
    packs_only = quote(cart, NOBODY, rules(), [amount("PACKS", 1000, bundle_ids=frozenset({PACK}))])
    assert [p.coupon_discount for p in packs_only.lines] == [0, 0, 1000]
    both = quote(
        cart,
        NOBODY,
        rules(),
        [
            amount(
                "APPLE-AND-PACK",
                1200,
                product_ids=frozenset({APPLE}),
                bundle_ids=frozenset({PACK}),
            )
        ],
    )
    assert [p.coupon_discount for p in both.lines] == [300, 0, 900]  # 3000 : 9000 of 1200
    none = quote(
        [line("b", 2000, product=PEAR, name="Pear")],
        NOBODY,
        rules(),
        [amount("PACKS", 1000, bundle_ids=frozenset({PACK}))],
    )
    assert none.coupons == (
        CouponResult("PACKS", False, 0, "covers none of the products or gift packs in the cart"),
    )


async def _quoted(
    client: AsyncClient, store: Store, member_id: uuid.UUID, *codes: str
) -> list[tuple[str, bool, str]]:
    quoted = await client.post(
        "/api/v1/orders/quote",
        json={
            "member_id": str(member_id),
            "lines": [{"product_id": str(store.cherries.id), "quantity": 1}],
            "coupon_codes": list(codes),
        },
        headers=store.shop.headers,
    )
    assert quoted.status_code == 200, quoted.text
    return [(c["code"], c["applied"], c["why"]) for c in quoted.json()["coupons"]]


async def test_a_member_of_a_level_not_listed_is_refused_with_the_levels(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    ladder = store.ladder
    await make_coupon(
        client, store.shop, code="TOP", level_ids=[str(ladder.gold.id), str(ladder.black.id)]
    )
    member_id = (await factory.member(store.shop)).member.id
    assert await _quoted(client, store, member_id, "TOP") == [
        (
            "TOP",
            False,
            "coupon TOP is for members of level Black or Gold (this member has no level)",
        )
    ]
    made_silver = await client.put(
        f"/api/v1/members/{member_id}/level",
        json={"level_id": str(ladder.silver.id), "reason": "first steps"},
        headers=store.shop.headers,
    )
    assert made_silver.status_code == 200, made_silver.text
    assert await _quoted(client, store, member_id, "TOP") == [
        ("TOP", False, "coupon TOP is for members of level Black or Gold (this member is Silver)")
    ]
    made_gold = await client.put(
        f"/api/v1/members/{member_id}/level",
        json={"level_id": str(ladder.gold.id), "reason": "loyal"},
        headers=store.shop.headers,
    )
    assert made_gold.status_code == 200, made_gold.text
    [(code, applied, _)] = await _quoted(client, store, member_id, "TOP")
    assert (code, applied) == ("TOP", True)


async def test_checkout_applies_the_stacking_of_the_saved_coupons(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    combine = await client.patch(
        "/api/v1/checkout/settings", json={"coupons_combine": True}, headers=store.shop.headers
    )
    assert combine.status_code == 200
    await make_coupon(client, store.shop, code="FIVE")
    await make_coupon(client, store.shop, code="ALONE", value=1000, stackable=False)
    member_id = (await factory.member(store.shop)).member.id
    assert await _quoted(client, store, member_id, "FIVE", "ALONE") == [
        ("FIVE", True, "5.00 CNY off 50.00 CNY: -5.00 CNY"),
        ("ALONE", False, "combines with no other coupon, and coupon FIVE is applied"),
    ]
