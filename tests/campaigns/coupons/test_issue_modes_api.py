"""Staff make coupons of each issue mode through ``/api/v1/coupons``: the rules between the new
fields (a grant reason only for grant coupons, valid_days only from issue and never with fixed
dates, something covered, listed levels) and the ids they name (this merchant's products, gift
packs, levels) are checked before anything is written; a refused create or change leaves
everything as it was."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient

from tests.factories import Factory, count_rows
from tests.membership.ladder import scenario_7
from tribekit.kit.db import Database
from tribekit.models.coupons import Coupon

from .book import gift_pack, make_coupon


async def test_each_issue_mode_is_made_with_its_fields(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    shop = await factory.shop()
    ladder = await scenario_7(db, shop)
    product = await factory.product(shop, name="Cherries")
    pack = await gift_pack(db, factory, shop, name="Friday pack")
    welcome = await make_coupon(
        client,
        shop,
        code="hello",
        issue_mode="grant",
        grant_reason="welcome",
        valid_days=14,
        stackable=False,
        product_ids=[str(product.id)],
        bundle_ids=[str(pack.id)],
        level_ids=[str(ladder.gold.id), str(ladder.silver.id)],
    )
    assert {k: welcome[k] for k in ("code", "issue_mode", "grant_reason", "valid_days")} == {
        "code": "HELLO",
        "issue_mode": "grant",
        "grant_reason": "welcome",
        "valid_days": 14,
    }
    assert (welcome["stackable"], welcome["per_member_limit"]) == (False, None)
    assert welcome["product_ids"] == [str(product.id)]
    assert welcome["bundle_ids"] == [str(pack.id)]
    assert welcome["level_ids"] == [str(ladder.gold.id), str(ladder.silver.id)]

    claim = await make_coupon(client, shop, code="FLYER", issue_mode="claim", per_member_limit=1)
    assert (claim["issue_mode"], claim["grant_reason"], claim["per_member_limit"]) == (
        "claim",
        None,
        1,
    )
    typed = await make_coupon(client, shop, code="TYPED")
    assert (typed["issue_mode"], typed["stackable"], typed["per_member_limit"]) == ("code", True, 1)
    assert (typed["bundle_ids"], typed["level_ids"], typed["valid_days"]) == (None, None, None)


async def _refused(client: AsyncClient, headers: dict[str, str], body: dict[str, Any]) -> Any:
    answer = await client.post(
        "/api/v1/coupons", json={"kind": "amount", "value": 100, **body}, headers=headers
    )
    return answer


async def test_a_coupon_breaking_a_rule_is_refused_and_nothing_is_made(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    shop, other = await factory.shop(), await factory.shop()
    theirs = await factory.product(other, name="Their box")
    their_levels = await scenario_7(db, other)
    goods = await factory.product(shop, name="Box")
    pack = await gift_pack(db, factory, shop, name="Pack")
    cases: list[tuple[dict[str, Any], int, str]] = [
        (
            {"code": "A1", "issue_mode": "code", "grant_reason": "welcome"},
            422,
            "grant_reason: only a coupon with issue_mode grant has one (this one: code)",
        ),
        (
            {"code": "A2", "issue_mode": "claim", "grant_reason": "birthday"},
            422,
            "grant_reason: only a coupon with issue_mode grant has one (this one: claim)",
        ),
        (
            {"code": "A3", "valid_days": 7},
            422,
            "valid_days: a code coupon is not issued to anyone; give it starts_at/ends_at "
            "instead, or make it a grant or claim coupon",
        ),
        (
            {
                "code": "A4",
                "issue_mode": "grant",
                "valid_days": 7,
                "ends_at": "2099-01-01T00:00:00Z",
            },
            422,
            "valid_days: a coupon is valid either valid_days from issue or between starts_at "
            "and ends_at, not both; leave one out (or set it to null)",
        ),
        (
            {"code": "A5", "product_ids": [], "bundle_ids": []},
            422,
            "product_ids: the coupon covers nothing; list products or gift packs, or leave both "
            "out (null) for the whole cart",
        ),
        (
            {"code": "A6", "level_ids": []},
            422,
            "level_ids: list at least one level, or leave it out for every level",
        ),
        (
            {"code": "A7", "product_ids": [str(goods.id), str(theirs.id)]},
            404,
            f"product_ids.1: no product with id {theirs.id} at this merchant",
        ),
        (
            {"code": "A8", "product_ids": [str(pack.id)]},
            422,
            "product_ids.0: 'Pack' is a gift pack; list it in bundle_ids",
        ),
        (
            {"code": "A9", "bundle_ids": [str(goods.id)]},
            422,
            "bundle_ids.0: 'Box' is not a gift pack; list it in product_ids",
        ),
        (
            {"code": "A10", "level_ids": [str(their_levels.gold.id)]},
            404,
            f"level_ids.0: no level with id {their_levels.gold.id} at this merchant",
        ),
    ]
    for body, status, detail in cases:
        answer = await _refused(client, shop.headers, body)
        assert (answer.status_code, answer.json()["detail"]) == (status, detail), body
    bad_reason = await _refused(
        client, shop.headers, {"code": "A11", "issue_mode": "grant", "grant_reason": "anniversary"}
    )
    assert bad_reason.status_code == 422
    bad_mode = await _refused(client, shop.headers, {"code": "A12", "issue_mode": "push"})
    assert bad_mode.status_code == 422
    assert await count_rows(db, Coupon, Coupon.merchant_id == shop.tenant.id) == 0


async def test_a_change_is_checked_against_what_the_coupon_is(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    shop = await factory.shop()
    other = await factory.shop()
    theirs = await factory.product(other, name="Their box")
    gift = await make_coupon(
        client, shop, code="GIFT", issue_mode="grant", grant_reason="referral", valid_days=30
    )
    typed = await make_coupon(client, shop, code="TYPED", ends_at="2099-01-01T00:00:00Z")
    path = f"/api/v1/coupons/{gift['id']}"
    refusals = [
        (
            path,
            {"ends_at": "2099-01-01T00:00:00Z"},
            422,
            "valid_days: a coupon is valid either valid_days from issue or between starts_at "
            "and ends_at, not both; leave one out (or set it to null)",
        ),
        (
            f"/api/v1/coupons/{typed['id']}",
            {"grant_reason": "welcome"},
            422,
            "grant_reason: only a coupon with issue_mode grant has one (this one: code)",
        ),
        (
            path,
            {"product_ids": [str(theirs.id)]},
            404,
            f"product_ids.0: no product with id {theirs.id} at this merchant",
        ),
        (
            path,
            {"stackable": None},
            422,
            "stackable: may not be null; leave it out to keep the current value",
        ),
    ]
    for where, body, status, detail in refusals:
        answer = await client.patch(where, json=body, headers=shop.headers)
        assert (answer.status_code, answer.json()["detail"]) == (status, detail), body
    unchanged = (await client.get(path, headers=shop.headers)).json()
    assert unchanged == gift

    moved = await client.patch(
        path,
        json={"valid_days": None, "ends_at": "2099-01-01T00:00:00Z", "stackable": False},
        headers=shop.headers,
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["valid_days"], moved.json()["ends_at"], moved.json()["stackable"]) == (
        None,
        "2099-01-01T00:00:00Z",
        False,
    )
