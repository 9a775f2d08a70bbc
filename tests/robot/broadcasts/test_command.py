"""The /broadcast staff command over Telegram (the fake Bot API server, the real pipeline): a
group's leader sends /broadcast <text> and every active group that takes offers gets it once;
the robot says how many; a member who is not staff is refused and nothing is made."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select, update

from tests.factories import Factory, count_rows
from tests.robot.fake_telegram import FakeTelegram
from tests.robot.test_recent import Robot
from tests.robot.worlds import led_telegram_groups
from tribekit.kit.db import Database
from tribekit.models.broadcasts import Broadcast
from tribekit.models.communities import Community
from tribekit.robot.texts import say

from . import helpers

TOKEN = "700011:broadcast-token"
GROUPS = [-6001, -6002, -6003]
LEADER, BYSTANDER = 71, 72


@pytest.fixture
async def robot(
    db: Database, factory: Factory, fake_telegram: FakeTelegram
) -> AsyncIterator[Robot]:
    fake_telegram.add_user(LEADER, "Lin")
    fake_telegram.add_user(BYSTANDER, "Bea")
    robot = await led_telegram_groups(
        db,
        factory,
        fake_telegram,
        token=TOKEN,
        robot_name="news_robot",
        chat_ids=GROUPS,
        leader=LEADER,
        greeter=BYSTANDER,
        members=(BYSTANDER, LEADER),
    )
    yield robot
    await robot.channel.aclose()


async def _say(robot: Robot, fake: FakeTelegram, user: int, text: str) -> str:
    [message] = fake.feed(fake.message(GROUPS[0], user, text))
    [outcome] = await robot.receive(message)
    return outcome


def _texts(fake: FakeTelegram, chat: int) -> list[str | None]:
    return [m.text for m in fake.sent(chat)]


async def test_a_leader_broadcasts_to_every_group_that_takes_offers(
    robot: Robot, fake_telegram: FakeTelegram, db: Database
) -> None:
    async with db.unit_of_work() as session:
        await session.execute(
            update(Community)
            .where(Community.external_id == "-6003")
            .values(accepts_marketing=False)
        )
    outcome = await _say(robot, fake_telegram, LEADER, "/broadcast Mango day on Friday!")
    assert outcome == "command: broadcast"
    await robot.work()  # the answer, and the command message removed
    assert _texts(fake_telegram, GROUPS[0]) == ["Sending it to 2 groups."]
    assert len(fake_telegram.calls_to("deleteMessage")) == 1
    async with db.unit_of_work(read_only=True) as session:
        [made] = (await session.scalars(select(Broadcast))).all()
    assert made.marketing is True
    assert made.audience == "all"
    assert made.content["texts"] == {"en": "Mango day on Friday!"}
    channels = {"telegram": helpers.unlimited(robot.channel)}
    await helpers.run_until_done(db, helpers.sweeps(db, channels), made.id)
    assert _texts(fake_telegram, GROUPS[0]) == ["Sending it to 2 groups.", "Mango day on Friday!"]
    assert _texts(fake_telegram, GROUPS[1]) == ["Mango day on Friday!"]
    assert _texts(fake_telegram, GROUPS[2]) == []
    assert await helpers.counts(db, made.id) == helpers.Counts(sent=2, skipped=1)


async def test_a_member_who_is_not_staff_cannot_broadcast(
    robot: Robot, fake_telegram: FakeTelegram, db: Database
) -> None:
    outcome = await _say(robot, fake_telegram, BYSTANDER, "/broadcast Buy my tea")
    assert outcome == "refused: broadcast"
    await robot.work()
    assert _texts(fake_telegram, GROUPS[0]) == ["Only the group's staff may use /broadcast."]
    assert await count_rows(db, Broadcast) == 0
    assert fake_telegram.calls_to("deleteMessage") == []


async def test_broadcast_without_a_text_says_how_to_use_it_in_the_groups_language(
    robot: Robot, fake_telegram: FakeTelegram, db: Database
) -> None:
    async with db.unit_of_work() as session:
        await session.execute(update(Community).values(language="zh-CN"))
    assert await _say(robot, fake_telegram, LEADER, "/broadcast") == "command: broadcast"
    await robot.work()
    [answer] = _texts(fake_telegram, GROUPS[0])
    assert answer == say("broadcast.usage", "zh-CN")
    assert answer != say("broadcast.usage", "en")
    assert await count_rows(db, Broadcast) == 0


async def test_broadcast_as_a_reply_sends_the_replied_message(
    robot: Robot, fake_telegram: FakeTelegram, db: Database
) -> None:
    [offer] = fake_telegram.feed(fake_telegram.message(GROUPS[0], LEADER, "Lychees are in!"))
    await robot.receive(offer)
    replied_id = offer["message"]["message_id"]
    [command] = fake_telegram.feed(
        fake_telegram.message(GROUPS[0], LEADER, "/broadcast", reply_to=replied_id)
    )
    assert await robot.receive(command) == ["command: broadcast"]
    await robot.work()
    async with db.unit_of_work(read_only=True) as session:
        [made] = (await session.scalars(select(Broadcast))).all()
    assert made.content["texts"] == {"en": "Lychees are in!"}
