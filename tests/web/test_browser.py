"""In a real browser (Debian's Chromium through Playwright): two members in two browser
contexts read the group; one posts, the other sees it within a second; staff delete it and it
disappears for both within a second (the robot's worker carries the removal out)."""

from __future__ import annotations

import time
import uuid

from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from tests.factories import PASSWORD, Factory
from tribekit.kit.db import Database
from tribekit.members import access
from tribekit.models.web import WebMessage
from tribekit.tenancy import auth

from .conftest import Group, Live, make_group

SECOND = 1000  # Playwright's timeouts are in milliseconds


async def _open(browser: Browser, live: Live, group: Group, link: str | None) -> Page:
    context = await browser.new_context(base_url=live.url, viewport={"width": 390, "height": 800})
    page = await context.new_page()
    if link is not None:
        await page.goto(f"{group.url}?t={link}")
        assert page.url == f"{live.url}{group.url}"  # the token left the address
        cookies = {c["name"] for c in await context.cookies()}
        assert access.MEMBER_COOKIE in cookies
    return page


async def _connected(page: Page) -> None:
    """Wait until the page's event source is open."""
    await page.wait_for_function(
        "() => { const el = document.getElementById('messages');"
        " const s = el && htmx && el['htmx-internal-data'] &&"
        " el['htmx-internal-data'].sseEventSource;"
        " return !!s && s.readyState === 1; }",
        timeout=5 * SECOND,
    )


async def test_two_members_see_a_post_and_its_removal_live(
    browser: Browser, live_worker: Live, db: Database, factory: Factory
) -> None:
    group = await make_group(factory, db)
    alice = await _open(browser, live_worker, group, group.alice.link)
    bob = await _open(browser, live_worker, group, group.bob.link)
    staff = await _open(browser, live_worker, group, None)
    try:
        await _connected(alice)
        await _connected(bob)
        text = "Plums are in! <script>window.pwned = 1</script>"
        await alice.fill("#post-text", text)
        started = time.monotonic()
        await alice.click("#post button[type=submit]")
        await expect(bob.locator(".msg .text", has_text="Plums are in!")).to_have_text(
            text, timeout=1 * SECOND
        )
        seen_after = time.monotonic() - started
        await expect(alice.locator(".msg.mine .text")).to_have_text(text, timeout=1 * SECOND)
        await expect(alice.locator("#post-text")).to_have_value("")  # a fresh form
        assert await bob.evaluate("() => window.pwned") is None  # shown as text, never run
        async with db.unit_of_work() as session:
            message_id: uuid.UUID = (await session.scalars(select(WebMessage.id))).one()

        # Staff open the group with their session and remove the message.
        await staff_login_in_browser(staff, live_worker, group)
        await staff.goto(group.url)
        await _connected(staff)
        started = time.monotonic()
        await staff.click(f"#m-{message_id} button.delete")
        for page in (alice, bob, staff):
            await expect(page.locator(f"#m-{message_id}")).to_have_text(
                "A message was removed.", timeout=1 * SECOND
            )
            await expect(page.get_by_text("Plums are in!")).to_have_count(0)
        removed_after = time.monotonic() - started
    finally:
        for page in (alice, bob, staff):
            await page.context.close()
    print(
        f"post seen by the other member after {seen_after:.3f} s; "
        f"removal after {removed_after:.3f} s"
    )
    assert seen_after < 1.0
    assert removed_after < 1.0


async def staff_login_in_browser(page: Page, live: Live, group: Group) -> None:
    """Sign staff in through the API from the page's own context (its cookies keep the
    session)."""
    response = await page.context.request.post(
        f"{live.url}/api/v1/auth/login",
        data={"email": group.shop.owner_email, "password": PASSWORD},
    )
    assert response.status == 200, await response.text()
    assert auth.SESSION_COOKIE in {c["name"] for c in await page.context.cookies()}
