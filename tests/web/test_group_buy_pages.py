"""The members' group-buy pages: the group buy with its tiers; a member's own team with who has
paid, the price now, how many more the next tier needs and the share link; the team's page by
its share code for the friends invited. In Chromium, a member starts a team and pays, a friend
opens the shared link, joins and pays: the team shows both and the second tier's price."""

from __future__ import annotations

import uuid

from httpx import AsyncClient
from playwright.async_api import Browser, Page, expect

from tests.campaigns.group_buys.world import join, make, member, pay, world
from tests.conftest import SECRET
from tests.factories import Factory
from tribekit.kit.db import Database
from tribekit.members import access

from .conftest import SECOND, Live


async def test_the_pages_show_tiers_and_the_teams_progress(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    w = await world(db, factory)
    group_buy = await make(db, w)
    anyone = await client.get(f"/m/group-buys/{group_buy.id}")
    assert anyone.status_code == 200, anyone.text
    for tier in ("2 people: CN¥90.00 each", "3 people: CN¥85.00 each", "5 people: CN¥75.00 each"):
        assert tier in anyone.text
    assert 'id="join"' not in anyone.text  # looking is free; joining needs the member's link

    mei = await member(factory, w, "Mei")
    joined = await join(db, w, mei, group_buy)
    await pay(db, w, joined.order.order.id)
    link, _ = access.issue_link(SECRET, w.shop.tenant, mei)
    traded = await client.get(f"/m/group-buys/{group_buy.id}", params={"t": link})
    assert traded.status_code == 303
    own = await client.get(f"/m/group-buys/{group_buy.id}")
    assert "Your team" in own.text
    assert "1 paid of 5 places" in own.text
    assert "1 more to reach 2 people" in own.text
    assert "<li>Mei</li>" in own.text
    assert 'id="share"' in own.text
    assert 'id="join"' not in own.text  # already in it

    client.cookies.clear()
    shared = await client.get(f"/m/group-buys/teams/{joined.team.code}")
    assert shared.status_code == 200
    assert "A team you were invited to" in shared.text
    assert "<li>Mei</li>" in shared.text
    missing = await client.get("/m/group-buys/teams/NOSUCHCODE")
    assert missing.status_code == 404


async def _member_page(browser: Browser, live: Live, path: str, link: str) -> Page:
    context = await browser.new_context(base_url=live.url, viewport={"width": 390, "height": 800})
    page = await context.new_page()
    await page.goto(f"{path}?t={link}")
    assert page.url == f"{live.url}{path}"  # the token left the address
    return page


async def test_a_member_starts_a_team_and_a_friend_joins_from_the_shared_link(
    browser: Browser, live: Live, db: Database, factory: Factory
) -> None:
    w = await world(db, factory)
    group_buy = await make(db, w)
    links = {}
    for name in ("Mei", "Bo"):
        links[name] = access.issue_link(SECRET, w.shop.tenant, await member(factory, w, name))[0]
    mei = await _member_page(browser, live, f"/m/group-buys/{group_buy.id}", links["Mei"])
    try:
        await mei.click("#join")
        await expect(mei.locator("#instructions")).to_contain_text(
            "Payment started", timeout=5 * SECOND
        )
        assert await mei.get_attribute("#team", "data-outcome") == "joined"
        share_path = await mei.get_attribute("#team", "data-share")
        assert share_path is not None
        assert share_path.startswith("/m/group-buys/teams/")
        order_id = await mei.get_attribute("#team", "data-order")
        assert order_id is not None
        await pay(db, w, uuid.UUID(order_id))  # staff took the money
        bo = await _member_page(browser, live, share_path, links["Bo"])
        try:
            await expect(bo.locator("#people li")).to_have_text(["Mei"])
            await bo.click("#join")
            await expect(bo.locator("#instructions")).to_contain_text(
                "Payment started", timeout=5 * SECOND
            )
            bo_order = await bo.get_attribute("#team", "data-order")
            assert bo_order is not None
            await pay(db, w, uuid.UUID(bo_order))
            await bo.reload()
            await expect(bo.locator("#people li")).to_have_text(["Mei", "Bo"])
            await expect(bo.locator("#price")).to_have_text("CN¥90.00")
            await expect(bo.locator("#next")).to_have_text("1 more to reach 3 people")
        finally:
            await bo.context.close()
    finally:
        await mei.context.close()
