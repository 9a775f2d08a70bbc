"""The web channel: a post parsed into an event, and each action carried out on the web
community's own rows (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.factories import Factory
from tribekit.kit.db import Database
from tribekit.models.web import AuthorKind, WebMemberState, WebMessage
from tribekit.robot import accounts
from tribekit.robot.channels import (
    ActionKind,
    ActionRefused,
    EventKind,
    OutboundAction,
    RobotAccount,
)
from tribekit.robot.channels.web import CAPABILITIES, WebChannel, add_message
from tribekit.web import service

from .conftest import Group, make_group


async def _robot(db: Database, group: Group) -> RobotAccount:
    async with db.unit_of_work() as session:
        community = await service.group(session, group.shop.tenant, uuid.UUID(group.community_id))
        robot = await accounts.web_robot_of(session, group.shop.tenant, community)
        return RobotAccount(str(robot.id), "web", "", robot.username)


async def _message(db: Database, message_id: str) -> WebMessage:
    async with db.unit_of_work() as session:
        found = await session.get(WebMessage, uuid.UUID(message_id))
        assert found is not None
        return found


def test_capabilities_say_what_the_web_can_do() -> None:
    assert (CAPABILITIES.can_delete, CAPABILITIES.can_ban, CAPABILITIES.can_restrict) == (
        True,
        True,
        True,
    )
    assert CAPABILITIES.monthly_mass_messages is None
    assert CAPABILITIES.max_text == 2000


def test_parse_a_message_and_a_command(db: Database) -> None:
    channel = WebChannel(db)
    account = RobotAccount(str(uuid.uuid4()), "web", "")
    at = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    base = {
        "message_id": "m1",
        "community_id": "c1",
        "member_id": "u1",
        "display_name": "Alice",
        "at": at,
    }
    (message,) = channel.parse(account, {**base, "text": "hello http://a.example/b, bye"})
    assert message.kind == EventKind.MESSAGE
    assert (message.event_id, message.chat_id, message.message_id) == ("web:m1", "c1", "m1")
    assert message.links == ("http://a.example/b,",)
    assert message.person is not None
    assert (message.person.external_id, message.person.display_name) == ("u1", "Alice")
    assert message.command is None
    (command,) = channel.parse(account, {**base, "text": "/Rules@robot  now "})
    assert (command.kind, command.command, command.command_args) == (
        EventKind.COMMAND,
        "rules",
        "now",
    )


async def test_send_reply_and_delete(db: Database, factory: Factory) -> None:
    group = await make_group(factory, db)
    channel = WebChannel(db)
    robot = await _robot(db, group)
    sent = await channel.perform(robot, OutboundAction(ActionKind.SEND, group.community_id, "Hi"))
    assert sent.message_id is not None
    reply = await channel.perform(
        robot,
        OutboundAction(
            ActionKind.REPLY, group.community_id, "<b>hey</b>", message_id=sent.message_id
        ),
    )
    assert reply.message_id is not None
    first, second = await _message(db, sent.message_id), await _message(db, reply.message_id)
    assert (first.author_kind, first.author_name, first.text, first.seq) == (
        AuthorKind.ROBOT,
        "Robot",
        "Hi",
        1,
    )
    assert (second.text, str(second.reply_to_id), second.seq) == (
        "<b>hey</b>",
        sent.message_id,
        2,
    )
    delete = OutboundAction(ActionKind.DELETE, group.community_id, message_id=sent.message_id)
    await channel.perform(robot, delete)
    await channel.perform(robot, delete)  # the worker may repeat it: removed once
    removed = await _message(db, sent.message_id)
    assert removed.deleted_at is not None
    assert removed.deleted_by == f"robot:{robot.id}"
    assert removed.rev == 3  # the removal took the group's next number, once
    with pytest.raises(ActionRefused):
        await channel.perform(
            robot,
            OutboundAction(ActionKind.DELETE, group.community_id, message_id=str(uuid.uuid4())),
        )
    with pytest.raises(ActionRefused):
        await channel.perform(robot, OutboundAction(ActionKind.PIN, group.community_id))


async def test_a_message_of_another_merchants_group_is_not_touched(
    db: Database, factory: Factory
) -> None:
    group = await make_group(factory, db)
    other = await make_group(factory, db)
    async with db.unit_of_work() as session:
        theirs = await add_message(
            session,
            merchant_id=other.shop.tenant.id,
            community_id=uuid.UUID(other.community_id),
            author_kind=AuthorKind.MEMBER,
            author_name="Alice",
            text="mine",
            member_id=uuid.UUID(other.alice.member_id),
        )
        theirs_id = str(theirs.id)
    robot = await _robot(db, group)
    with pytest.raises(ActionRefused):
        await WebChannel(db).perform(
            robot, OutboundAction(ActionKind.DELETE, other.community_id, message_id=theirs_id)
        )
    assert (await _message(db, theirs_id)).deleted_at is None


async def test_ban_mute_kick_and_their_undoing(db: Database, factory: Factory) -> None:
    group = await make_group(factory, db)
    channel = WebChannel(db)
    robot = await _robot(db, group)
    member = group.alice.member_id
    until = datetime.now(UTC) + timedelta(hours=1)

    async def state() -> tuple[bool, bool, bool, bool, bool]:
        async with db.unit_of_work() as session:
            row = await session.scalar(
                select(WebMemberState).where(WebMemberState.member_id == uuid.UUID(member))
            )
            assert row is not None
            standing = service._standing(row, merchant_ban=False)
            return (
                standing.banned,
                standing.muted,
                standing.removed,
                standing.reads,
                standing.posts,
            )

    def act(kind: ActionKind, when: datetime | None = None) -> OutboundAction:
        return OutboundAction(kind, group.community_id, person_id=member, until=when)

    await channel.perform(robot, act(ActionKind.RESTRICT, until))
    assert await state() == (False, True, False, True, False)
    await channel.perform(robot, act(ActionKind.UNRESTRICT))
    assert await state() == (False, False, False, True, True)
    await channel.perform(robot, act(ActionKind.BAN))
    await channel.perform(robot, act(ActionKind.BAN))
    assert await state() == (True, False, False, False, False)
    await channel.perform(robot, act(ActionKind.UNBAN))
    assert await state() == (False, False, False, True, True)
    await channel.perform(robot, act(ActionKind.KICK))
    assert await state() == (False, False, True, False, False)
    await channel.perform(robot, act(ActionKind.BAN, datetime.now(UTC) - timedelta(seconds=1)))
    assert (await state())[0] is False  # a ban that ended
    with pytest.raises(ActionRefused):
        await channel.perform(
            robot, OutboundAction(ActionKind.BAN, group.community_id, person_id="telegram:5")
        )
