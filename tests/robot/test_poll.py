"""Long polling end to end: updates fed to the fake Bot API server, the poller asking
``getUpdates`` through aiogram, each update handled by the pipeline and confirmed (the next
call's offset) only once handled; a 429 from getUpdates waited out for its ``retry_after``;
stopping ends the long wait at once and confirms what was handled. And the ``tribekit robot``
commands through Typer's runner."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.cli.test_members_import_cli import create_merchant, database_file, runner
from tests.factories import Factory, Shop, count_rows
from tribekit.cli import app
from tribekit.kit.db import Database
from tribekit.models.communities import Community
from tribekit.models.enums import Channel, CommunityStatus
from tribekit.models.robot import RobotAccount, RobotEvent
from tribekit.robot import accounts
from tribekit.robot.channels.telegram import ALLOWED_UPDATES, TelegramChannel
from tribekit.robot.poll import Poller
from tribekit.robot.receive import Receiver

from .fake_telegram import Call, FakeTelegram

__all__ = ["database_file", "runner"]  # fixtures shared with the CLI tests

TOKEN = "700001:robot-token"
GROUP = -5001
MEI = 42


@pytest.fixture
async def telegram(fake_telegram: FakeTelegram) -> AsyncIterator[TelegramChannel]:
    bot = fake_telegram.add_bot(TOKEN, "shop_robot")
    fake_telegram.add_chat(GROUP, "Greenwood Fruit Lovers")
    fake_telegram.add_member(GROUP, bot, status="administrator")
    fake_telegram.add_user(MEI, "Mei")
    channel = TelegramChannel(fake_telegram.base_url)
    yield channel
    await channel.aclose()


async def _poll_robot(db: Database, shop: Shop, telegram: TelegramChannel) -> RobotAccount:
    async with db.unit_of_work() as session:
        account = await accounts.register_telegram_bot(
            session, shop.tenant, {"telegram": telegram}, token=TOKEN, mode="poll"
        )
        session.add(
            Community(
                merchant_id=shop.tenant.id,
                name="Greenwood Fruit Lovers",
                channel=Channel.TELEGRAM,
                external_id=str(GROUP),
                status=CommunityStatus.ACTIVE,
                robot_account_id=account.id,
            )
        )
    return account


async def _until(check: Callable[[], Awaitable[bool] | bool], *, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while True:
        reached = check()
        if not isinstance(reached, bool):
            reached = await reached
        if reached:
            return
        assert time.monotonic() < deadline, "not reached in time"
        await asyncio.sleep(0.02)


def _polls_after(fake: FakeTelegram, since: float) -> list[Call]:
    return [c for c in fake.calls_to("getUpdates") if c.at > since]


async def test_the_poller_handles_updates_confirms_them_and_waits_out_a_429(
    db: Database, factory: Factory, telegram: TelegramChannel, fake_telegram: FakeTelegram
) -> None:
    shop = await factory.shop()
    account = await _poll_robot(db, shop, telegram)
    fed = fake_telegram.feed(
        [fake_telegram.message(GROUP, MEI, text) for text in ("/help", "hello", "/rules")]
    )
    lines: list[str] = []
    poller = Poller(
        Receiver(db, {"telegram": telegram}),
        telegram,
        wait=2,
        refresh=0.1,
        report=lambda name, line: lines.append(f"@{name} {line}"),
    )
    stop = asyncio.Event()
    running = asyncio.create_task(poller.run(stop))

    async def handled(n: int) -> bool:
        return await count_rows(db, RobotEvent) == n

    await _until(lambda: handled(3))
    async with db.unit_of_work(read_only=True) as session:
        outcomes = (await session.scalars(select(RobotEvent.outcome).order_by(RobotEvent.at))).all()
    assert sorted(outcomes) == ["clean", "command: help", "command: rules"]
    await _until(lambda: poller.offsets.get(account.id) == fed[-1]["update_id"] + 1)

    # Telegram answers the next getUpdates with a 429: the poller waits its retry_after.
    fake_telegram.fail_next("getUpdates", 429, retry_after=1)
    [late] = fake_telegram.feed(fake_telegram.message(GROUP, MEI, "/help"))
    await _until(lambda: handled(4))
    refused = [c for c in fake_telegram.calls_to("getUpdates") if c.status == 429]
    assert len(refused) == 1
    await _until(lambda: bool(_polls_after(fake_telegram, refused[0].at)))
    assert _polls_after(fake_telegram, refused[0].at)[0].at - refused[0].at >= 1.0
    [last] = fake_telegram.feed(fake_telegram.message(GROUP, MEI, "still here?"))
    await _until(lambda: handled(5))

    started = time.monotonic()
    stop.set()
    await running
    assert time.monotonic() - started < 1.5  # the long wait ends at once
    polls = fake_telegram.calls_to("getUpdates", token=TOKEN)
    assert polls[-1].params["offset"] == last["update_id"] + 1  # confirmed on the way out
    assert {tuple(c.params["allowed_updates"]) for c in polls} == {ALLOWED_UPDATES}
    assert fake_telegram.bots[TOKEN].updates == []  # nothing left unconfirmed
    assert fake_telegram.calls_to("deleteWebhook", token=TOKEN)[0].status == 200
    assert late["update_id"] < last["update_id"]
    assert lines[0] == "@shop_robot polling"
    assert "@shop_robot Telegram asked to wait 1 s; waiting 1 s" in lines
    assert await count_rows(db, RobotEvent) == 5


async def test_a_robot_switched_out_of_poll_mode_is_no_longer_polled(
    db: Database, factory: Factory, telegram: TelegramChannel, fake_telegram: FakeTelegram
) -> None:
    shop = await factory.shop()
    account = await _poll_robot(db, shop, telegram)
    poller = Poller(Receiver(db, {"telegram": telegram}), telegram, wait=1, refresh=0.1)
    stop = asyncio.Event()
    running = asyncio.create_task(poller.run(stop))
    await fake_telegram.until_calls("getUpdates", 1)
    async with db.unit_of_work() as session:
        await accounts.update_account(session, shop.tenant, account.id, mode="webhook")
    await asyncio.sleep(1.5)  # the current long poll ends; the loop finds the mode changed
    count = len(fake_telegram.calls_to("getUpdates"))
    fake_telegram.feed(fake_telegram.message(GROUP, MEI, "/help"))
    await asyncio.sleep(0.5)
    stop.set()
    await running
    assert len(fake_telegram.calls_to("getUpdates")) == count
    assert await count_rows(db, RobotEvent) == 0


# ---- the commands --------------------------------------------------------------------------------


def test_robot_commands_register_list_and_check_their_options(
    runner: CliRunner,
    database_file: Path,
    fake_telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tribekit.kit.settings import get_settings

    fake_telegram.add_bot(TOKEN, "shop_robot", first_name="Greenwood robot")
    monkeypatch.setenv("TRIBEKIT_TELEGRAM_API_BASE", fake_telegram.base_url)
    get_settings.cache_clear()
    create_merchant(runner, "greenwood", email="lin@greenwood.example")

    refused = runner.invoke(
        app,
        ["robot", "register-telegram", "--merchant", "greenwood", "--token", "700009:nope"],
    )
    assert refused.exit_code == 1
    assert "Telegram does not accept this bot token" in refused.output
    registered = runner.invoke(
        app,
        [
            *("robot", "register-telegram", "--merchant", "greenwood"),
            *("--token", TOKEN, "--mode", "poll"),
        ],
    )
    assert registered.exit_code == 0, registered.output
    assert "robot @shop_robot registered for greenwood" in registered.output
    assert "tribekit robot poll" in registered.output
    listed = runner.invoke(app, ["robot", "accounts", "--merchant", "greenwood"])
    assert listed.exit_code == 0, listed.output
    [row] = [line for line in listed.output.splitlines() if "@shop_robot" in line]
    assert row.split("  ")[2:] == [
        "telegram",
        "@shop_robot",
        "poll",
        "in service",
        "'Greenwood robot'",
    ]
    assert TOKEN not in listed.output

    bad_mode = runner.invoke(
        app,
        [
            "robot",
            "register-telegram",
            "--merchant",
            "greenwood",
            "--token",
            TOKEN,
            "--mode",
            "push",
        ],
    )
    assert bad_mode.exit_code == 2
    bad_id = runner.invoke(app, ["robot", "poll", "--account", "not-a-uuid"])
    assert bad_id.exit_code == 2
    assert "an account id is a UUID" in bad_id.output
    helped = runner.invoke(app, ["robot", "poll", "--help"])
    assert "Read every robot in poll mode" in helped.output
