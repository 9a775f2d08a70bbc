"""In a real browser (Debian's Chromium through Playwright): two members in two browser
contexts read the group; one posts, the other sees it within a second; staff delete it and it
disappears for both within a second (the robot's worker carries the removal out)."""

from __future__ import annotations

import time
import uuid

from playwright.async_api import Browser, expect
from sqlalchemy import select

from tests.factories import Factory
from tribekit.kit.db import Database
from tribekit.models.web import WebMessage

from .conftest import SECOND, Live, connected, make_group, open_page, staff_login_in_browser


async def test_two_members_see_a_post_and_its_removal_live(
    browser: Browser, live_worker: Live, db: Database, factory: Factory
) -> None:
    group = await make_group(factory, db)
    alice = await open_page(browser, live_worker, group, group.alice.link)
    bob = await open_page(browser, live_worker, group, group.bob.link)
    staff = await open_page(browser, live_worker, group, None)
    try:
        await connected(alice)
        await connected(bob)
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
        await connected(staff)
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
