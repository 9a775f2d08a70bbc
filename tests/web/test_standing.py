"""A member's standing, live (SQLite and PostgreSQL): the stream swaps the post form for the
mute notice and back, a ban on the merchant's list or the robot's removal swaps the page for
the notice in the group's language and ends the stream; a message removed before a
reader saw it arrives removed; three strikes through the post route ban the member, and the ban
list's action in the web group is carried out by the worker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import select, update

from tests.factories import Factory
from tribekit.api.state import AppState
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.models.communities import Community
from tribekit.models.enums import ActionKind, ActionStatus
from tribekit.models.moderation import Ban, ModerationPolicy
from tribekit.models.robot import RobotAction
from tribekit.models.web import AuthorKind, WebMemberState, WebMessage
from tribekit.robot import accounts, bans, tasks
from tribekit.robot.channels import OutboundAction
from tribekit.robot.channels import RobotAccount as Account
from tribekit.robot.channels.web import WebChannel
from tribekit.robot.moderation.policy import Policy
from tribekit.robot.texts import say

from .conftest import SLOW, Group, Live, csrf_of, enter, make_group, web_config
from .test_live import listening


class Robot:
    """The web channel of the running app, and the group's robot account on it."""

    def __init__(self, app: FastAPI, account: Account) -> None:
        state: AppState = app.state.tribekit
        channel = state.channels["web"]
        assert isinstance(channel, WebChannel)
        self.channel, self.account = channel, account

    async def do(self, action: OutboundAction) -> None:
        await self.channel.perform(self.account, action)


async def _robot(app: FastAPI, db: Database, group: Group) -> Robot:
    async with db.unit_of_work() as session:
        community = await session.get(Community, uuid.UUID(group.community_id))
        assert community is not None
        row = await accounts.web_robot_of(session, group.shop.tenant, community)
        account = Account(str(row.id), "web", "", row.username)
    return Robot(app, account)


@asynccontextmanager
async def until_closed(client: AsyncClient, url: str) -> AsyncIterator[asyncio.Task[list[str]]]:
    """Read ``url``'s events (their data) in a task that ends when the server ends the
    stream; the block runs once the stream is open."""
    opened = asyncio.Event()

    async def read() -> list[str]:
        events, data = [], []
        async with client.stream("GET", url, timeout=10) as response:
            assert response.status_code == 200
            opened.set()
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    data.append(line[5:].removeprefix(" "))
                elif not line and data:
                    events.append("\n".join(data))
                    data = []
        return events

    task = asyncio.create_task(read())
    await asyncio.wait_for(opened.wait(), 5)
    try:
        yield task
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def test_a_mute_swaps_the_form_for_the_notice_live_and_back(
    live: Live, db: Database, factory: Factory
) -> None:
    group = await make_group(factory, db)
    web_config(live.app).standing_seconds = 0.1
    robot = await _robot(live.app, db, group)
    chat, alice_id = group.community_id, group.alice.member_id
    async with (
        AsyncClient(base_url=live.url, timeout=SLOW) as alice,
        AsyncClient(base_url=live.url, timeout=SLOW) as bob,
    ):
        await enter(alice, group, group.alice)
        await enter(bob, group, group.bob)
        page = await alice.get(group.url)
        assert '<div id="compose">' in page.text
        assert 'name="text"' in page.text
        async with (
            listening(alice, f"{group.url}/stream") as alices,
            listening(bob, f"{group.url}/stream") as bobs,
        ):
            until = clock.now() + timedelta(hours=1)
            await robot.do(
                OutboundAction(ActionKind.RESTRICT, chat, person_id=alice_id, until=until)
            )
            event_id, muted = await asyncio.wait_for(alices.get(), 2.0)
            await robot.do(OutboundAction(ActionKind.UNRESTRICT, chat, person_id=alice_id))
            _, unmuted = await asyncio.wait_for(alices.get(), 2.0)
            await asyncio.sleep(0.3)
            assert bobs.empty()  # Bob's standing did not change
    assert event_id == ""  # not a change of the group: a reconnect resumes where it was
    assert muted.startswith('<div id="compose" hx-swap-oob="true">')
    assert "You are muted until" in muted
    assert 'name="text"' not in muted
    assert unmuted.startswith('<div id="compose" hx-swap-oob="true">')
    assert '<form id="post"' in unmuted
    assert 'name="csrf" value="' in unmuted
    assert "muted" not in unmuted


@pytest.mark.parametrize(
    ("language", "notice"),
    [("en", "You are banned from this group."), ("zh-CN", "你已被本群封禁。")],
)
async def test_a_ban_on_the_merchants_list_swaps_the_page_and_ends_the_stream(
    live: Live, db: Database, factory: Factory, language: str, notice: str
) -> None:
    group = await make_group(factory, db, language=language)
    web_config(live.app).standing_seconds = 0.1
    async with (
        AsyncClient(base_url=live.url, timeout=SLOW) as alice,
        AsyncClient(base_url=live.url, timeout=SLOW) as bob,
    ):
        await enter(alice, group, group.alice)
        await enter(bob, group, group.bob)
        async with (
            until_closed(alice, f"{group.url}/stream") as alices,
            listening(bob, f"{group.url}/stream") as bobs,
        ):
            async with db.unit_of_work() as session:
                banned = await bans.ban(
                    session,
                    group.shop.tenant,
                    uuid.UUID(group.alice.member_id),
                    reason="spam in another group",
                    actor="staff:test",
                )
                assert banned is not None
            events = await asyncio.wait_for(alices, 3.0)  # the server ended her stream
            await asyncio.sleep(0.3)
            assert bobs.empty()
        again = await alice.get(f"{group.url}/stream")
    assert len(events) == 1
    (barred,) = events
    assert barred.startswith('<main class="group" id="group" hx-swap-oob="true">')
    assert notice in barred
    assert "sse-connect" not in barred
    assert 'name="text"' not in barred
    assert again.status_code == 403  # a reconnect is refused


async def test_a_removal_by_the_robot_ends_the_members_stream_and_a_new_link_lets_her_back(
    live: Live, db: Database, factory: Factory
) -> None:
    group = await make_group(factory, db)
    web_config(live.app).standing_seconds = 0.1
    robot = await _robot(live.app, db, group)
    async with AsyncClient(base_url=live.url, timeout=SLOW) as alice:
        await enter(alice, group, group.alice)
        async with until_closed(alice, f"{group.url}/stream") as alices:
            await robot.do(
                OutboundAction(ActionKind.KICK, group.community_id, person_id=group.alice.member_id)
            )
            (barred,) = await asyncio.wait_for(alices, 3.0)
        await enter(alice, group, group.alice)  # a new link from the shop
        page = await alice.get(group.url)
    assert barred.startswith('<main class="group" id="group" hx-swap-oob="true">')
    assert "You were removed from this group." in barred
    assert "sse-connect" in page.text
    assert 'name="text"' in page.text


async def test_a_message_removed_before_a_reader_saw_it_arrives_removed(
    live: Live, db: Database, factory: Factory
) -> None:
    group = await make_group(factory, db)
    robot = await _robot(live.app, db, group)
    async with AsyncClient(base_url=live.url, timeout=SLOW) as bob:
        await enter(bob, group, group.bob)
        token = await csrf_of(bob, group)
        posted = await bob.post(f"{group.url}/messages", data={"text": "oops", "csrf": token})
        assert posted.status_code == 303
        async with db.unit_of_work() as session:
            message_id = (await session.scalars(select(WebMessage.id))).one()
        await robot.do(
            OutboundAction(ActionKind.DELETE, group.community_id, message_id=str(message_id))
        )
        # A reader who never saw it gets it added, removed; one who did, replaced in place.
        for after, out_of_band in ((0, False), (1, True)):
            async with listening(bob, f"{group.url}/stream?after={after}") as events:
                event_id, data = await asyncio.wait_for(events.get(), 2.0)
            assert event_id == "2"
            assert f'id="m-{message_id}"' in data
            assert "A message was removed." in data
            assert "oops" not in data
            assert ('hx-swap-oob="true"' in data) is out_of_band


POLICY = {
    "links": {"mode": "block_all"},
    "strikes": {"window_days": 7, "steps": [{"strikes": 3, "action": "ban"}]},
}


async def test_three_strikes_through_the_post_route_ban_and_the_worker_bans_in_the_group(
    app: FastAPI, db: Database, factory: Factory
) -> None:
    group = await make_group(factory, db)
    tenant = group.shop.tenant
    alice_id, community_id = uuid.UUID(group.alice.member_id), uuid.UUID(group.community_id)
    async with db.unit_of_work() as session:
        session.add(
            ModerationPolicy(
                merchant_id=tenant.id,
                community_id=None,
                rules=Policy.model_validate(POLICY).model_dump(mode="json"),
            )
        )
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://tribekit.test") as alice:
        await enter(alice, group, group.alice)
        token = await csrf_of(alice, group)
        for n in range(3):
            posted = await alice.post(
                f"{group.url}/messages",
                data={"text": f"deals at https://plums.example/{n}", "csrf": token},
            )
            assert posted.status_code == 303
        # Banned on the merchant's list in the posting transaction: told so at once.
        page = await alice.get(group.url)
        assert "You are banned from this group." in page.text
        assert 'name="text"' not in page.text
        state: AppState = app.state.tribekit
        sweep = tasks.actions_sweep(db, state.channels)
        while await db.run(lambda session: sweep.run(session, sweep.batch_size)):
            pass
    async with db.unit_of_work() as session:
        ban = await session.scalar(select(Ban).where(Ban.member_id == alice_id))
        assert ban is not None
        community = await session.get(Community, community_id)
        assert community is not None
        done = (
            await session.execute(
                select(RobotAction.decision, RobotAction.kind, RobotAction.status).where(
                    RobotAction.decision == f"ban:{ban.id}:{community_id}"
                )
            )
        ).all()
        member_state = await session.get(WebMemberState, (community_id, alice_id))
        robot_texts = (
            await session.scalars(
                select(WebMessage.text)
                .where(WebMessage.author_kind == AuthorKind.ROBOT)
                .order_by(WebMessage.seq)
            )
        ).all()
        removed = (
            await session.scalars(
                select(WebMessage.deleted_at).where(WebMessage.member_id == alice_id)
            )
        ).all()
    # The web group has its robot (named on the first post), so the ban list owed its ban here.
    assert community.robot_account_id is not None
    assert done == [(f"ban:{ban.id}:{community_id}", ActionKind.BAN, ActionStatus.DONE)]
    assert member_state is not None
    assert member_state.banned_at is not None
    assert member_state.banned_until is None
    warning = say("moderation.rule.links", "en", name="Alice")
    assert robot_texts == [warning, warning, say("moderation.banned", "en", name="Alice")]
    assert len(removed) == 3
    assert all(at is not None for at in removed)


async def test_a_ban_that_ends_by_itself_shows_its_end_and_lets_the_member_back_after_it(
    app: FastAPI, db: Database, factory: Factory
) -> None:
    group = await make_group(factory, db, language="zh-CN")
    tenant = group.shop.tenant
    until = clock.now() + timedelta(days=2)
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://tribekit.test") as alice:
        await enter(alice, group, group.alice)
        async with db.unit_of_work() as session:
            banned = await bans.ban(
                session,
                tenant,
                uuid.UUID(group.alice.member_id),
                reason="spam",
                actor="staff:test",
                until=until,
            )
            assert banned is not None
        page = await alice.get(group.url)
        async with db.unit_of_work() as session:
            await session.execute(update(Ban).where(Ban.id == banned.id).values(until=clock.now()))
        after = await alice.get(group.url)
    local = until.astimezone(ZoneInfo(tenant.timezone)).strftime("%Y-%m-%d %H:%M")
    assert "你已被本群封禁。" in page.text
    assert f"封禁将于 {local} 结束。" in page.text
    assert 'name="text"' not in page.text
    assert "封禁" not in after.text  # the ban ended: she reads and posts again
    assert 'name="text"' in after.text
