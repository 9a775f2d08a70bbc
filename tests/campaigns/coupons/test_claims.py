"""Claim links: staff get a claim coupon's link (the same signed token every time); a member
claims the coupon once with it, and sees it among their coupons. A token altered, of another
shop, or for a coupon that is switched off, ended or used up is refused and gives nothing."""

from __future__ import annotations

from httpx import AsyncClient

from tests.factories import Factory, count_rows
from tests.orders.store import open_store, place
from tribekit.kit.db import Database
from tribekit.models.coupons import CouponGrant

from .book import make_coupon, member_headers


async def test_a_member_claims_a_coupon_once_from_its_link_and_uses_it(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    flyer = await make_coupon(client, store.shop, code="FLYER", issue_mode="claim", valid_days=3)
    link = await client.get(f"/api/v1/coupons/{flyer['id']}/claim-link", headers=store.shop.headers)
    assert link.status_code == 200, link.text
    token = link.json()["token"]
    assert token.startswith("tkc_")
    assert link.json()["url"] is None  # no public URL configured in tests
    again = await client.get(
        f"/api/v1/coupons/{flyer['id']}/claim-link", headers=store.shop.headers
    )
    assert again.json()["token"] == token

    member_id = (await factory.member(store.shop)).member.id
    me = await member_headers(client, store.shop, member_id)
    before_claim = await place(
        client, store, member_id, (store.cherries, 1), coupon_codes=["FLYER"]
    )
    assert before_claim.json()["detail"] == (
        "coupon_codes: coupon FLYER is not this member's: it is claimed from its link"
    )
    claimed = await client.post("/api/v1/me/coupons/claim", json={"token": token}, headers=me)
    assert claimed.status_code == 201, claimed.text
    mine = claimed.json()
    assert (mine["code"], mine["source_key"], mine["used"], mine["usable_now"]) == (
        "FLYER",
        "claim",
        False,
        True,
    )
    twice = await client.post("/api/v1/me/coupons/claim", json={"token": token}, headers=me)
    assert (twice.status_code, twice.json()["code"]) == (409, "coupon_claimed_already")
    listed = await client.get("/api/v1/me/coupons", headers=me)
    assert [c["grant_id"] for c in listed.json()["items"]] == [mine["grant_id"]]

    used = await place(client, store, member_id, (store.cherries, 1), coupon_codes=["flyer"])
    assert used.status_code == 201, used.text
    assert used.json()["coupon_discount"] == 500


async def test_a_bad_or_foreign_token_and_a_closed_coupon_give_nothing(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    shop, other = await factory.shop(), await factory.shop()
    flyer = await make_coupon(client, shop, code="FLYER", issue_mode="claim", usage_limit=1)
    typed = await make_coupon(client, shop, code="TYPED")
    theirs = await make_coupon(client, other, code="THEIRS", issue_mode="claim")
    not_claim = await client.get(f"/api/v1/coupons/{typed['id']}/claim-link", headers=shop.headers)
    assert (not_claim.status_code, not_claim.json()["code"]) == (409, "coupon_issue_mode")
    token = (
        await client.get(f"/api/v1/coupons/{flyer['id']}/claim-link", headers=shop.headers)
    ).json()["token"]
    their_token = (
        await client.get(f"/api/v1/coupons/{theirs['id']}/claim-link", headers=other.headers)
    ).json()["token"]
    member_id = (await factory.member(shop)).member.id
    me = await member_headers(client, shop, member_id)

    payload, signature = token.split(".")
    altered = f"{payload}.{signature[:-2]}AA"
    for bad in (altered, their_token, "tkc_not.a-token", "nothing-like-a-token"):
        answer = await client.post("/api/v1/me/coupons/claim", json={"token": bad}, headers=me)
        assert answer.status_code == 404, (bad, answer.text)
        assert answer.json()["detail"] == (
            "this claim link is not valid at this shop; ask the shop for its link"
        )
    off = await client.patch(
        f"/api/v1/coupons/{flyer['id']}", json={"active": False}, headers=shop.headers
    )
    assert off.status_code == 200
    closed = await client.post("/api/v1/me/coupons/claim", json={"token": token}, headers=me)
    assert (closed.status_code, closed.json()["code"]) == (409, "coupon_not_claimable")
    assert closed.json()["detail"] == "coupon FLYER is switched off by the shop"
    assert await count_rows(db, CouponGrant) == 0
