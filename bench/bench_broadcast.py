"""Broadcast delivery throughput on PostgreSQL: one broadcast to 1,000 Telegram groups, sent by
the worker's sweeps (deliveries written, claimed, marked in flight, sent, recorded), against a
bare loop that sends the same 1,000 messages with the same HTTP client and no bookkeeping.

The world: a merchant with one Telegram robot (registered with ``getMe``) in ``GROUPS`` active
groups. The Bot API server is the tests' fake (``tests/robot/fake_telegram.py``), run in a
process of its own so that it takes no CPU from the sender, with its limits off. The channel
declares no limits either ("limits switched off": the throttle is not consulted); a second
measured run keeps the throttle in the path with limits far above the load, on Redis
(``TRIBEKIT_BENCH_REDIS``), to show what pacing costs.

* the floor: ``TelegramChannel.perform`` for each group, at most ``WAVE_SIZE`` x
  ``WAVES_AT_ONCE`` sends at once (the most the sweep ever has in flight), the same aiogram
  client and session;
* measured: from the broadcast's commit to its ``done``: the expand and deliver sweeps run by
  a worker loop, every outcome recorded.

After the runs the fake server's calls are counted: every group got each message exactly once.

Target (issue 11): deliveries/s at least 50 % of the bare loop's.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
import uuid
from collections import Counter
from dataclasses import replace
from multiprocessing.synchronize import Event
from typing import Any

from redis.asyncio import Redis
from tests.robot.fake_telegram import FakeTelegram

from tribekit.kit.db import Database
from tribekit.kit.throttle import RedisThrottle, Throttle
from tribekit.kit.worker import WorkerLoop
from tribekit.models.communities import Community
from tribekit.models.enums import ActionKind, Channel, CommunityStatus
from tribekit.robot import accounts
from tribekit.robot.broadcasts import service as broadcasts
from tribekit.robot.broadcasts import tasks as broadcast_tasks
from tribekit.robot.broadcasts.content import Content
from tribekit.robot.broadcasts.deliveries import WAVE_SIZE, WAVES_AT_ONCE
from tribekit.robot.broadcasts.states import Audience, BroadcastStatus
from tribekit.robot.channels import OutboundAction
from tribekit.robot.channels import RobotAccount as Account
from tribekit.robot.channels.telegram import CAPABILITIES, TelegramChannel
from tribekit.tenancy import service as tenancy
from tribekit.tenancy.principal import Tenant
from tribekit.tenancy.schemas import MerchantCreate, OwnerCreate

from .bench_orders import BENCH_PASSWORD, _fresh_database
from .harness import Result

NAME = "tribekit_bench_broadcast"
GROUPS = int(os.environ.get("TRIBEKIT_BENCH_GROUPS", "1000"))
REDIS = os.environ.get("TRIBEKIT_BENCH_REDIS", "redis://127.0.0.1:6379/13")
TOKEN = "7200001:bench-broadcast-robot"  # noqa: S105  # known only to the fake Bot API
CHAT = -1_003_000_000_000
TARGET = 0.5
IN_FLIGHT = WAVE_SIZE * WAVES_AT_ONCE
FLOOR_TEXT = "bare loop"
WARM_UP = "Warm-up: good morning from the shop."
TEXTS = ("Tonight 20:00: mango flash sale, 100 boxes.", "Paced: lychee day on Friday.")


def _serve(ready: Any, stop: Event, counts: Any) -> None:
    """The fake Bot API server with ``GROUPS`` groups, in its own process, until ``stop``;
    then, per text sent, how many times each chat got it."""
    with FakeTelegram() as fake:
        bot = fake.add_bot(TOKEN, "bench_broadcast_robot")
        for i in range(GROUPS):
            fake.add_chat(CHAT - i, f"Fruit lovers {i}")
            fake.add_member(CHAT - i, bot, status="administrator")
        ready.put(fake.base_url)
        stop.wait()
        per_text: dict[str, Counter[int]] = {}
        for call in fake.calls_to("sendMessage"):
            if call.status == 200:
                per_text.setdefault(call.params["text"], Counter())[
                    int(call.params["chat_id"])
                ] += 1
        counts.put({text: dict(c) for text, c in per_text.items()})


async def _world(db: Database, telegram: TelegramChannel) -> tuple[Tenant, Account]:
    async with db.unit_of_work() as session:
        merchant, _ = await tenancy.create_merchant(
            session,
            MerchantCreate(
                slug="bench-broadcast",
                name="Bench Fruit",
                timezone="Asia/Shanghai",
                currency="CNY",
                country="CN",
                locale="en",
                owner=OwnerCreate(email="o@bench.example", name="O", password=BENCH_PASSWORD),
            ),
        )
        tenant = Tenant.of(merchant)
        robot = await accounts.register_telegram_bot(
            session, tenant, {"telegram": telegram}, token=TOKEN, mode="poll"
        )
        session.add_all(
            Community(
                merchant_id=tenant.id,
                name=f"Fruit lovers {i}",
                channel=Channel.TELEGRAM,
                external_id=str(CHAT - i),
                status=CommunityStatus.ACTIVE,
                robot_account_id=robot.id,
            )
            for i in range(GROUPS)
        )
        account = Account(str(robot.id), robot.channel, TOKEN, robot.username)
    return tenant, account


async def _bare(telegram: TelegramChannel, account: Account) -> float:
    """The floor: the same sends, as many at once as the sweep may have, nothing written."""
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(i: int) -> None:
        async with gate:
            await telegram.perform(
                account, OutboundAction(ActionKind.SEND, chat_id=str(CHAT - i), text=FLOOR_TEXT)
            )

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(GROUPS)))
    return time.perf_counter() - started


async def _broadcast(
    db: Database, tenant: Tenant, telegram: TelegramChannel, throttle: Throttle | None, text: str
) -> float:
    """One broadcast to every group, from its commit to ``done``."""
    loop = WorkerLoop(db, broadcast_tasks.sweeps(db, {"telegram": telegram}, throttle))
    spec = broadcasts.BroadcastSpec(content=Content(texts={"en": text}), audience=Audience.ALL)
    started = time.perf_counter()
    async with db.unit_of_work() as session:
        row = await broadcasts.do_create(session, tenant, spec, created_by="bench")
        assert row is not None
        broadcast_id: uuid.UUID = row.id
    while True:
        for sweep in loop.sweeps:
            await loop.run_sweep(sweep)
        async with db.unit_of_work(read_only=True) as session:
            view = await broadcasts.get(session, tenant, broadcast_id)
        if view.broadcast.status == BroadcastStatus.DONE:
            break
        await asyncio.sleep(0.01)
    seconds = time.perf_counter() - started
    if view.counts.sent != GROUPS:
        raise RuntimeError(f"{text!r}: {view.counts} instead of {GROUPS} sent")
    return seconds


async def run() -> Result:
    spawn = multiprocessing.get_context("spawn")
    ready, counts, stop = spawn.Queue(), spawn.Queue(), spawn.Event()
    server = spawn.Process(target=_serve, args=(ready, stop, counts), daemon=True)
    server.start()
    db, _ = await _fresh_database(NAME)
    redis = Redis.from_url(REDIS)
    try:
        base_url = await asyncio.to_thread(ready.get, True, 120)
        telegram = TelegramChannel(base_url)
        tenant, account = await _world(db, telegram)
        # Limits switched off: the channel declares none, so the throttle is not asked.
        telegram.capabilities = replace(
            CAPABILITIES, per_group_per_minute=None, per_bot_per_second=None
        )
        await _bare(telegram, account)  # warm-up: connections, aiogram's first calls
        floor = await _bare(telegram, account)
        # The sweeps warmed up too (statements compiled, connections open), as the loop was.
        await _broadcast(db, tenant, telegram, None, WARM_UP)
        measured = await _broadcast(db, tenant, telegram, None, TEXTS[0])
        # The same with the throttle in the path, on Redis, limits far above the load.
        telegram.capabilities = replace(
            CAPABILITIES, per_group_per_minute=1_000_000, per_bot_per_second=1_000_000
        )
        await redis.flushdb()
        paced = await _broadcast(db, tenant, telegram, RedisThrottle(redis), TEXTS[1])
        await telegram.aclose()
    finally:
        stop.set()
        await redis.aclose()
        await db.dispose()
    sent = await asyncio.to_thread(counts.get, True, 60)
    server.join(10)
    for text in (FLOOR_TEXT, WARM_UP, *TEXTS):
        per_chat = sent.get(text, {})
        expected = 2 if text == FLOOR_TEXT else 1  # the floor ran twice (warm-up)
        wrong = sum(1 for n in per_chat.values() if n != expected)
        if len(per_chat) != GROUPS or wrong:
            raise RuntimeError(f"{text!r}: {len(per_chat)} groups reached, {wrong} not once")
    ratio = floor / measured
    return Result(
        benchmark=f"broadcast to {GROUPS:,} Telegram groups (PostgreSQL)",
        measured="the worker's sweeps, from the broadcast's commit to done",
        seconds=measured,
        floor=f"a bare loop of the same sends ({IN_FLIGHT} at once), nothing written",
        floor_seconds=floor,
        target=f"deliveries/s at least {TARGET:.0%} of the bare loop's",
        met=ratio >= TARGET,
        figures={
            "deliveries/s": f"{GROUPS / measured:,.0f}",
            "bare sends/s": f"{GROUPS / floor:,.0f}",
            "share of the bare loop": f"{ratio:.0%}",
            "with the Redis throttle in the path": f"{GROUPS / paced:,.0f}/s "
            f"({floor / paced:.0%} of the bare loop)",
            "every group reached once": "yes",
        },
    )
