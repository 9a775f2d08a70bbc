"""In a real browser (Debian's Chromium through Playwright), the robot moderating the web
community: the merchant's policy blocks links and bans at the third strike in seven days. Alice
and Bob read the group in two browser contexts; each link Alice posts disappears from both pages
within a second and the robot's warning appears on both; at the third, Alice's page says she is
banned (in the group's language) and has no post form, the route refuses her post, and Bob sees
the robot's ban notice. The pipeline decides in the posting transaction; the worker in the
server carries the removals, warnings and the ban out, as in production."""

# ruff: noqa: RUF001  # Chinese text uses the full-width comma

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from tests.factories import Factory
from tribekit.kit.db import Database
from tribekit.models.moderation import Ban, ModerationPolicy, Strike
from tribekit.models.web import WebMemberState, WebMessage
from tribekit.robot.moderation.policy import Policy
from tribekit.robot.texts import say

from .conftest import SECOND, Group, Live, connected, make_group, open_page

#: Links blocked everywhere (a warning and a strike each); the third strike in 7 days bans.
POLICY = {
    "links": {"mode": "block_all"},
    "strikes": {"window_days": 7, "steps": [{"strikes": 3, "action": "ban"}]},
}
#: What Alice's page says once she is banned, and the refusal of a post, in each language.
BANNED = {
    "en": ("You are banned from this group.", "you are banned from this group and cannot post"),
    "zh-CN": ("你已被本群封禁。", "你已被本群封禁，不能发言"),
}
LINKS = (
    "Cheap plums at http://plums.example/deal",
    "Join us at www.plums.example/vip",
    "Last chance https://plums.example/now",
)


async def _policy(db: Database, group: Group) -> None:
    async with db.unit_of_work() as session:
        session.add(
            ModerationPolicy(
                merchant_id=group.shop.tenant.id,
                community_id=None,
                rules=Policy.model_validate(POLICY).model_dump(mode="json"),
            )
        )


async def _post(page: Page, text: str) -> float:
    """Post ``text`` from the page's form; the time it was sent."""
    await page.fill("#post-text", text)
    started = time.monotonic()
    await page.click("#post button[type=submit]")
    return started


@pytest.mark.parametrize("language", ["en", "zh-CN"])
async def test_a_link_is_removed_for_both_and_the_third_strike_bans(
    browser: Browser, live_worker: Live, db: Database, factory: Factory, language: str
) -> None:
    group = await make_group(factory, db, language=language)
    await _policy(db, group)
    alice = await open_page(browser, live_worker, group, group.alice.link)
    bob = await open_page(browser, live_worker, group, group.bob.link)
    both = (alice, bob)
    removed = "A message was removed." if language == "en" else "一条消息已被删除。"
    warning = say("moderation.rule.links", language, name="Alice")
    banned_page, refusal = BANNED[language]
    timings: list[float] = []
    try:
        for page in both:
            await connected(page)
        # Ordinary chat passes (the first post of a fresh server is not what is timed here).
        await _post(bob, "Good morning! Are the plums sweet today?")
        for page in both:
            await expect(page.locator(".msg.member .text")).to_have_text(
                "Good morning! Are the plums sweet today?", timeout=5 * SECOND
            )
        csrf = await alice.input_value("#post input[name=csrf]")

        for strike, text in enumerate(LINKS[:2], start=1):
            started = await _post(alice, text)
            message_id = await _message_id_soon(db, text)
            for page in both:
                await expect(page.locator(f"#m-{message_id}")).to_have_text(
                    removed, timeout=1 * SECOND
                )
                await expect(page.locator(".msg.robot .text", has_text=warning)).to_have_count(
                    strike, timeout=1 * SECOND
                )
            timings.append(time.monotonic() - started)
            for page in both:
                await expect(page.get_by_text(text)).to_have_count(0)
            await expect(alice.locator("#post-text")).to_be_editable()  # a warning, no more

        # The third strike: Alice is banned from the shop's groups.
        started = await _post(alice, LINKS[2])
        await expect(alice.locator("#standing")).to_have_text(banned_page, timeout=1 * SECOND)
        timings.append(time.monotonic() - started)
        message_id = await _message_id_soon(db, LINKS[2])
        ban_notice = say("moderation.banned", language, name="Alice")
        await expect(bob.locator(f"#m-{message_id}")).to_have_text(removed, timeout=1 * SECOND)
        await expect(bob.locator(".msg.robot .text", has_text=ban_notice)).to_have_count(
            1, timeout=1 * SECOND
        )
        timings.append(time.monotonic() - started)
        await expect(bob.get_by_text(LINKS[2])).to_have_count(0)
        await expect(alice.locator("#post")).to_have_count(0)  # her form is gone
        await expect(alice.locator("#messages")).to_have_count(0)  # and the stream with it

        # Her post through the route (the form's token) is refused; a fresh page says banned.
        refused = await alice.context.request.post(
            f"{live_worker.url}{group.url}/messages", form={"text": "let me in", "csrf": csrf}
        )
        assert refused.status == 403
        assert refusal in await refused.text()
        await alice.reload()
        await expect(alice.locator("#standing")).to_have_text(banned_page)
        await expect(alice.locator("#post-text")).to_have_count(0)
        # Bob chats on.
        await _post(bob, "Shame. See you all tomorrow!")
        await expect(bob.locator(".msg.mine .text", has_text="See you all")).to_have_count(
            1, timeout=1 * SECOND
        )
    finally:
        for page in both:
            await page.context.close()
    print(
        f"[{language}] first link gone with the warning for both after {timings[0]:.3f} s, "
        f"second after {timings[1]:.3f} s; banned on her page after {timings[2]:.3f} s, "
        f"the ban notice on his after {timings[3]:.3f} s"
    )
    assert all(t < 1.0 for t in timings), timings
    alice_id = uuid.UUID(group.alice.member_id)
    async with db.unit_of_work() as session:
        strikes = (
            await session.scalars(select(Strike.rule).where(Strike.member_id == alice_id))
        ).all()
        ban = await session.scalar(select(Ban).where(Ban.member_id == alice_id))
        state = await session.get(WebMemberState, (uuid.UUID(group.community_id), alice_id))
        texts = (
            await session.scalars(select(WebMessage.text).where(WebMessage.member_id == alice_id))
        ).all()
    assert strikes == ["links", "links", "links"]
    assert ban is not None
    assert (ban.banned_by, ban.rule, ban.lifted_at) == ("robot", "links", None)
    # The ban list's action in this group was carried out by the worker on the web channel.
    assert state is not None
    assert state.banned_at is not None
    assert state.banned_until is None
    assert sorted(texts) == sorted(LINKS)  # stored, each removed; "let me in" never was


async def _message_id_soon(db: Database, text: str) -> uuid.UUID:
    """The id of the message just posted (the post commits before its response returns, which
    the browser may not have had yet)."""
    for _ in range(100):
        async with db.unit_of_work() as session:
            found = await session.scalar(select(WebMessage.id).where(WebMessage.text == text))
        if found is not None:
            return found
        await asyncio.sleep(0.01)
    raise AssertionError(f"{text!r} was not stored")
