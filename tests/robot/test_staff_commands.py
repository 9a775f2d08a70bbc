"""Staff commands in groups over Telegram (the fake Bot API server, the real aiogram client):
a group's leader replies to an offender's message with /warn, /mute 1h, /ban, or names them
with /unban @username; each is logged with the leader as the actor, counts strikes as the
policy says, and is carried out by the worker (the command message removed, the mute in the
group, the ban and the unban in every group). A member who is not staff is refused and
nothing changes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from tests.factories import Factory, count_rows
from tribekit.kit.db import Database
from tribekit.models.communities import Community
from tribekit.models.members import Member
from tribekit.models.moderation import Ban, ModerationEntry, Strike
from tribekit.models.robot import ChatAdmins, RobotAction
from tribekit.robot import tasks

from .fake_telegram import FakeTelegram
from .test_recent import Robot
from .worlds import led_telegram_groups

TOKEN = "700003:staff-token"
GROUPS = [-5001, -5002]
LEADER, OFFENDER, BYSTANDER = 61, 62, 63


@pytest.fixture
async def robot(
    db: Database, factory: Factory, fake_telegram: FakeTelegram
) -> AsyncIterator[Robot]:
    fake_telegram.add_user(LEADER, "Lin")
    fake_telegram.add_user(OFFENDER, "Otto", username="otto_sells")
    fake_telegram.add_user(BYSTANDER, "Bea")
    robot = await led_telegram_groups(
        db,
        factory,
        fake_telegram,
        token=TOKEN,
        robot_name="staff_robot",
        chat_ids=GROUPS,
        leader=LEADER,
        greeter=BYSTANDER,
        members=(LEADER, OFFENDER),
    )
    yield robot
    await robot.channel.aclose()


async def _say(
    robot: Robot, fake: FakeTelegram, user: int, text: str, reply_to: int | None = None
) -> str:
    [message] = fake.feed(fake.message(GROUPS[0], user, text, reply_to=reply_to))
    [outcome] = await robot.receive(message)
    return outcome


async def _offence(fake: FakeTelegram, robot: Robot) -> int:
    [message] = fake.feed(fake.message(GROUPS[0], OFFENDER, "buy my tea elsewhere"))
    assert await robot.receive(message) == ["clean"]
    return int(message["message"]["message_id"])


async def _log(db: Database) -> list[tuple[str | None, str, str]]:
    async with db.unit_of_work(read_only=True) as session:
        rows = await session.execute(
            select(ModerationEntry.rule, ModerationEntry.action, ModerationEntry.actor).order_by(
                ModerationEntry.at
            )
        )
    return [(rule, action, actor) for rule, action, actor in rows]


async def test_a_member_who_is_not_staff_is_refused_and_nothing_changes(
    robot: Robot, fake_telegram: FakeTelegram, db: Database
) -> None:
    offence = await _offence(fake_telegram, robot)
    for command in ("/ban", "/mute 1h", "/warn"):
        outcome = await _say(robot, fake_telegram, BYSTANDER, command, reply_to=offence)
        assert outcome == f"refused: {command.split()[0][1:]}"
    await robot.work()
    assert [m.text for m in fake_telegram.sent(GROUPS[0])] == [
        "Only the group's staff may use /ban.",
        "Only the group's staff may use /mute.",
        "Only the group's staff may use /warn.",
    ]
    assert fake_telegram.status(GROUPS[0], OFFENDER) == "member"
    assert await _log(db) == []
    assert await count_rows(db, Strike) == 0
    assert await count_rows(db, Ban) == 0
    assert fake_telegram.calls_to("deleteMessage") == []


async def test_a_leader_warns_mutes_bans_and_unbans(
    robot: Robot, fake_telegram: FakeTelegram, db: Database
) -> None:
    async with db.unit_of_work(read_only=True) as session:
        lin = await session.scalar(select(Member.id).where(Member.display_name == "Lin"))
    actor = f"member:{lin}"

    offence = await _offence(fake_telegram, robot)
    assert await _say(robot, fake_telegram, LEADER, "/warn", reply_to=offence) == "command: warn"
    await robot.work()
    assert fake_telegram.status(GROUPS[0], OFFENDER) == "member"

    offence = await _offence(fake_telegram, robot)
    mute = await _say(robot, fake_telegram, LEADER, "/mute 1h", reply_to=offence)
    assert mute == "command: mute"
    await robot.work()
    assert fake_telegram.status(GROUPS[0], OFFENDER) == "restricted"
    assert fake_telegram.status(GROUPS[1], OFFENDER) == "member"  # a mute is the group's
    assert [m.text for m in fake_telegram.sent(GROUPS[0])] == [
        "Otto, this is a warning from the group's staff.",
        "Otto is muted for 60 minutes.",
    ]
    # Every command message is removed; the offences stay (staff may delete them).
    assert len(fake_telegram.calls_to("deleteMessage")) == 2
    assert await count_rows(db, Strike) == 2

    fake_telegram.add_member(GROUPS[0], OFFENDER)  # the mute has ended
    offence = await _offence(fake_telegram, robot)
    assert await _say(robot, fake_telegram, LEADER, "/ban", reply_to=offence) == "command: ban"
    await robot.work()
    assert fake_telegram.status(GROUPS[0], OFFENDER) == "kicked"
    assert fake_telegram.status(GROUPS[1], OFFENDER) == "kicked"  # banned everywhere
    assert [m.deleted for m in fake_telegram.messages(GROUPS[0]) if m.message_id == offence] == [
        True
    ]

    # A banned member's messages are gone: staff name them.
    unban = await _say(robot, fake_telegram, LEADER, "/unban @otto_sells")
    assert unban == "command: unban"
    await robot.work()
    assert fake_telegram.status(GROUPS[0], OFFENDER) == "left"
    assert fake_telegram.status(GROUPS[1], OFFENDER) == "left"
    assert await _say(robot, fake_telegram, LEADER, "/unban @otto_sells") == "command: unban"
    assert await _say(robot, fake_telegram, LEADER, "/unban @nobody") == "command: unban"
    await robot.work()
    assert [m.text for m in fake_telegram.sent(GROUPS[0])][2:] == [
        "Otto is removed from the shop's groups.",
        "@otto_sells may join the shop's groups again.",
        "@otto_sells is not banned.",
        "I do not know @nobody in this group.",
    ]
    assert await _log(db) == [
        ("staff", "warn", actor),
        ("staff", "mute", actor),
        ("staff", "ban", actor),
        (None, "unban", actor),
    ]
    async with db.unit_of_work(read_only=True) as session:
        failed = (
            await session.scalars(
                select(RobotAction.last_error).where(RobotAction.status != "done")
            )
        ).all()
    assert failed == []


async def test_a_staff_command_with_no_one_named_says_how_to_use_it(
    robot: Robot, fake_telegram: FakeTelegram, db: Database
) -> None:
    assert await _say(robot, fake_telegram, LEADER, "/mute") == "command: mute"
    offence = await _offence(fake_telegram, robot)
    assert await _say(robot, fake_telegram, LEADER, "/mute 1y", reply_to=offence) == (
        "command: mute"
    )
    await robot.work()
    assert [m.text for m in fake_telegram.sent(GROUPS[0])] == [
        "Reply to the member's message with /mute, or name them: /mute @username.",
        "Write the mute's length as 30m, 1h or 2d.",
    ]
    assert await _log(db) == []
    assert fake_telegram.status(GROUPS[0], OFFENDER) == "member"


async def test_the_groups_telegram_admins_are_staff_once_the_worker_has_read_them(
    robot: Robot, fake_telegram: FakeTelegram, db: Database
) -> None:
    fake_telegram.add_member(GROUPS[0], BYSTANDER, status="administrator")  # promoted
    offence = await _offence(fake_telegram, robot)
    # Not read yet: the pipeline never asks the platform itself.
    assert await _say(robot, fake_telegram, BYSTANDER, "/mute 30m", reply_to=offence) == (
        "refused: mute"
    )
    sweep = tasks.admins_sweep(robot.db, {"telegram": robot.channel})
    assert await db.run(lambda session: sweep.run(session, sweep.batch_size)) == 2
    assert await db.run(lambda session: sweep.run(session, sweep.batch_size)) == 0  # not due
    assert len(fake_telegram.calls_to("getChatAdministrators")) == 2
    async with db.unit_of_work(read_only=True) as session:
        kept = {
            chat: sorted(ids)
            for chat, ids in await session.execute(
                select(Community.external_id, ChatAdmins.person_ids).join(
                    Community, Community.id == ChatAdmins.community_id
                )
            )
        }
    assert kept == {"-5001": [str(BYSTANDER)], "-5002": []}  # the robot itself left out
    assert await _say(robot, fake_telegram, BYSTANDER, "/mute 30m", reply_to=offence) == (
        "command: mute"
    )
    await robot.work()
    assert fake_telegram.status(GROUPS[0], OFFENDER) == "restricted"
    assert [m.text for m in fake_telegram.sent(GROUPS[0])][-1] == "Otto is muted for 30 minutes."
