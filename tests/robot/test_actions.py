"""Durable robot actions: owed once per decision, carried out by the worker after commit through
the real Telegram channel, retried after Telegram's retry_after, never lost when a worker dies
between claiming and recording, never carried out twice (two workers at once included)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.factories import Factory, Shop
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.models.enums import ActionStatus, Channel
from tribekit.models.robot import RobotAccount, RobotAction
from tribekit.robot import actions, tasks
from tribekit.robot.channels import ActionKind, OutboundAction
from tribekit.robot.channels import Channel as ChatChannel
from tribekit.robot.channels.telegram import TelegramChannel

from .fake_telegram import FakeTelegram

TOKEN = "700001:robot-token"
GROUPS = [-1000 - i for i in range(24)]
START = datetime(2026, 12, 2, 20, 0, tzinfo=UTC)


@pytest.fixture
async def telegram(fake_telegram: FakeTelegram) -> AsyncIterator[TelegramChannel]:
    fake_telegram.add_bot(TOKEN, "shop_robot")
    fake_telegram.add_user(42, "Spammer")
    for chat_id in GROUPS:
        fake_telegram.add_chat(chat_id, f"Group {chat_id}")
        fake_telegram.add_member(chat_id, fake_telegram.bots[TOKEN].user, status="administrator")
        fake_telegram.add_member(chat_id, 42)
    channel = TelegramChannel(fake_telegram.base_url)
    yield channel
    await channel.aclose()


async def _robot(db: Database, shop: Shop) -> RobotAccount:
    async with db.unit_of_work() as session:
        account = RobotAccount(
            merchant_id=shop.tenant.id,
            channel=Channel.TELEGRAM,
            name="Shop robot",
            username="shop_robot",
            external_id="700001",
            token=TOKEN,
            webhook_secret="s" * 32,
        )
        session.add(account)
    return account


async def _owe_bans(db: Database, shop: Shop, account: RobotAccount) -> int:
    async with db.unit_of_work() as session:
        owed = [
            await actions.owe(
                session,
                shop.tenant,
                robot_account_id=account.id,
                community_id=None,
                decision=f"test-ban:{chat_id}",
                action=OutboundAction(ActionKind.BAN, str(chat_id), person_id="42"),
            )
            for chat_id in GROUPS
        ]
    return sum(row is not None for row in owed)


async def _rows(db: Database) -> list[RobotAction]:
    async with db.unit_of_work(read_only=True) as session:
        return list((await session.scalars(select(RobotAction))).all())


async def _sweep(db: Database, channels: Mapping[str, ChatChannel]) -> int:
    sweep = tasks.actions_sweep(db, channels)
    return await db.run(lambda session: sweep.run(session, sweep.batch_size))


async def test_a_decision_owes_its_actions_once(
    db: Database, factory: Factory, telegram: TelegramChannel, fake_telegram: FakeTelegram
) -> None:
    shop = await factory.shop()
    account = await _robot(db, shop)
    assert await _owe_bans(db, shop, account) == 24
    assert await _owe_bans(db, shop, account) == 0  # the same decision again owes nothing
    assert await _sweep(db, {"telegram": telegram}) == 24
    assert len(fake_telegram.calls_to("banChatMember")) == 24
    assert {fake_telegram.status(chat_id, 42) for chat_id in GROUPS} == {"kicked"}
    assert {r.status for r in await _rows(db)} == {ActionStatus.DONE}
    assert await _sweep(db, {"telegram": telegram}) == 0


async def test_telegram_retry_after_is_honoured(
    db: Database, factory: Factory, telegram: TelegramChannel, fake_telegram: FakeTelegram
) -> None:
    shop = await factory.shop()
    account = await _robot(db, shop)
    with clock.frozen_at(START) as frozen:
        async with db.unit_of_work() as session:
            await actions.owe(
                session,
                shop.tenant,
                robot_account_id=account.id,
                community_id=None,
                decision="send:hello",
                action=OutboundAction(ActionKind.SEND, str(GROUPS[0]), text="Flash sale at 20:00"),
            )
        fake_telegram.fail_next("sendMessage", 429, retry_after=30)
        assert await _sweep(db, {"telegram": telegram}) == 1
        [row] = await _rows(db)
        assert (row.status, row.attempts, row.due_at) == (
            ActionStatus.PENDING,
            1,
            START + timedelta(seconds=30),
        )
        assert "wait 30 s" in (row.last_error or "")
        frozen.advance(timedelta(seconds=29))
        assert await _sweep(db, {"telegram": telegram}) == 0  # not before Telegram's time
        frozen.advance(timedelta(seconds=1))
        assert await _sweep(db, {"telegram": telegram}) == 1
    [row] = await _rows(db)
    assert (row.status, row.attempts) == (ActionStatus.DONE, 2)
    [sent] = fake_telegram.sent(GROUPS[0])
    assert (sent.text, row.message_id) == ("Flash sale at 20:00", str(sent.message_id))


async def test_a_refused_action_fails_for_good(
    db: Database, factory: Factory, telegram: TelegramChannel, fake_telegram: FakeTelegram
) -> None:
    shop = await factory.shop()
    account = await _robot(db, shop)
    async with db.unit_of_work() as session:
        await actions.owe(
            session,
            shop.tenant,
            robot_account_id=account.id,
            community_id=None,
            decision="delete:gone",
            action=OutboundAction(ActionKind.DELETE, str(GROUPS[0]), message_id="999"),
        )
    assert await _sweep(db, {"telegram": telegram}) == 1
    [row] = await _rows(db)
    assert (row.status, row.attempts) == (ActionStatus.FAILED, 1)
    assert "message to delete not found" in (row.last_error or "")


async def test_a_worker_that_dies_mid_way_loses_nothing_and_sends_nothing_twice(
    db: Database, factory: Factory, telegram: TelegramChannel, fake_telegram: FakeTelegram
) -> None:
    shop = await factory.shop()
    account = await _robot(db, shop)
    with clock.frozen_at(START) as frozen:
        async with db.unit_of_work() as session:
            await actions.owe(
                session,
                shop.tenant,
                robot_account_id=account.id,
                community_id=None,
                decision="send:warn",
                action=OutboundAction(ActionKind.SEND, str(GROUPS[0]), text="Warning"),
            )
        frozen.advance(timedelta(seconds=1))
        await _owe_bans(db, shop, account)
        # The first worker claims the send and 10 of the bans, then dies before calling out.
        died = await db.run(lambda session: tasks.claim_actions(session, 11))
        assert [c.action.kind for c in died] == [ActionKind.SEND] + [ActionKind.BAN] * 10
        assert await _sweep(db, {"telegram": telegram}) == 14  # the others go at once
        frozen.advance(tasks.ATTEMPT_LEASE)
        assert await _sweep(db, {"telegram": telegram}) == 10  # the dead worker's bans
    rows = await _rows(db)
    assert {r.status for r in rows if r.kind == ActionKind.BAN} == {ActionStatus.DONE}
    assert len(fake_telegram.calls_to("banChatMember")) == 24
    # The send was claimed and never recorded: it may have gone out, so it is not sent again.
    [send] = [r for r in rows if r.kind == ActionKind.SEND]
    assert send.status == ActionStatus.FAILED
    assert "outcome unknown" in (send.last_error or "")
    assert fake_telegram.sent(GROUPS[0]) == []


async def test_two_workers_at_once_carry_out_each_action_once(
    db: Database, factory: Factory, telegram: TelegramChannel, fake_telegram: FakeTelegram
) -> None:
    shop = await factory.shop()
    account = await _robot(db, shop)
    await _owe_bans(db, shop, account)
    channels = {"telegram": telegram}
    claimed = await asyncio.gather(*(_sweep(db, channels) for _ in range(4)))
    assert sum(claimed) == 24
    assert len(fake_telegram.calls_to("banChatMember")) == 24
    assert {r.status for r in await _rows(db)} == {ActionStatus.DONE}
