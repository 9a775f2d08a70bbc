"""The flood and duplicate rules in real use: the pipeline remembers each member's recent posts
(Redis when configured, the database otherwise) and tells the engine. Over Telegram (the fake
Bot API server, the real aiogram client): a member who posts six messages in a few seconds is
muted as the policy says; the same text in three groups within minutes is removed in the third.
Both on SQLite and PostgreSQL, with the database's memory and with Redis'."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import select, update

from tests.factories import Factory
from tribekit.kit.db import Database
from tribekit.models.communities import Community
from tribekit.models.enums import CommunityStatus
from tribekit.models.moderation import ModerationEntry
from tribekit.models.robot import RobotAccount, RobotEvent
from tribekit.robot import accounts, pipeline, recent, tasks
from tribekit.robot.channels.telegram import TelegramChannel
from tribekit.tenancy.principal import Tenant

from .fake_telegram import FakeTelegram

TOKEN = "700002:recent-token"
GROUPS = [-4001, -4002, -4003]
CHATTY, OTHER = 52, 53


class Robot:
    def __init__(
        self,
        db: Database,
        tenant: Tenant,
        account: RobotAccount,
        channel: TelegramChannel,
        context: pipeline.RobotContext,
    ) -> None:
        self.db, self.tenant, self.account, self.channel = db, tenant, account, channel
        self.context = context

    async def receive(self, update: dict[str, Any]) -> list[str]:
        outcomes = []
        for event in self.channel.parse(accounts.as_channel_account(self.account), update):
            async with self.db.unit_of_work() as session:
                outcomes.append(
                    await pipeline.handle(
                        session, self.tenant, self.account, event, context=self.context
                    )
                )
        return outcomes

    async def work(self) -> None:
        sweep = tasks.actions_sweep(self.db, {"telegram": self.channel})
        while await self.db.run(lambda session: sweep.run(session, sweep.batch_size)):
            pass


@pytest.fixture(params=["database", "redis"])
def store(request: pytest.FixtureRequest, redis: Redis) -> recent.RecentPosts:
    """The memory the app builds at start: without Redis, and with it."""
    return recent.build(redis if request.param == "redis" else None)


@pytest.fixture
async def robot(
    store: recent.RecentPosts, db: Database, factory: Factory, fake_telegram: FakeTelegram
) -> AsyncIterator[Robot]:
    bot = fake_telegram.add_bot(TOKEN, "recent_robot")
    fake_telegram.add_user(CHATTY, "Chen")
    fake_telegram.add_user(OTHER, "Olga")
    for chat_id in GROUPS:
        fake_telegram.add_chat(chat_id, f"Orchard {chat_id}")
        fake_telegram.add_member(chat_id, bot, status="administrator")
    channel = TelegramChannel(fake_telegram.base_url)
    shop = await factory.shop()
    async with db.unit_of_work() as session:
        account = await accounts.register_telegram_bot(
            session, shop.tenant, {"telegram": channel}, token=TOKEN
        )
    robot = Robot(db, shop.tenant, account, channel, pipeline.RobotContext(recent=store))
    for chat_id in GROUPS:  # the robot meets the groups; staff confirm them
        [hello] = fake_telegram.feed(fake_telegram.message(chat_id, OTHER, "hello everyone"))
        await robot.receive(hello)
    async with db.unit_of_work() as session:
        await session.execute(update(Community).values(status=CommunityStatus.ACTIVE))
    yield robot
    await channel.aclose()


async def _post(robot: Robot, fake: FakeTelegram, chat_id: int, user: int, text: str) -> str:
    [message] = fake.feed(fake.message(chat_id, user, text))
    [outcome] = await robot.receive(message)
    return outcome


async def test_a_flood_ends_in_the_policys_mute(
    robot: Robot, fake_telegram: FakeTelegram, db: Database
) -> None:
    texts = ["one", "two", "three", "four", "five", "six"]
    outcomes = [await _post(robot, fake_telegram, GROUPS[0], CHATTY, t) for t in texts]
    # The default policy: more than 5 messages in 10 s mutes for 10 minutes, without a strike.
    assert outcomes == ["clean"] * 5 + ["mute: flood"]
    # The other member and the other groups are counted apart.
    assert await _post(robot, fake_telegram, GROUPS[0], OTHER, "seven") == "clean"
    assert await _post(robot, fake_telegram, GROUPS[1], CHATTY, "eight") == "clean"
    await robot.work()
    assert fake_telegram.status(GROUPS[0], CHATTY) == "restricted"
    assert fake_telegram.status(GROUPS[1], CHATTY) == "member"
    [warning] = [m.text for m in fake_telegram.sent(GROUPS[0]) if m.text]
    assert warning == "Chen, please slow down. Chen is muted for 10 minutes."
    async with db.unit_of_work(read_only=True) as session:
        log = (await session.execute(select(ModerationEntry.rule, ModerationEntry.action))).all()
    assert [tuple(row) for row in log] == [("flood", "mute")]


async def test_the_same_text_in_three_groups_within_minutes_is_caught(
    robot: Robot, fake_telegram: FakeTelegram, db: Database
) -> None:
    spam = "Cheap mangoes, best price in town, order today!"
    assert await _post(robot, fake_telegram, GROUPS[0], CHATTY, spam) == "clean"
    assert await _post(robot, fake_telegram, GROUPS[1], CHATTY, spam.upper()) == "clean"
    nearly = "Cheap mangoes, best price in town, order today!!"
    assert await _post(robot, fake_telegram, GROUPS[2], CHATTY, nearly) == "deleted: duplicate"
    # Another member's same text in a group of their own counts for them alone.
    assert await _post(robot, fake_telegram, GROUPS[2], OTHER, spam) == "clean"
    await robot.work()
    assert [m.deleted for m in fake_telegram.messages(GROUPS[2]) if m.text == nearly] == [True]
    assert [m.deleted for m in fake_telegram.messages(GROUPS[0]) if m.text == spam] == [False]
    async with db.unit_of_work(read_only=True) as session:
        marked = await session.scalar(
            select(RobotEvent.fingerprint).where(RobotEvent.outcome == "deleted: duplicate")
        )
    # The database's memory keeps the fingerprint on the post's event row; Redis' keeps it apart.
    assert (marked is not None) == isinstance(robot.context.recent, recent.DatabaseRecentPosts)
