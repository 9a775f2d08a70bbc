"""The join captcha over Telegram (the fake Bot API server, the real aiogram client): a member
who joins gets the welcome with an "I'm not a robot" button and may not post until they press
it (their messages are removed quietly); another member's press does nothing; one who does not
press it in time is removed by the worker's sweep, through a durable action; a solved captcha
past its time removes no one."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from tests.factories import Factory
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.models.communities import Community
from tribekit.models.enums import CommunityStatus
from tribekit.models.moderation import ModerationPolicy
from tribekit.models.robot import JoinCaptcha, RobotAction
from tribekit.robot import accounts, captcha, pipeline
from tribekit.robot.channels.telegram import TelegramChannel
from tribekit.robot.moderation.policy import CaptchaRule, Policy

from .fake_telegram import FakeTelegram
from .test_recent import Robot

TOKEN = "700004:captcha-token"
GROUP = -6001
OLDTIMER, NEWBIE, LATE = 71, 72, 73


@pytest.fixture
async def robot(
    db: Database, factory: Factory, fake_telegram: FakeTelegram
) -> AsyncIterator[Robot]:
    bot = fake_telegram.add_bot(TOKEN, "gate_robot")
    for user_id, name in ((OLDTIMER, "Olu"), (NEWBIE, "Nia"), (LATE, "Lars")):
        fake_telegram.add_user(user_id, name)
    fake_telegram.add_chat(GROUP, "Bakery fans")
    fake_telegram.add_member(GROUP, bot, status="administrator")
    channel = TelegramChannel(fake_telegram.base_url)
    shop = await factory.shop()
    async with db.unit_of_work() as session:
        account = await accounts.register_telegram_bot(
            session, shop.tenant, {"telegram": channel}, token=TOKEN
        )
        policy = Policy(captcha=CaptchaRule(enabled=True, minutes=5))
        session.add(ModerationPolicy(merchant_id=shop.tenant.id, rules=policy.model_dump()))
    robot = Robot(db, shop.tenant, account, channel, pipeline.RobotContext())
    [hello] = fake_telegram.feed(fake_telegram.message(GROUP, OLDTIMER, "good morning"))
    await robot.receive(hello)
    async with db.unit_of_work() as session:
        await session.execute(
            update(Community).values(status=CommunityStatus.ACTIVE, welcome_text="Hello {name}!")
        )
    yield robot
    await channel.aclose()


async def _join(robot: Robot, fake: FakeTelegram, user: int) -> list[str]:
    return [
        o
        for update_ in fake.feed(fake.member_joined(GROUP, user))
        for o in await robot.receive(update_)
    ]


async def _post(robot: Robot, fake: FakeTelegram, user: int, text: str) -> str:
    [message] = fake.feed(fake.message(GROUP, user, text))
    [outcome] = await robot.receive(message)
    return outcome


async def _expire(db: Database, robot: Robot) -> None:
    async with db.unit_of_work() as session:
        await session.execute(update(JoinCaptcha).values(due_at=clock.now() - timedelta(seconds=1)))
    assert await db.run(lambda session: captcha.expire_due(session, 100)) >= 0
    await robot.work()


async def test_a_new_member_presses_the_button_before_posting(
    robot: Robot, fake_telegram: FakeTelegram, db: Database
) -> None:
    assert await _join(robot, fake_telegram, NEWBIE) == ["joined: captcha"]
    await robot.work()
    [welcome] = fake_telegram.sent(GROUP)
    assert welcome.text == (
        "Hello Nia!\n\nNia, please press the button below within 5 minutes to show you are not "
        "a robot. Until then your messages are removed."
    )
    [[button]] = welcome.api["reply_markup"]["inline_keyboard"]
    assert button["text"] == "I'm not a robot"

    [spam] = fake_telegram.feed(fake_telegram.message(GROUP, NEWBIE, "hello, buy crypto"))
    assert await robot.receive(spam) == ["captcha pending: removed"]
    await robot.work()
    assert [m.deleted for m in fake_telegram.messages(GROUP) if m.text == "hello, buy crypto"] == [
        True
    ]
    assert len(fake_telegram.sent(GROUP)) == 1  # removed quietly: no warning

    data = button["callback_data"]
    [other] = fake_telegram.feed(
        fake_telegram.callback_query(GROUP, OLDTIMER, welcome.message_id, data)
    )
    assert await robot.receive(other) == ["captcha: not theirs"]
    await robot.work()
    assert fake_telegram.calls_to("answerCallbackQuery") == []
    assert await _post(robot, fake_telegram, NEWBIE, "still waiting") == "captcha pending: removed"

    [press] = fake_telegram.feed(
        fake_telegram.callback_query(GROUP, NEWBIE, welcome.message_id, data)
    )
    assert await robot.receive(press) == ["captcha solved"]
    await robot.work()
    [answer] = fake_telegram.calls_to("answerCallbackQuery")
    assert answer.params["text"] == "Thank you, welcome!"
    assert [
        m.deleted for m in fake_telegram.messages(GROUP) if m.message_id == welcome.message_id
    ] == [True]
    assert await _post(robot, fake_telegram, NEWBIE, "thanks, what bread today?") == "clean"

    await _expire(db, robot)  # solved: past its time it removes no one
    assert fake_telegram.status(GROUP, NEWBIE) == "member"
    assert fake_telegram.calls_to("banChatMember") == []


async def test_a_member_who_does_not_press_in_time_is_removed(
    robot: Robot, fake_telegram: FakeTelegram, db: Database
) -> None:
    await _join(robot, fake_telegram, LATE)
    await robot.work()
    assert await db.run(lambda session: captcha.expire_due(session, 100)) == 0  # not yet due
    await _expire(db, robot)
    assert fake_telegram.status(GROUP, LATE) == "left"  # kicked: banned and let back in
    assert len(fake_telegram.calls_to("banChatMember")) == 1
    async with db.unit_of_work(read_only=True) as session:
        [status] = (await session.scalars(select(JoinCaptcha.status))).all()
    assert status == "expired"
    await _expire(db, robot)  # expired once: removed once
    assert len(fake_telegram.calls_to("banChatMember")) == 1

    # They join again later: asked again.
    assert "joined: captcha" in await _join(robot, fake_telegram, LATE)
    async with db.unit_of_work(read_only=True) as session:
        [status] = (await session.scalars(select(JoinCaptcha.status))).all()
    assert status == "pending"


async def test_a_join_reported_twice_is_welcomed_and_asked_once(
    robot: Robot, fake_telegram: FakeTelegram, db: Database
) -> None:
    service, change = fake_telegram.member_joined(GROUP, NEWBIE)
    [service] = fake_telegram.feed(service)
    assert "chat_member" in change  # a webhook subscribed to chat_member gets it too
    outcomes = await robot.receive(service) + await robot.receive({"update_id": 990, **change})
    assert outcomes == ["joined: captcha", "joined"]
    await robot.work()
    assert len(fake_telegram.sent(GROUP)) == 1
    async with db.unit_of_work(read_only=True) as session:
        assert (await session.scalars(select(JoinCaptcha.status))).all() == ["pending"]


async def test_a_press_racing_the_deadline_settles_it_once(
    robot: Robot, fake_telegram: FakeTelegram, db: Database
) -> None:
    for round_ in range(5):
        user = 800 + round_
        fake_telegram.add_user(user, f"Racer {round_}")
        await _join(robot, fake_telegram, user)
    async with db.unit_of_work() as session:
        await session.execute(update(JoinCaptcha).values(due_at=clock.now() - timedelta(seconds=1)))
        rows = (
            await session.execute(select(JoinCaptcha.community_id, JoinCaptcha.member_id))
        ).all()

    async def press(community_id: uuid.UUID, member_id: uuid.UUID) -> bool:
        return await db.run(lambda session: captcha.solve(session, community_id, member_id))

    async def deadline() -> int:
        return await db.run(lambda session: captcha.expire_due(session, 100))

    solved = await asyncio.gather(deadline(), *(press(c, m) for c, m in rows))
    async with db.unit_of_work(read_only=True) as session:
        statuses = (await session.scalars(select(JoinCaptcha.status))).all()
        kicks = (
            await session.scalars(select(RobotAction.decision).where(RobotAction.kind == "kick"))
        ).all()
    presses = solved[1:]
    assert sorted(statuses) == sorted("solved" if p else "expired" for p in presses)
    assert len(kicks) == statuses.count("expired")  # removed exactly when not solved first
