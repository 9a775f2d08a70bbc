"""The broadcasts' test helpers: a shop whose robot is in many groups of the fake Bot API server,
broadcasts made through the service, and the worker's two sweeps run until nothing is due."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select

from tests.factories import Factory
from tests.robot.fake_telegram import FakeTelegram
from tests.robot.worlds import TOKEN, World, telegram_world
from tribekit.kit.db import Database
from tribekit.kit.throttle import MemoryThrottle, Throttle
from tribekit.kit.worker import Sweep, WorkerLoop
from tribekit.models.broadcasts import Broadcast, BroadcastDelivery
from tribekit.robot.broadcasts import service, tasks
from tribekit.robot.broadcasts.content import Content
from tribekit.robot.broadcasts.service import BroadcastSpec, Counts

__all__ = ["Counts"]  # tests assert counts through helpers too
from tribekit.robot.broadcasts.states import Audience
from tribekit.robot.channels import (
    Channel,
    InboundEvent,
    OutboundAction,
    Performed,
    RobotAccount,
)
from tribekit.robot.channels.telegram import TelegramChannel

PERSON = 42


def groups(n: int, first: int = -1_000_000) -> list[int]:
    return [first - i for i in range(n)]


async def shop_in_groups(
    db: Database, factory: Factory, fake: FakeTelegram, chat_ids: Sequence[int]
) -> World:
    """The fake server's bot in every group (an admin), and the shop's rows for them."""
    bot = fake.add_bot(TOKEN, "shop_robot")
    fake.add_user(PERSON, "Mei")
    for chat_id in chat_ids:
        fake.add_chat(chat_id, f"Group {chat_id}")
        fake.add_member(chat_id, bot, status="administrator")
    return await telegram_world(db, factory, chat_ids, person_id=PERSON)


def content(text: str = "Mangoes are in!", **more: object) -> Content:
    return Content.from_json({"texts": {"en": text}, **more})


_content = content


async def broadcast(
    db: Database,
    world: World,
    channels: Mapping[str, Channel],
    *,
    text: str = "Mangoes are in!",
    content: Content | None = None,
    audience: Audience = Audience.ALL,
    marketing: bool = False,
    send_at: datetime | None = None,
    **spec: object,
) -> uuid.UUID:
    async with db.unit_of_work() as session:
        made = await service.create(
            session,
            world.shop.tenant,
            BroadcastSpec(
                content=content or _content(text),
                audience=audience,
                marketing=marketing,
                send_at=send_at,
                **spec,  # type: ignore[arg-type]  # the spec's other fields, by name
            ),
            channels,
            created_by="test",
        )
        return made.broadcast.id


def sweeps(
    db: Database, channels: Mapping[str, Channel], throttle: Throttle | None = None
) -> list[Sweep]:
    return tasks.sweeps(db, channels, throttle or MemoryThrottle())


async def run(db: Database, sweeps: Sequence[Sweep], *, rounds: int = 1) -> None:
    """Run every sweep ``rounds`` times (each until it finds less than a full batch)."""
    loop = WorkerLoop(db, sweeps)
    for _ in range(rounds):
        for sweep in sweeps:
            await loop.run_sweep(sweep)


async def run_until_done(
    db: Database, sweeps: Sequence[Sweep], broadcast_id: uuid.UUID, *, within: float = 60
) -> None:
    """Run the sweeps until the broadcast is done or cancelled."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        await run(db, sweeps)
        if (await status(db, broadcast_id)) in ("done", "cancelled"):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"broadcast {broadcast_id} not done after {within} s")
        await asyncio.sleep(0.05)


async def status(db: Database, broadcast_id: uuid.UUID) -> str:
    async with db.unit_of_work(read_only=True) as session:
        found = await session.scalar(select(Broadcast.status).where(Broadcast.id == broadcast_id))
        assert found is not None
        return found


async def counts(db: Database, broadcast_id: uuid.UUID) -> Counts:
    async with db.unit_of_work(read_only=True) as session:
        return (await service.counts(session, [broadcast_id]))[broadcast_id]


async def deliveries(db: Database, broadcast_id: uuid.UUID) -> list[BroadcastDelivery]:
    async with db.unit_of_work(read_only=True) as session:
        return list(
            (
                await session.scalars(
                    select(BroadcastDelivery)
                    .where(BroadcastDelivery.broadcast_id == broadcast_id)
                    .order_by(BroadcastDelivery.id)
                )
            ).all()
        )


@dataclass(frozen=True)
class Sent:
    """What the fake server answered to the robot's sends."""

    ok: dict[int, int]  # chat id -> messages sent there
    refused_429: int


def sent(fake: FakeTelegram, method: str = "sendMessage") -> Sent:
    calls = fake.calls_to(method, token=TOKEN)
    ok: dict[int, int] = {}
    for call in calls:
        if call.status == 200:
            chat = int(call.params["chat_id"])
            ok[chat] = ok.get(chat, 0) + 1
    return Sent(ok, sum(1 for c in calls if c.status == 429))


class Interrupting:
    """A channel that, once ``after`` sends went out, runs ``then`` (a member's /stop, staff
    cancelling) and lets no send finish until it is done; every send counted."""

    def __init__(
        self, inner: TelegramChannel, *, after: int, then: Callable[[], Awaitable[None]]
    ) -> None:
        self.inner, self.after, self.then = inner, after, then
        self.name, self.capabilities = inner.name, inner.capabilities
        self.sends = 0
        self.done = asyncio.Event()
        self.done.set()

    def parse(self, account: RobotAccount, update: Mapping[str, Any]) -> list[InboundEvent]:
        return self.inner.parse(account, update)

    async def perform(self, account: RobotAccount, action: OutboundAction) -> Performed:
        self.sends += 1
        if self.sends == self.after + 1:
            self.done.clear()
            await self.then()
            self.done.set()
        await self.done.wait()
        return await self.inner.perform(account, action)

    async def direct_chat(self, account: RobotAccount, person_id: str) -> str:
        return await self.inner.direct_chat(account, person_id)

    async def aclose(self) -> None:
        """The inner channel is closed by its owner."""


def unlimited(channel: TelegramChannel) -> TelegramChannel:
    """The channel declaring no limits (the fake server has none either): fast tests."""
    channel.capabilities = replace(
        channel.capabilities, per_group_per_minute=None, per_bot_per_second=None
    )
    return channel
