"""The live stream over real HTTP: a new message and a removal reach a member reading the
group (SQLite and PostgreSQL); the moderation controls owe robot actions that the worker
carries out on the web channel."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from httpx import AsyncClient
from sqlalchemy import select

from tests.factories import Factory
from tribekit.kit.db import Database
from tribekit.models.enums import ActionKind, ActionStatus
from tribekit.models.robot import RobotAction
from tribekit.models.web import WebMemberState, WebMessage

from .conftest import SLOW, Group, Live, csrf_of, enter, make_group, staff_login, web_config


@asynccontextmanager
async def listening(client: AsyncClient, url: str) -> AsyncIterator[asyncio.Queue[tuple[str, str]]]:
    """Each server-sent event of ``url`` as (id, data), in a queue, while the block runs."""
    events: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    opened = asyncio.Event()

    async def read() -> None:
        async with client.stream("GET", url, timeout=None) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            opened.set()
            event_id, data = "", []
            async for line in response.aiter_lines():
                if line.startswith("id:"):
                    event_id = line[3:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].removeprefix(" "))
                elif not line and data:
                    await events.put((event_id, "\n".join(data)))
                    event_id, data = "", []

    task = asyncio.create_task(read())
    await asyncio.wait_for(opened.wait(), 5)
    try:
        yield events
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _message(db: Database) -> WebMessage:
    async with db.unit_of_work() as session:
        (row,) = (await session.scalars(select(WebMessage))).all()
        return row


async def test_the_stream_sends_a_new_message_and_its_removal(
    live_worker: Live, db: Database, factory: Factory
) -> None:
    group: Group = await make_group(factory, db)
    async with (
        AsyncClient(base_url=live_worker.url, timeout=SLOW) as alice,
        AsyncClient(base_url=live_worker.url, timeout=SLOW) as bob,
        AsyncClient(base_url=live_worker.url, timeout=SLOW) as staff,
    ):
        await enter(alice, group, group.alice)
        await enter(bob, group, group.bob)
        token = await csrf_of(alice, group)
        async with listening(bob, f"{group.url}/stream?after=0") as events:
            started = time.monotonic()
            posted = await alice.post(
                f"{group.url}/messages", data={"text": "<i>fresh</i> plums", "csrf": token}
            )
            assert posted.status_code == 303
            event_id, data = await asyncio.wait_for(events.get(), 1.0)
            arrived = time.monotonic() - started
            message = await _message(db)
            assert event_id == "1"
            assert f'id="m-{message.id}"' in data
            assert "&lt;i&gt;fresh&lt;/i&gt; plums" in data
            assert "<i>" not in data
            assert "Delete" not in data  # Bob does not moderate

            await staff_login(staff, group.shop)
            staff_token = await csrf_of(staff, group)
            started = time.monotonic()
            removal = await staff.post(
                f"{group.url}/messages/{message.id}/delete",
                data={"csrf": staff_token},
                headers={"HX-Request": "true"},
            )
            assert removal.status_code == 202
            event_id, data = await asyncio.wait_for(events.get(), 2.0)
            removed_after = time.monotonic() - started
            assert event_id == "2"
            assert f'id="m-{message.id}" hx-swap-oob="true"' in data
            assert "A message was removed." in data
            assert "plums" not in data
    print(f"new message on the stream after {arrived:.3f} s, removal after {removed_after:.3f} s")
    async with db.unit_of_work() as session:
        (action,) = (await session.scalars(select(RobotAction))).all()
    assert (action.decision, action.kind, action.status) == (
        f"web-delete:{message.id}",
        ActionKind.DELETE,
        ActionStatus.DONE,
    )


async def test_a_reconnecting_reader_resumes_after_the_last_event(
    live: Live, db: Database, factory: Factory
) -> None:
    group = await make_group(factory, db)
    async with AsyncClient(base_url=live.url, timeout=SLOW) as alice:
        await enter(alice, group, group.alice)
        token = await csrf_of(alice, group)
        for text in ("one", "two", "three"):
            await alice.post(f"{group.url}/messages", data={"text": text, "csrf": token})
        alice.headers["Last-Event-ID"] = "2"
        async with listening(alice, f"{group.url}/stream?after=0") as events:
            event_id, data = await asyncio.wait_for(events.get(), 2.0)
    assert event_id == "3"
    assert ">three<" in data
    assert ">one<" not in data
    assert ">two<" not in data


async def test_ban_author_owes_a_ban_and_a_removal_and_only_moderators_may(
    live_worker: Live, db: Database, factory: Factory
) -> None:
    group = await make_group(factory, db)
    async with (
        AsyncClient(base_url=live_worker.url, timeout=SLOW) as alice,
        AsyncClient(base_url=live_worker.url, timeout=SLOW) as staff,
    ):
        await enter(alice, group, group.alice)
        token = await csrf_of(alice, group)
        await alice.post(
            f"{group.url}/messages", data={"text": "are the mangoes ripe today", "csrf": token}
        )
        message = await _message(db)
        refused = await alice.post(f"{group.url}/messages/{message.id}/ban", data={"csrf": token})
        assert refused.status_code == 403
        async with db.unit_of_work() as session:
            assert (await session.scalars(select(RobotAction))).all() == []
        await staff_login(staff, group.shop)
        staff_token = await csrf_of(staff, group)
        assert "Ban author" in (await staff.get(group.url)).text
        for _ in range(2):  # pressed twice: owed once
            banned = await staff.post(
                f"{group.url}/messages/{message.id}/ban", data={"csrf": staff_token}
            )
            assert banned.status_code == 303
        missing = await staff.post(
            f"{group.url}/messages/{uuid.uuid4()}/ban", data={"csrf": staff_token}
        )
        assert missing.status_code == 404
        for _ in range(100):
            page = await alice.get(group.url)
            if "You are banned from this group." in page.text:
                break
            await asyncio.sleep(0.05)
        assert "You are banned from this group." in page.text
        refused = await alice.post(f"{group.url}/messages", data={"text": "hi", "csrf": token})
        assert refused.status_code == 403
    async with db.unit_of_work() as session:
        rows = (await session.scalars(select(RobotAction).order_by(RobotAction.decision))).all()
        state = await session.scalar(select(WebMemberState))
    assert [(a.decision, a.kind) for a in rows] == [
        (f"web-ban:{message.id}", ActionKind.BAN),
        (f"web-delete:{message.id}", ActionKind.DELETE),
    ]
    assert state is not None
    assert str(state.member_id) == group.alice.member_id
    assert state.banned_at is not None
    assert state.banned_until is None


async def test_a_change_in_the_same_process_wakes_the_stream_before_its_poll(
    live_worker: Live, db: Database, factory: Factory
) -> None:
    group = await make_group(factory, db)
    config = web_config(live_worker.app)
    config.poll_seconds = config.standing_seconds = 30  # only a wake-up is this quick
    async with (
        AsyncClient(base_url=live_worker.url, timeout=SLOW) as alice,
        AsyncClient(base_url=live_worker.url, timeout=SLOW) as staff,
    ):
        await enter(alice, group, group.alice)
        token = await csrf_of(alice, group)
        await staff_login(staff, group.shop)
        async with listening(alice, f"{group.url}/stream?after=0") as events:
            await asyncio.sleep(0.3)  # past the stream's first look: it waits now
            await alice.post(f"{group.url}/messages", data={"text": "quick", "csrf": token})
            posted_id, _ = await asyncio.wait_for(events.get(), 2.0)
            message = await _message(db)
            staff_token = await csrf_of(staff, group)  # from the message's moderation form
            await staff.post(
                f"{group.url}/messages/{message.id}/delete", data={"csrf": staff_token}
            )
            # The worker's removal commits in this process too.
            removed_id, removed = await asyncio.wait_for(events.get(), 2.0)
    assert (posted_id, removed_id) == ("1", "2")
    assert "A message was removed." in removed
