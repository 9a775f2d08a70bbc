"""A broadcast to many groups through the real Telegram channel and the fake Bot API server with
Telegram's limits enforced: every group gets it once, no 429 is ever answered, the counts add
up; forced 429s are waited out exactly as long as asked."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import pytest

from tests.factories import Factory
from tests.robot.fake_telegram import FakeTelegram
from tribekit.kit.db import Database
from tribekit.kit.errors import ServiceUnavailable
from tribekit.kit.throttle import Rate, Slot
from tribekit.robot.broadcasts.deliveries import PACER_RETRY
from tribekit.robot.broadcasts.service import Counts
from tribekit.robot.channels.telegram import TelegramChannel

from . import helpers


@pytest.fixture
async def telegram(fake_telegram: FakeTelegram) -> AsyncIterator[TelegramChannel]:
    channel = TelegramChannel(fake_telegram.base_url)
    yield channel
    await channel.aclose()


async def test_a_broadcast_to_ten_groups_is_sent_once_to_each(
    db: Database, factory: Factory, fake_telegram: FakeTelegram, telegram: TelegramChannel
) -> None:
    chats = helpers.groups(10)
    world = await helpers.shop_in_groups(db, factory, fake_telegram, chats)
    channels = {"telegram": telegram}
    broadcast_id = await helpers.broadcast(db, world, channels)
    await helpers.run_until_done(db, helpers.sweeps(db, channels), broadcast_id)
    got = helpers.sent(fake_telegram)
    assert got.ok == dict.fromkeys(chats, 1)
    assert got.refused_429 == 0
    assert await helpers.counts(db, broadcast_id) == Counts(sent=10)
    assert await helpers.status(db, broadcast_id) == "done"


@pytest.fixture
def limited(fake_telegram: FakeTelegram) -> FakeTelegram:
    """Telegram's limits, enforced: 20 messages a minute per group, 30 a second per bot."""
    fake_telegram.group_messages_per_minute = 20
    fake_telegram.bot_messages_per_second = 30
    return fake_telegram


async def test_two_hundred_groups_within_telegrams_limits_each_once_and_no_429(
    db: Database, factory: Factory, limited: FakeTelegram, telegram: TelegramChannel
) -> None:
    chats = helpers.groups(200)
    world = await helpers.shop_in_groups(db, factory, limited, chats)
    channels = {"telegram": telegram}
    broadcast_id = await helpers.broadcast(db, world, channels)
    await helpers.run_until_done(db, helpers.sweeps(db, channels), broadcast_id)
    got = helpers.sent(limited)
    assert got.refused_429 == 0
    assert got.ok == dict.fromkeys(chats, 1)
    assert await helpers.counts(db, broadcast_id) == Counts(sent=200)
    rows = await helpers.deliveries(db, broadcast_id)
    assert {r.status for r in rows} == {"sent"}
    assert {r.attempts for r in rows} == {1}
    assert sorted(int(r.chat_id or 0) for r in rows) == sorted(chats)
    assert all(r.message_id == "1" for r in rows)  # the first message in each group
    # No second of sends held more than the bot's 30.
    times = sorted(c.at for c in limited.calls_to("sendMessage"))
    assert max(sum(1 for t in times if s <= t < s + 1) for s in times) <= 30


async def test_forced_429s_are_waited_out_exactly_and_every_group_still_gets_it_once(
    db: Database, factory: Factory, limited: FakeTelegram, telegram: TelegramChannel
) -> None:
    chats = helpers.groups(12)
    world = await helpers.shop_in_groups(db, factory, limited, chats)
    channels = {"telegram": telegram}
    broadcast_id = await helpers.broadcast(db, world, channels)
    limited.fail_next("sendMessage", retry_after=1, times=3)
    await helpers.run_until_done(db, helpers.sweeps(db, channels), broadcast_id)
    calls = limited.calls_to("sendMessage")
    refused = [c for c in calls if c.status == 429]
    assert len(refused) == 3
    got = helpers.sent(limited)
    assert got.ok == dict.fromkeys(chats, 1)
    assert await helpers.counts(db, broadcast_id) == Counts(sent=12)
    for call in refused:
        chat = int(call.params["chat_id"])
        [ok] = [c for c in calls if c.status == 200 and int(c.params["chat_id"]) == chat]
        assert ok.at - call.at >= 1.0  # retry_after honoured, not a moment earlier
    # The robot's other sends waited out each pause too: nothing went out in the second after
    # a 429 (but what was on its way already when the 429 came back).
    for call in refused:
        assert [c for c in calls if call.at + 0.1 < c.at < call.at + 1.0] == []
    rows = await helpers.deliveries(db, broadcast_id)
    # Each 429 cost its delivery one attempt; a send held back by the pause cost none.
    assert sum(r.attempts for r in rows) == 12 + 3


async def test_an_image_goes_as_a_photo_with_its_caption_and_buttons(
    db: Database, factory: Factory, limited: FakeTelegram, telegram: TelegramChannel
) -> None:
    chats = helpers.groups(3)
    world = await helpers.shop_in_groups(db, factory, limited, chats)
    channels = {"telegram": telegram}
    broadcast_id = await helpers.broadcast(
        db,
        world,
        channels,
        content=helpers.content(
            "Fresh mangoes, today only",
            image_url="https://shop.example/mango.jpg",
            buttons=[[{"text": "Order", "url": "https://shop.example/m", "data": None}]],
        ),
    )
    await helpers.run_until_done(db, helpers.sweeps(db, channels), broadcast_id)
    assert limited.calls_to("sendMessage") == []
    assert helpers.sent(limited, "sendPhoto").ok == dict.fromkeys(chats, 1)
    for chat in chats:
        [message] = limited.sent(chat)
        assert message.photo == "https://shop.example/mango.jpg"
        assert message.api["caption"] == "Fresh mangoes, today only"
        assert "photo" in message.api
        assert message.reply_markup == {
            "inline_keyboard": [[{"text": "Order", "url": "https://shop.example/m"}]]
        }
    assert await helpers.counts(db, broadcast_id) == Counts(sent=3)


class Unreachable:
    """A pacer whose store (Redis, PostgreSQL) cannot be reached."""

    async def reserve(self, rates: Sequence[Rate], *, within: float) -> Slot:
        raise ServiceUnavailable("the send pacing store is unavailable; retry in a moment")

    async def pause(self, key: str, seconds: float) -> None:
        raise ServiceUnavailable("the send pacing store is unavailable; retry in a moment")


async def test_without_its_pacer_nothing_is_sent_and_the_deliveries_wait_unspent(
    db: Database, factory: Factory, limited: FakeTelegram, telegram: TelegramChannel
) -> None:
    chats = helpers.groups(3)
    world = await helpers.shop_in_groups(db, factory, limited, chats)
    channels = {"telegram": telegram}
    broadcast_id = await helpers.broadcast(db, world, channels)
    before = datetime.now(UTC)
    await helpers.run(db, helpers.sweeps(db, channels, Unreachable()))
    assert limited.calls_to("sendMessage") == []
    rows = await helpers.deliveries(db, broadcast_id)
    assert {(r.status, r.attempts) for r in rows} == {("pending", 0)}
    assert all(r.due_at >= before + PACER_RETRY for r in rows)  # not claimed again at once
    assert await helpers.counts(db, broadcast_id) == Counts(pending=3)
