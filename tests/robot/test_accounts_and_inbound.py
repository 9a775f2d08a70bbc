"""Robot accounts (a Telegram bot registered after Telegram accepted its token) and inbound
events recorded once however often and however concurrently the platform delivers them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from tests.concurrency import fire
from tests.factories import Factory, count_rows
from tribekit.kit.db import Database
from tribekit.models.robot import RobotAccount, RobotEvent
from tribekit.robot import accounts, inbound
from tribekit.robot.accounts import RobotRegistered, TokenRefused
from tribekit.robot.channels.telegram import TelegramChannel

from .fake_telegram import FakeTelegram

TOKEN = "700001:robot-token"
GROUP = -1001234


@pytest.fixture
async def channels(fake_telegram: FakeTelegram) -> AsyncIterator[dict[str, TelegramChannel]]:
    fake_telegram.add_bot(TOKEN, "shop_robot", first_name="Greenwood robot")
    telegram = TelegramChannel(fake_telegram.base_url)
    yield {"telegram": telegram}
    await telegram.aclose()


async def test_a_bot_is_registered_once_after_telegram_accepts_its_token(
    db: Database, factory: Factory, channels: dict[str, TelegramChannel]
) -> None:
    shop, other = await factory.shop("shop-a"), await factory.shop("shop-b")
    async with db.unit_of_work() as session:
        account = await accounts.register_telegram_bot(session, shop.tenant, channels, token=TOKEN)
    assert (account.name, account.username, account.external_id) == (
        "Greenwood robot",
        "shop_robot",
        "700001",
    )
    assert len(account.webhook_secret) >= 40
    for tenant in (shop.tenant, other.tenant):
        with pytest.raises(RobotRegistered):
            async with db.unit_of_work() as session:
                await accounts.register_telegram_bot(session, tenant, channels, token=TOKEN)
    with pytest.raises(TokenRefused):
        async with db.unit_of_work() as session:
            await accounts.register_telegram_bot(
                session, shop.tenant, channels, token="700009:revoked"
            )
    assert await count_rows(db, RobotAccount) == 1


async def test_a_webhook_call_is_for_an_account_only_with_its_secret(
    db: Database, factory: Factory, channels: dict[str, TelegramChannel]
) -> None:
    shop = await factory.shop()
    async with db.unit_of_work() as session:
        account = await accounts.register_telegram_bot(session, shop.tenant, channels, token=TOKEN)
    async with db.unit_of_work(read_only=True) as session:
        found = await accounts.for_webhook(session, account.id, account.webhook_secret)
        assert found is not None
        assert found.id == account.id
        assert await accounts.for_webhook(session, account.id, "wrong") is None
        assert await accounts.for_webhook(session, account.id, None) is None
        assert await accounts.for_webhook(session, shop.tenant.id, account.webhook_secret) is None


async def test_an_update_delivered_ten_times_five_at_once_is_recorded_once(
    db: Database,
    factory: Factory,
    channels: dict[str, TelegramChannel],
    fake_telegram: FakeTelegram,
) -> None:
    shop = await factory.shop()
    async with db.unit_of_work() as session:
        account = await accounts.register_telegram_bot(session, shop.tenant, channels, token=TOKEN)
    fake_telegram.add_chat(GROUP, "Greenwood Fruit Lovers")
    fake_telegram.add_member(GROUP, fake_telegram.bots[TOKEN].user, status="administrator")
    fake_telegram.add_user(42, "Mei")
    [update] = fake_telegram.feed(fake_telegram.message(GROUP, 42, "Are the mangoes ripe?"))
    [event] = channels["telegram"].parse(accounts.as_channel_account(account), update)

    async def deliver(_: int) -> bool:
        async with db.unit_of_work() as session:
            return await inbound.record_once(session, account, event, keep_text=True) is not None

    firsts = await fire(5, deliver)  # five at once
    for i in range(5):  # then five more, one after another
        firsts.append(await deliver(i))
    assert firsts.count(True) == 1
    async with db.unit_of_work(read_only=True) as session:
        [row] = (await session.scalars(select(RobotEvent))).all()
    assert (row.event_id, row.kind, row.text) == (
        event.event_id,
        "message",
        "Are the mangoes ripe?",
    )
