"""One ban list per merchant: a ban is one decision and one action per group, carried out in all
24 groups; lifting it undoes it everywhere, calls back what had not run yet and waits for what a
worker is carrying out; two staff banning and unbanning at once end consistent everywhere."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.concurrency import fire
from tests.factories import Factory, Shop, count_rows
from tribekit.kit.db import Database
from tribekit.models.communities import Community
from tribekit.models.enums import ActionKind, ActionStatus, Channel, CommunityStatus
from tribekit.models.moderation import Ban, ModerationEntry
from tribekit.models.robot import RobotAction
from tribekit.robot import bans, tasks
from tribekit.robot.channels import Channel as ChatChannel
from tribekit.robot.channels.telegram import TelegramChannel

from .fake_telegram import FakeTelegram
from .worlds import telegram_world

TOKEN = "700001:robot-token"
GROUPS = [-2000 - i for i in range(24)]
SPAMMER = 42


@pytest.fixture
async def telegram(fake_telegram: FakeTelegram) -> AsyncIterator[TelegramChannel]:
    fake_telegram.add_bot(TOKEN, "shop_robot")
    fake_telegram.add_user(SPAMMER, "Spammer")
    for chat_id in GROUPS:
        fake_telegram.add_chat(chat_id, f"Group {chat_id}")
        fake_telegram.add_member(chat_id, fake_telegram.bots[TOKEN].user, status="administrator")
        fake_telegram.add_member(chat_id, SPAMMER)
    channel = TelegramChannel(fake_telegram.base_url)
    yield channel
    await channel.aclose()


async def _groups(db: Database, factory: Factory) -> tuple[Shop, uuid.UUID]:
    """A shop with a robot in 24 active Telegram groups, and a member known there."""
    world = await telegram_world(db, factory, GROUPS, person_id=SPAMMER, token=TOKEN)
    async with db.unit_of_work() as session:
        session.add(
            Community(  # a group staff have not confirmed: nothing is done there
                merchant_id=world.shop.tenant.id,
                name="Pending",
                channel=Channel.TELEGRAM,
                external_id="-999",
                status=CommunityStatus.PENDING,
                robot_account_id=world.robot_id,
            )
        )
    return world.shop, world.member_id


async def _sweep(db: Database, channels: Mapping[str, ChatChannel]) -> int:
    sweep = tasks.actions_sweep(db, channels)
    return await db.run(lambda session: sweep.run(session, sweep.batch_size))


async def _actions(db: Database) -> list[RobotAction]:
    async with db.unit_of_work(read_only=True) as session:
        return list((await session.scalars(select(RobotAction))).all())


async def test_a_ban_removes_the_member_from_every_group_and_an_unban_lets_them_back(
    db: Database, factory: Factory, telegram: TelegramChannel, fake_telegram: FakeTelegram
) -> None:
    shop, member_id = await _groups(db, factory)
    async with db.unit_of_work() as session:
        ban = await bans.ban(
            session,
            shop.tenant,
            member_id,
            reason="invite links",
            actor="robot",
            rule="invite_link",
        )
    assert ban is not None
    async with db.unit_of_work() as session:
        again = await bans.ban(session, shop.tenant, member_id, reason="again", actor="staff:x")
    assert again is None  # one ban in force: the second changes nothing
    owed = await _actions(db)
    assert len(owed) == 24
    assert {a.kind for a in owed} == {ActionKind.BAN}
    assert await _sweep(db, {"telegram": telegram}) == 24
    assert {fake_telegram.status(chat_id, SPAMMER) for chat_id in GROUPS} == {"kicked"}

    async with db.unit_of_work() as session:
        lifted = await bans.unban(session, shop.tenant, member_id, actor="staff:x")
    assert lifted is not None
    assert await _sweep(db, {"telegram": telegram}) == 24
    assert {fake_telegram.status(chat_id, SPAMMER) for chat_id in GROUPS} == {"left"}
    async with db.unit_of_work() as session:
        assert await bans.unban(session, shop.tenant, member_id, actor="staff:x") is None
    assert await count_rows(db, ModerationEntry) == 2  # the ban and the unban, logged


async def test_an_unban_before_the_ban_went_out_calls_it_back(
    db: Database, factory: Factory, telegram: TelegramChannel, fake_telegram: FakeTelegram
) -> None:
    shop, member_id = await _groups(db, factory)
    async with db.unit_of_work() as session:
        await bans.ban(session, shop.tenant, member_id, reason="spam", actor="robot")
    # A worker claims 5 of the 24 ban actions (and is slow); then staff lift the ban.
    claimed = await db.run(lambda session: tasks.claim_actions(session, 5))
    async with db.unit_of_work() as session:
        await bans.unban(session, shop.tenant, member_id, actor="staff:x")
    rows = await _actions(db)
    ban_rows = [r for r in rows if r.kind == ActionKind.BAN]
    assert sum(r.status == ActionStatus.CANCELLED for r in ban_rows) == 19
    # The slow worker finishes its 5 bans; the unbans of those groups wait for its lease.
    await tasks.carry_out(db, {"telegram": telegram}, claimed)
    unbans = [r for r in rows if r.kind == ActionKind.UNBAN]
    assert len(unbans) == 24
    claimed_groups = {c.action.chat_id for c in claimed}
    waiting = {
        r.payload["chat_id"] for r in unbans if r.due_at - r.created_at > timedelta(minutes=1)
    }
    assert waiting == claimed_groups
    assert len(fake_telegram.calls_to("banChatMember")) == 5


async def test_two_staff_banning_and_unbanning_at_once_end_consistent_everywhere(
    db: Database, factory: Factory, telegram: TelegramChannel, fake_telegram: FakeTelegram
) -> None:
    shop, member_id = await _groups(db, factory)
    n = 8 if db.dialect == "postgresql" else 4

    async def decide(i: int) -> None:
        async with db.unit_of_work() as session:
            if i % 2:
                await bans.unban(session, shop.tenant, member_id, actor=f"staff:{i}")
            else:
                await bans.ban(session, shop.tenant, member_id, reason="spam", actor=f"staff:{i}")

    await fire(n, decide)
    while await _sweep(db, {"telegram": telegram}):
        pass
    async with db.unit_of_work(read_only=True) as session:
        in_force = await session.scalar(
            select(Ban).where(Ban.member_id == member_id, Ban.lifted_at.is_(None))
        )
    # Whatever the order, every group shows what the ban list says.
    statuses = {fake_telegram.status(chat_id, SPAMMER) for chat_id in GROUPS}
    if in_force is not None:
        assert statuses == {"kicked"}
    else:
        assert "kicked" not in statuses
    assert await count_rows(db, Ban, Ban.lifted_at.is_(None)) == (in_force is not None)
