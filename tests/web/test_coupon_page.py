"""A claim coupon's page: what it takes off, for how long, and (for a member signed in with
their link) the button that claims it, once. In Chromium: the member claims it and is told it
is in their coupons; pressing again says it is claimed already."""

from __future__ import annotations

from urllib.parse import quote

from httpx import AsyncClient
from playwright.async_api import Browser, expect

from tests.campaigns.coupons.book import make_coupon
from tests.conftest import SECRET
from tests.factories import Factory, Shop, count_rows
from tribekit.kit.db import Database
from tribekit.members import access
from tribekit.models.coupons import CouponGrant

from .conftest import SECOND, Live


async def _claim_token(client: AsyncClient, factory: Factory) -> tuple[str, Shop]:
    shop = await factory.shop()
    flyer = await make_coupon(
        client, shop, code="FLYER", issue_mode="claim", valid_days=3, min_subtotal=3000
    )
    link = await client.get(f"/api/v1/coupons/{flyer['id']}/claim-link", headers=shop.headers)
    assert link.status_code == 200, link.text
    return str(link.json()["token"]), shop


async def test_the_claim_page_shows_the_coupon(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    token, _ = await _claim_token(client, factory)
    page = await client.get("/m/coupons/claim", params={"c": token})
    assert page.status_code == 200, page.text
    assert "CN¥5.00 off" in page.text
    assert "On orders of CN¥30.00 or more" in page.text
    assert "Valid for 3 days once claimed" in page.text
    assert 'id="claim"' not in page.text  # claiming needs the member's own link
    forged = await client.get("/m/coupons/claim", params={"c": token[:-3] + "xyz"})
    assert forged.status_code == 404


async def test_a_member_claims_the_coupon_in_the_browser(
    browser: Browser, live: Live, client: AsyncClient, db: Database, factory: Factory
) -> None:
    token, shop = await _claim_token(client, factory)
    member = await factory.member(shop)
    link, _ = access.issue_link(SECRET, shop.tenant, member.member.id)
    context = await browser.new_context(base_url=live.url, viewport={"width": 390, "height": 800})
    page = await context.new_page()
    try:
        await page.goto(f"/m/coupons/claim?c={quote(token)}&t={link}")
        assert page.url == f"{live.url}/m/coupons/claim?c={quote(token)}"  # the link left
        await page.click("#claim")
        await expect(page.locator("#answer")).to_have_text(
            "It is in your coupons: it is taken off at checkout.", timeout=5 * SECOND
        )
        await page.reload()
        await page.click("#claim")
        await expect(page.locator("#coupon")).to_have_attribute(
            "data-outcome", "coupon_claimed_already", timeout=5 * SECOND
        )
        assert await count_rows(db, CouponGrant) == 1
    finally:
        await context.close()
