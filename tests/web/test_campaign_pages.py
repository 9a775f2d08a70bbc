"""The members' flash-sale page: shown to anyone with its price, status and units left; a
member's link becomes their session; the live stream says the state once a second. In a real
browser (Debian's Chromium through Playwright) two members race for the last unit: one wins
and can pay, the other is told it is sold out, and both pages show none left."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
from httpx import AsyncClient
from playwright.async_api import Browser, Page, expect

from tests.campaigns.flash.world import flash_shop, live_sale, reservations
from tests.conftest import SECRET
from tests.factories import Factory
from tribekit.kit.db import Database
from tribekit.members import access
from tribekit.models.tenancy import Merchant

from .conftest import SECOND, SLOW, Live


async def test_the_page_shows_the_sale_and_a_link_signs_the_member_in(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    world = await flash_shop(db, factory, stock=20)
    sale_id = await live_sale(client, db, world, quantity=5, price=4900)
    page = await client.get(f"/m/flash/{sale_id}")
    assert page.status_code == 200, page.text
    assert "Durian box" in page.text
    assert "49.00" in page.text
    assert "99.00" in page.text
    live = json.loads(_attribute(page.text, "data-live"))
    assert (live["status"], live["left"]) == ("live", 5)
    assert 'id="buy"' not in page.text  # anyone may look; buying needs the member's link
    assert "To buy, send /sales in your group and open your own link." in page.text

    member = await factory.member(world.shop)
    link, _ = access.issue_link(SECRET, world.shop.tenant, member.member.id)
    traded = await client.get(f"/m/flash/{sale_id}", params={"t": link})
    assert (traded.status_code, traded.headers["location"]) == (303, f"/m/flash/{sale_id}")
    assert access.MEMBER_COOKIE in traded.cookies
    signed_in = await client.get(f"/m/flash/{sale_id}")
    assert 'id="buy"' in signed_in.text
    assert member.member.display_name in signed_in.text

    missing = await client.get(f"/m/flash/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert "no flash sale" in missing.text
    forged = await client.get(f"/m/flash/{sale_id}", params={"t": "tkm_forged.token"})
    assert forged.status_code == 401


async def test_the_page_speaks_the_shops_language(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    world = await flash_shop(db, factory, stock=5)
    async with db.unit_of_work() as session:
        merchant = await session.get(Merchant, world.shop.tenant.id)
        assert merchant is not None
        merchant.locale = "zh_CN"
    sale_id = await live_sale(client, db, world, quantity=1, per_member_limit=1)
    page = await client.get(f"/m/flash/{sale_id}")
    assert '<html lang="zh-CN">' in page.text
    assert "限时秒杀" in page.text


def _attribute(html: str, name: str) -> str:
    start = html.index(f'{name}="') + len(name) + 2
    return html[start : html.index('"', start)].replace("&#34;", '"').replace("&quot;", '"')


async def _member_page(browser: Browser, live: Live, sale_id: str, link: str) -> Page:
    context = await browser.new_context(base_url=live.url, viewport={"width": 390, "height": 800})
    page = await context.new_page()
    await page.goto(f"/m/flash/{sale_id}?t={link}")
    assert page.url == f"{live.url}/m/flash/{sale_id}"  # the token left the address
    await expect(page.locator("#buy")).to_be_enabled(timeout=5 * SECOND)
    return page


async def test_two_members_race_for_the_last_unit_in_the_browser(
    browser: Browser, live: Live, db: Database, factory: Factory
) -> None:
    world = await flash_shop(db, factory, stock=1)
    async with httpx.AsyncClient(base_url=live.url, timeout=SLOW) as client:
        sale_id = await live_sale(client, db, world, quantity=1, per_member_limit=1)
    links = []
    for _ in range(2):
        member = await factory.member(world.shop)
        links.append(access.issue_link(SECRET, world.shop.tenant, member.member.id)[0])
    alice, bob = [await _member_page(browser, live, sale_id, link) for link in links]
    try:
        await expect(alice.locator("#left")).to_have_text("1")
        await asyncio.gather(alice.click("#buy"), bob.click("#buy"))
        outcomes: list[str | None] = []
        for page in (alice, bob):
            await expect(page.locator("#flash[data-outcome]")).to_have_count(1, timeout=5 * SECOND)
            outcomes.append(await page.get_attribute("#flash", "data-outcome"))
        assert sorted(str(o) for o in outcomes) == ["reserved", "sold_out"]
        winner, loser = (alice, bob) if outcomes[0] == "reserved" else (bob, alice)
        await expect(loser.locator("#answer")).to_have_text("Sold out")
        await expect(winner.locator("#reservation")).to_be_visible()
        for page in (alice, bob):  # the page updates: none left, sold out
            await expect(page.locator("#left")).to_have_text("0", timeout=3 * SECOND)
            await expect(page.locator("#status")).to_have_text("Sold out", timeout=3 * SECOND)
            await expect(page.locator("#buy")).to_be_disabled()
        await winner.click("#pay")
        await expect(winner.locator("#instructions")).to_contain_text(
            "Payment started", timeout=5 * SECOND
        )
        assert [r.status for r in await reservations(db, sale_id)] == ["reserved"]
    finally:
        for page in (alice, bob):
            await page.context.close()
