"""Robot accounts: a merchant's robot identity on a channel (a Telegram bot, a Matrix user).

Registering a bot checks its token with the platform (Telegram's ``getMe``) outside any
transaction, then stores the account with a fresh webhook secret: Telegram echoes the secret
in ``X-Telegram-Bot-Api-Secret-Token`` on every webhook call, which is how a call is known to
come from Telegram for this bot. One bot is registered once, at one merchant; a bot the
merchant removed comes back as the same account (its groups and history) when registered again.

A Matrix robot is a user on a homeserver: registering it checks its access token with the
homeserver's ``whoami`` (outside any transaction) and keeps the homeserver's URL and the user
id (its ``external_id``). Matrix has no webhooks: such a robot reads its rooms through
``tribekit robot poll`` (``/sync``), so it is always in poll mode.

Removing an account switches it off: its webhook is refused, the poller and the worker leave it
alone, its token is forgotten; its groups stay. Setting a webhook calls Telegram outside any
transaction. Each change forgets, on commit, the accounts this process keeps for the webhook's
hot path (``changed``; ``receive.py`` reads ``generation``).
"""

from __future__ import annotations

import contextlib
import hmac
import secrets
import uuid
from collections.abc import Mapping
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import outbox
from tribekit.kit.db import add_unique, outside_transaction
from tribekit.kit.errors import Conflict, NotFound, ValidationFailed
from tribekit.models.communities import Community
from tribekit.models.enums import Channel as ChannelName
from tribekit.models.robot import RobotAccount
from tribekit.tenancy.principal import Tenant

from .channels import ActionRefused, Channel, RetryLater, channel
from .channels import RobotAccount as Account
from .channels.matrix import MatrixChannel
from .channels.telegram import TelegramChannel

#: Telegram allows 1-256 characters of A-Z, a-z, 0-9, _ and - in a webhook secret.
SECRET_BYTES = 32


class TokenRefused(ValidationFailed):
    code = "robot_token_refused"
    title = "The platform refused the robot's token"


class RobotRegistered(Conflict):
    code = "robot_registered"
    title = "This robot is registered already"


class NoPublicUrl(Conflict):
    code = "robot_no_public_url"
    title = "This server has no public URL for webhooks"


class RobotPolls(Conflict):
    code = "robot_polls"
    title = "The robot is in poll mode"


class RobotRemoved(Conflict):
    code = "robot_removed"
    title = "The robot was removed"


class HomeserverUnreachable(ValidationFailed):
    code = "robot_homeserver_unreachable"
    title = "The Matrix homeserver could not be reached"


class MatrixSyncs(Conflict):
    code = "robot_matrix_syncs"
    title = "A Matrix robot has no webhook"


class WebhookRefused(ValidationFailed):
    code = "robot_webhook_refused"
    title = "The platform refused the webhook"


Mode = Literal["webhook", "poll"]

# ---- what this process keeps for the webhook's hot path ----------------------------------------

_generation = 0


def generation() -> int:
    """Bumped on commit of every account change in this process: a cache compares it."""
    return _generation


async def _forget() -> None:
    global _generation  # one counter per process, read by every cache of accounts
    _generation += 1


def changed(session: AsyncSession) -> None:
    """The unit of work changes an account: forget the cached ones once it commits."""
    outbox.on_commit(session, _forget)


# ---- reads -------------------------------------------------------------------------------------


async def list_accounts(session: AsyncSession, tenant: Tenant) -> list[RobotAccount]:
    """The merchant's robot accounts, the ones in service first, newest first."""
    rows = await session.scalars(
        select(RobotAccount)
        .where(RobotAccount.merchant_id == tenant.id)
        .order_by(RobotAccount.active.desc(), RobotAccount.created_at.desc(), RobotAccount.id)
    )
    return list(rows.all())


async def get_account(
    session: AsyncSession, tenant: Tenant, account_id: uuid.UUID, *, for_update: bool = False
) -> RobotAccount:
    """One of the merchant's accounts; another merchant's is answered as a missing one."""
    stmt = select(RobotAccount).where(
        RobotAccount.merchant_id == tenant.id, RobotAccount.id == account_id
    )
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    account: RobotAccount | None = await session.scalar(stmt)
    if account is None:
        raise NotFound(f"no robot account with id {account_id} at this merchant")
    return account


async def poll_accounts(
    session: AsyncSession, account_ids: list[uuid.UUID] | None = None
) -> list[RobotAccount]:
    """The accounts ``tribekit robot poll`` serves, at every merchant (or these ones): the
    Telegram ones in service in poll mode, and every Matrix one in service (Matrix has no
    webhooks)."""
    stmt = select(RobotAccount).where(
        RobotAccount.active.is_(True),
        ((RobotAccount.channel == ChannelName.TELEGRAM) & (RobotAccount.mode == "poll"))
        | (RobotAccount.channel == ChannelName.MATRIX),
    )
    if account_ids is not None:
        stmt = stmt.where(RobotAccount.id.in_(account_ids))
    return list((await session.scalars(stmt.order_by(RobotAccount.id))).all())


# ---- writes ------------------------------------------------------------------------------------


async def register_telegram_bot(
    session: AsyncSession,
    tenant: Tenant,
    channels: Mapping[str, Channel],
    *,
    token: str,
    name: str | None = None,
    mode: Mode = "webhook",
) -> RobotAccount:
    """Check ``token`` with Telegram and register the bot behind it for the merchant (the
    account it had, if the merchant removed it)."""
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
    return await _revive_or_add(
        session,
        tenant,
        ChannelName.TELEGRAM,
        me.external_id,
        f"the Telegram bot @{me.username} is registered already",
        name=name or me.display_name,
        username=me.username,
        token=token,
        mode=mode,
    )


async def register_matrix_robot(
    session: AsyncSession,
    tenant: Tenant,
    channels: Mapping[str, Channel],
    *,
    homeserver: str,
    token: str,
    name: str | None = None,
) -> RobotAccount:
    """Check ``token`` with the homeserver's ``whoami`` and register the Matrix user behind it
    as the merchant's robot (the account it had, if the merchant removed it)."""
    matrix = channel(channels, ChannelName.MATRIX)
    assert isinstance(matrix, MatrixChannel)  # the registry's Matrix channel
    homeserver = homeserver.rstrip("/")
    async with outside_transaction(session):
        try:
            me = await matrix.who_am_i(homeserver, token)
        except ActionRefused as exc:
            raise TokenRefused(
                f"the homeserver {homeserver} does not accept this access token ({exc.detail}); "
                "log in as the robot user again and copy its access token",
                field="token",
            ) from exc
        except RetryLater as exc:
            raise HomeserverUnreachable(
                f"no Matrix homeserver answered at {homeserver} ({exc.detail}); give the URL "
                "its clients use, e.g. https://matrix.example.org",
                field="homeserver",
            ) from exc
    if len(me.external_id) > 64:
        raise ValidationFailed(
            f"the Matrix user id {me.external_id} is longer than 64 characters; use a robot "
            "user with a shorter name",
            field="token",
        )
    return await _revive_or_add(
        session,
        tenant,
        ChannelName.MATRIX,
        me.external_id,
        f"the Matrix robot {me.external_id} is registered already",
        name=name or me.display_name,
        username=me.external_id,
        token=token,
        homeserver=homeserver,
        mode="poll",
    )


async def _revive_or_add(
    session: AsyncSession,
    tenant: Tenant,
    channel_name: ChannelName,
    external_id: str,
    registered: str,
    **values: str | None,
) -> RobotAccount:
    """The merchant's robot ``external_id`` on the channel, with ``values``: the account it
    had, if the merchant removed it, or a new one (409 ``registered`` when it is active)."""
    changed(session)
    # The webhook's secret: Telegram echoes it back; every account has one.
    fields = {**values, "webhook_secret": secrets.token_urlsafe(SECRET_BYTES), "active": True}
    # A removed account of this merchant comes back; a conditional update, so two
    # registrations at once bring it back once (the other one meets the unique constraint).
    revived = await session.execute(
        update(RobotAccount)
        .where(
            RobotAccount.merchant_id == tenant.id,
            RobotAccount.channel == channel_name,
            RobotAccount.external_id == external_id,
            RobotAccount.active.is_(False),
        )
        .values(**fields)
        .returning(RobotAccount.id)
        .execution_options(synchronize_session=False)
    )
    revived_id = revived.scalar_one_or_none()
    if revived_id is not None:
        return await get_account(session, tenant, revived_id, for_update=False)
    account = RobotAccount(
        merchant_id=tenant.id, channel=channel_name, external_id=external_id, **fields
    )
    await add_unique(session, registered, account, error=RobotRegistered)
    return account


async def update_account(
    session: AsyncSession,
    tenant: Tenant,
    account_id: uuid.UUID,
    *,
    name: str | None = None,
    mode: Mode | None = None,
) -> RobotAccount:
    """Rename an account or switch it between webhook and poll mode (what is given changes)."""
    account = await get_account(session, tenant, account_id, for_update=True)
    if not account.active:
        raise RobotRemoved("this robot was removed; register its token again to bring it back")
    if mode == "webhook" and account.channel == ChannelName.MATRIX:
        raise MatrixSyncs(
            "a Matrix robot reads its rooms with 'tribekit robot poll'; it has no webhook mode"
        )
    if name is not None:
        account.name = name
    if mode is not None:
        account.mode = mode
    changed(session)
    await session.flush()
    return account


async def remove_account(
    session: AsyncSession, tenant: Tenant, channels: Mapping[str, Channel], account_id: uuid.UUID
) -> None:
    """Switch the account off (its groups stay); then, outside the transaction, ask Telegram to
    stop calling its webhook (best effort: a refused call is answered 403 anyway)."""
    account = await get_account(session, tenant, account_id, for_update=True)
    token, had_webhook = account.token, account.active and account.mode == "webhook"
    account.active, account.token = False, None
    changed(session)
    await session.flush()
    telegram = channels.get(ChannelName.TELEGRAM)
    if token and had_webhook and isinstance(telegram, TelegramChannel):
        # Best effort: the webhook route refuses the removed robot's calls anyway.
        async with outside_transaction(session):
            with contextlib.suppress(ActionRefused, RetryLater):
                await telegram.delete_webhook(token)


def webhook_path(account_id: uuid.UUID) -> str:
    """Where Telegram posts this account's updates (``router/webhook.py``)."""
    return f"/api/v1/robot/telegram/{account_id}/webhook"


async def set_webhook(
    session: AsyncSession,
    tenant: Tenant,
    channels: Mapping[str, Channel],
    account_id: uuid.UUID,
    public_url: str | None,
) -> str:
    """Point the bot's webhook at this server (``public_url`` + the account's route), with the
    account's secret; the URL set. Telegram is called outside any transaction."""
    account = await get_account(session, tenant, account_id)
    if account.channel == ChannelName.MATRIX:
        raise MatrixSyncs(
            "a Matrix robot has no webhook: 'tribekit robot poll' reads its rooms (/sync)"
        )
    if not public_url:
        raise NoPublicUrl(
            "set TRIBEKIT_PUBLIC_URL to the https address Telegram reaches this server at, or "
            "switch the robot to poll mode and run 'tribekit robot poll'"
        )
    if not account.active or not account.token:
        raise RobotRemoved("this robot was removed; register its token again to bring it back")
    if account.mode != "webhook":
        raise RobotPolls("the robot is in poll mode; switch it to webhook mode first")
    url = public_url.rstrip("/") + webhook_path(account.id)
    telegram = channel(channels, ChannelName.TELEGRAM)
    assert isinstance(telegram, TelegramChannel)  # the registry's Telegram channel
    token, secret = account.token, account.webhook_secret
    async with outside_transaction(session):
        try:
            await telegram.set_webhook(token, url, secret)
        except ActionRefused as exc:
            raise WebhookRefused(f"Telegram refused the webhook {url}: {exc.detail}") from exc
    return url


def as_channel_account(account: RobotAccount) -> Account:
    """What a channel needs to act as this account."""
    return Account(
        str(account.id),
        account.channel,
        account.token or "",
        account.username,
        homeserver=account.homeserver,
    )


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


async def _merchant_web_robot(session: AsyncSession, merchant_id: uuid.UUID) -> RobotAccount | None:
    """The merchant's web robot account (the first made, if several)."""
    return await session.scalar(
        select(RobotAccount)
        .where(RobotAccount.merchant_id == merchant_id, RobotAccount.channel == ChannelName.WEB)
        .order_by(RobotAccount.created_at, RobotAccount.id)
        .limit(1)
    )


async def web_robot_of(session: AsyncSession, tenant: Tenant, community: Community) -> RobotAccount:
    """The robot account that speaks in a web community: its own, else the merchant's web
    robot, made on first use."""
    if community.robot_account_id is not None:
        own = await session.get(RobotAccount, community.robot_account_id)
        if own is not None and own.channel == ChannelName.WEB:
            return own
    found = await _merchant_web_robot(session, tenant.id)
    if found is not None:
        return found
    robot = RobotAccount(
        merchant_id=tenant.id,
        channel=ChannelName.WEB,
        name="Robot",
        username="robot",
        external_id=f"web:{tenant.id}",
        token=None,
        webhook_secret=secrets.token_urlsafe(24),
        mode="webhook",
        active=True,
    )
    try:
        await add_unique(session, "the web robot was made concurrently", robot)
    except Conflict:
        made = await _merchant_web_robot(session, tenant.id)
        if made is None:
            raise
        return made
    return robot


async def adopt_web_group(
    session: AsyncSession, tenant: Tenant, community: Community
) -> RobotAccount:
    """The robot of a web group, named on the group with the group's chat id (its own id), so
    the robot's actions name the group and the merchant's ban list reaches it as any group."""
    robot = await web_robot_of(session, tenant, community)
    if community.external_id is None or community.robot_account_id is None:
        community.external_id = community.external_id or str(community.id)
        community.robot_account_id = community.robot_account_id or robot.id
        await session.flush()
    return robot
