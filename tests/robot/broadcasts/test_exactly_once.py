"""Each delivery is sent at most once, whatever the workers do: two workers sharing one
broadcast, a worker that dies after claiming (and after marking some deliveries in flight), a
worker stopped mid-broadcast, staff cancelling while it goes out."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from redis.asyncio import Redis

from tests.factories import Factory
from tests.robot.fake_telegram import FakeTelegram
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.kit.throttle import MemoryThrottle, RedisThrottle
from tribekit.kit.worker import WorkerLoop
from tribekit.robot.broadcasts import deliveries, service
from tribekit.robot.broadcasts.deliveries import LEASE, OUTCOME_UNKNOWN, WAVE_SIZE, WAVES_AT_ONCE
from tribekit.robot.broadcasts.service import Counts
from tribekit.robot.channels import Channel, OutboundAction, Performed, RobotAccount
from tribekit.robot.channels.telegram import TelegramChannel

from . import helpers


@pytest.fixture
async def telegram(fake_telegram: FakeTelegram) -> AsyncIterator[TelegramChannel]:
    channel = helpers.unlimited(TelegramChannel(fake_telegram.base_url))
    yield channel
    await channel.aclose()


def _per_chat(fake: FakeTelegram) -> Counter[int]:
    return Counter(helpers.sent(fake).ok)


class Counting:
    """One worker's view of the channel: how many sends it made."""

    def __init__(self, inner: TelegramChannel) -> None:
        self.inner, self.name, self.capabilities = inner, inner.name, inner.capabilities
        self.sends = 0
        self.tenth = asyncio.Event()  # set once ten sends were made

    def parse(self, account: RobotAccount, update: Mapping[str, Any]) -> list[Any]:
        return self.inner.parse(account, update)

    async def perform(self, account: RobotAccount, action: OutboundAction) -> Performed:
        self.sends += 1
        if self.sends >= 10:
            self.tenth.set()
        await asyncio.sleep(0.002)  # a little network time, so the workers overlap
        return await self.inner.perform(account, action)

    async def direct_chat(self, account: RobotAccount, person_id: str) -> str:
        return person_id

    async def aclose(self) -> None:
        """The inner channel is closed by its owner."""


async def test_two_workers_share_a_broadcast_and_send_nothing_twice(
    db: Database, factory: Factory, fake_telegram: FakeTelegram, telegram: TelegramChannel
) -> None:
    chats = helpers.groups(150)
    world = await helpers.shop_in_groups(db, factory, fake_telegram, chats)
    workers = [Counting(telegram), Counting(telegram)]
    throttle = MemoryThrottle()  # one process: the two loops share it, as processes share Redis

    def loop(channel: Counting) -> WorkerLoop:
        channels: Mapping[str, Channel] = {"telegram": channel}
        sweeps = [replace(s, batch_size=10) for s in helpers.sweeps(db, channels, throttle)]
        return WorkerLoop(db, sweeps)

    loops = [loop(w) for w in workers]
    broadcast_id = await helpers.broadcast(db, world, {"telegram": telegram})
    await loops[0].run_sweep(loops[0].sweeps[0])  # expand: the deliveries are written
    deliver = [lp.run_sweep(lp.sweeps[1]) for lp in loops]
    handled = await asyncio.gather(*deliver)
    assert sum(handled) == 150  # every delivery claimed once, by one of them
    assert all(w.sends > 0 for w in workers)  # both did part of the work
    assert sum(w.sends for w in workers) == 150
    assert _per_chat(fake_telegram) == dict.fromkeys(chats, 1)
    assert await helpers.counts(db, broadcast_id) == Counts(sent=150)
    assert await helpers.status(db, broadcast_id) == "done"


async def test_a_worker_killed_after_its_claim_leaves_the_rest_and_nothing_goes_twice(
    db: Database, factory: Factory, fake_telegram: FakeTelegram, telegram: TelegramChannel
) -> None:
    chats = helpers.groups(30)
    world = await helpers.shop_in_groups(db, factory, fake_telegram, chats)
    channels: Mapping[str, Channel] = {"telegram": telegram}
    with clock.frozen_at(datetime.now(UTC)) as frozen:
        broadcast_id = await helpers.broadcast(db, world, channels)
        sweeps = helpers.sweeps(db, channels)
        await helpers.run(db, sweeps[:1])  # expanded
        # The dead worker: its claim of 20 committed, 5 of them marked in flight, then nothing
        # (the process was killed before any send, or while the 5 were on the wire).
        async with db.unit_of_work() as session:
            claims = await deliveries.claim_deliveries(session, channels, 20)
        in_flight = claims[:5]
        marked = await db.run(
            partial(deliveries.mark_in_flight, ids=[c.id for c in in_flight], lease=claims[0].lease)
        )
        assert set(marked.values()) == {"pending"}
        # The next worker sends what no one holds, and leaves the leased ones alone...
        await helpers.run(db, sweeps)
        assert sum(_per_chat(fake_telegram).values()) == 10
        assert await helpers.counts(db, broadcast_id) == Counts(sent=10, pending=20)
        # ... until the lease ends: then it sends the claimed ones, but not those in flight.
        frozen.advance(LEASE + timedelta(seconds=1))
        await helpers.run_until_done(db, sweeps, broadcast_id)
    rows = {r.id: r for r in await helpers.deliveries(db, broadcast_id)}
    assert {rows[c.id].status for c in in_flight} == {"failed"}
    assert {rows[c.id].last_error for c in in_flight} == {OUTCOME_UNKNOWN}
    unknown = {int(c.chat_id or 0) for c in in_flight}
    assert _per_chat(fake_telegram) == {chat: 1 for chat in chats if chat not in unknown}
    assert await helpers.counts(db, broadcast_id) == Counts(sent=25, failed=5)
    assert await helpers.status(db, broadcast_id) == "done"


async def test_a_worker_stopped_mid_broadcast_finishes_what_is_on_the_wire_and_gives_back_the_rest(
    db: Database, factory: Factory, fake_telegram: FakeTelegram, telegram: TelegramChannel
) -> None:
    chats = helpers.groups(120)
    world = await helpers.shop_in_groups(db, factory, fake_telegram, chats)
    slow = Counting(telegram)
    channels: Mapping[str, Channel] = {"telegram": slow}
    broadcast_id = await helpers.broadcast(db, world, channels)
    sweeps = helpers.sweeps(db, channels)
    await helpers.run(db, sweeps[:1])
    worker = asyncio.create_task(WorkerLoop(db, sweeps).run_sweep(sweeps[1]))
    await slow.tenth.wait()
    worker.cancel()
    with pytest.raises(asyncio.CancelledError):
        await worker
    # Stopped: the waves on the wire were recorded, the rest given back (due now), none lost.
    stopped_at = await helpers.counts(db, broadcast_id)
    assert stopped_at.sent + stopped_at.pending == 120
    assert 10 <= stopped_at.sent <= WAVE_SIZE * WAVES_AT_ONCE
    assert {
        r.attempts for r in await helpers.deliveries(db, broadcast_id) if r.status == "pending"
    } == {0}
    await helpers.run_until_done(db, sweeps, broadcast_id)
    assert _per_chat(fake_telegram) == dict.fromkeys(chats, 1)
    assert await helpers.counts(db, broadcast_id) == Counts(sent=120)


async def test_cancelling_stops_every_delivery_not_yet_on_its_way(
    db: Database, factory: Factory, fake_telegram: FakeTelegram, telegram: TelegramChannel
) -> None:
    chats = helpers.groups(80)
    world = await helpers.shop_in_groups(db, factory, fake_telegram, chats)
    broadcast_ids: list[uuid.UUID] = []

    async def cancel() -> None:
        async with db.unit_of_work() as session:
            view = await service.cancel(session, world.shop.tenant, broadcast_ids[0])
        assert view.broadcast.status == "cancelled"

    channels: Mapping[str, Channel] = {
        "telegram": helpers.Interrupting(telegram, after=5, then=cancel)
    }
    broadcast_ids.append(await helpers.broadcast(db, world, channels))
    await helpers.run_until_done(db, helpers.sweeps(db, channels), broadcast_ids[0])
    await helpers.run(db, helpers.sweeps(db, channels), rounds=2)  # nothing more goes out
    marked = WAVE_SIZE * WAVES_AT_ONCE  # on their way when staff cancelled
    assert sum(_per_chat(fake_telegram).values()) == marked
    assert await helpers.counts(db, broadcast_ids[0]) == Counts(sent=marked, cancelled=80 - marked)
    assert await helpers.status(db, broadcast_ids[0]) == "cancelled"


async def test_two_workers_pace_one_robot_together_through_redis(
    db: Database, factory: Factory, fake_telegram: FakeTelegram, redis: Redis
) -> None:
    """Two workers (each its own throttle, as two processes would have) share Telegram's
    limits through Redis: the bot's 30 a second hold across both, no 429."""
    fake_telegram.group_messages_per_minute = 20
    fake_telegram.bot_messages_per_second = 30
    chats = helpers.groups(60)
    world = await helpers.shop_in_groups(db, factory, fake_telegram, chats)
    paced = [TelegramChannel(fake_telegram.base_url), TelegramChannel(fake_telegram.base_url)]
    try:
        loops = []
        for channel in paced:
            channels: Mapping[str, Channel] = {"telegram": channel}
            sweeps = helpers.sweeps(db, channels, RedisThrottle(redis))
            loops.append(WorkerLoop(db, [replace(s, batch_size=15) for s in sweeps]))
        broadcast_id = await helpers.broadcast(db, world, {"telegram": paced[0]})
        await loops[0].run_sweep(loops[0].sweeps[0])
        await asyncio.gather(*(lp.run_sweep(lp.sweeps[1]) for lp in loops))
        await helpers.run_until_done(db, loops[0].sweeps, broadcast_id)
    finally:
        for channel in paced:
            await channel.aclose()
    got = helpers.sent(fake_telegram)
    assert got.refused_429 == 0
    assert got.ok == dict.fromkeys(chats, 1)
    assert await helpers.counts(db, broadcast_id) == Counts(sent=60)
