"""Robot accounts: a merchant's robot identity on a channel (a Telegram bot).

Registering a bot checks its token with the platform (Telegram's ``getMe``) outside any
transaction, then stores the account with a fresh webhook secret: Telegram echoes the secret
in ``X-Telegram-Bot-Api-Secret-Token`` on every webhook call, which is how a call is known to
come from Telegram for this bot. One bot is registered once, at one merchant.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import Mapping
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit.db import add_unique, outside_transaction
from tribekit.kit.errors import Conflict, ValidationFailed
from tribekit.models.enums import Channel as ChannelName
from tribekit.models.robot import RobotAccount
from tribekit.tenancy.principal import Tenant

from .channels import ActionRefused, Channel, channel
from .channels import RobotAccount as Account
from .channels.telegram import TelegramChannel

#: Telegram allows 1-256 characters of A-Z, a-z, 0-9, _ and - in a webhook secret.
SECRET_BYTES = 32


class TokenRefused(ValidationFailed):
    code = "robot_token_refused"
    title = "The platform refused the robot's token"


class RobotRegistered(Conflict):
    code = "robot_registered"
    title = "This robot is registered already"


async def register_telegram_bot(
    session: AsyncSession,
    tenant: Tenant,
    channels: Mapping[str, Channel],
    *,
    token: str,
    name: str | None = None,
    mode: Literal["webhook", "poll"] = "webhook",
) -> RobotAccount:
    """Check ``token`` with Telegram and register the bot behind it for the merchant."""
    telegram = channel(channels, ChannelName.TELEGRAM)
    assert isinstance(telegram, TelegramChannel)  # the registry's Telegram channel
    async with outside_transaction(session):
        try:
            me = await telegram.who_am_i(token)
        except ActionRefused as exc:
            raise TokenRefused(
                "Telegram does not accept this bot token; copy it again from @BotFather",
                field="token",
            ) from exc
    account = RobotAccount(
        merchant_id=tenant.id,
        channel=ChannelName.TELEGRAM,
        name=name or me.display_name,
        username=me.username,
        external_id=me.external_id,
        token=token,
        webhook_secret=secrets.token_urlsafe(SECRET_BYTES),
        mode=mode,
        active=True,
    )
    await add_unique(
        session,
        f"the Telegram bot @{me.username} is registered already",
        account,
        error=RobotRegistered,
    )
    return account


def as_channel_account(account: RobotAccount) -> Account:
    """What a channel needs to act as this account."""
    return Account(str(account.id), account.channel, account.token or "", account.username)


async def for_webhook(
    session: AsyncSession, account_id: uuid.UUID, secret: str | None
) -> RobotAccount | None:
    """The active account a webhook call is for, if ``secret`` is its webhook secret (compared
    in constant time); None otherwise, alike for an unknown account and a wrong secret."""
    account: RobotAccount | None = await session.scalar(
        select(RobotAccount).where(RobotAccount.id == account_id)
    )
    expected = account.webhook_secret if account is not None else secrets.token_urlsafe(16)
    given = secret or ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return None
    if account is None or not account.active:
        return None
    return account
