"""The one way a platform's update comes in, for the Telegram webhook and the poller alike:
parse it into channel events, then in one unit of work (``Database.run``: a deadlock is run
again) record each once, handle it in the pipeline and commit.

This is the hot path of every group's every message, so it keeps to the minimum: the account
and its merchant are read once (one statement, no ORM load) and kept in this process for a few
seconds, forgotten at once when this process changes an account (``accounts.changed``) and
within ``CACHE_SECONDS`` when another one does; the webhook secret is compared in constant time
with no database work at all for an account met recently.
"""

from __future__ import annotations

import functools
import hmac
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit.db import Database
from tribekit.kit.errors import TribekitError
from tribekit.models.robot import RobotAccount
from tribekit.models.tenancy import Merchant
from tribekit.tenancy.principal import Tenant

from . import accounts, pipeline, recent
from .channels import Channel, channel
from .channels import RobotAccount as ChannelAccount
from .commands import member_commands

#: How long a process serves an account from memory: a removal made by another process is
#: honoured within this time (at once in the process that made it).
CACHE_SECONDS = 5.0


class NotAnUpdate(TribekitError):
    status = 400
    code = "robot_update_invalid"
    title = "The body is not a platform update"


@dataclass(frozen=True)
class Served:
    """An account as the hot path needs it. ``account`` is never attached to a session: every
    unit of work reads only its id, merchant and channel."""

    account: RobotAccount
    tenant: Tenant
    as_channel: ChannelAccount

    @property
    def active(self) -> bool:
        return self.account.active


# One statement, built once: the account and its merchant by the account's id.
_SERVED = (
    select(
        RobotAccount.id,
        RobotAccount.merchant_id,
        RobotAccount.channel,
        RobotAccount.name,
        RobotAccount.username,
        RobotAccount.token,
        RobotAccount.homeserver,
        RobotAccount.webhook_secret,
        RobotAccount.mode,
        RobotAccount.active,
        Merchant.slug,
        Merchant.timezone,
        Merchant.currency,
        Merchant.country,
        Merchant.locale,
    )
    .join(Merchant, Merchant.id == RobotAccount.merchant_id)
    .where(RobotAccount.id == bindparam("id"))
)


async def _read(session: AsyncSession, account_id: uuid.UUID) -> Served | None:
    row = (await session.execute(_SERVED, {"id": account_id})).one_or_none()
    if row is None:
        return None
    account = RobotAccount(
        id=row.id,
        merchant_id=row.merchant_id,
        channel=row.channel,
        name=row.name,
        username=row.username,
        token=row.token,
        homeserver=row.homeserver,
        webhook_secret=row.webhook_secret,
        mode=row.mode,
        active=row.active,
    )
    tenant = Tenant(row.merchant_id, row.slug, row.timezone, row.currency, row.country, row.locale)
    return Served(account, tenant, accounts.as_channel_account(account))


class _Cache:
    """Accounts read in the last ``CACHE_SECONDS``, with the generation they were read in (an
    answer read before an account change committed is never kept after it)."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._entries: dict[uuid.UUID, tuple[Served | None, float, int]] = {}

    def get(self, account_id: uuid.UUID) -> tuple[bool, Served | None]:
        entry = self._entries.get(account_id)
        if entry is None:
            return False, None
        served, until, generation = entry
        if generation != accounts.generation() or time.monotonic() >= until:
            self._entries.pop(account_id, None)
            return False, None
        return True, served

    def put(self, account_id: uuid.UUID, served: Served | None, generation: int) -> None:
        if generation != accounts.generation():
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[account_id] = (served, time.monotonic() + CACHE_SECONDS, generation)


_cache = _Cache()


@functools.lru_cache(maxsize=8)
def _context(
    secret_key: str | None, public_url: str | None, redis: Redis | None
) -> pipeline.RobotContext:
    """The pipeline's context, built once per process (the command registry with it); members'
    recent posts in Redis when the process has it, as the web community's posts."""
    return pipeline.RobotContext(
        commands=member_commands(),
        recent=recent.build(redis),
        secret_key=secret_key,
        public_url=public_url,
    )


class Receiver:
    """Takes platform updates in for one process: its database, channels and member links."""

    def __init__(
        self,
        db: Database,
        channels: Mapping[str, Channel],
        *,
        redis: Redis | None = None,
        secret_key: str | None = None,
        public_url: str | None = None,
    ) -> None:
        self.db = db
        self.channels = channels
        self.context = _context(secret_key, public_url, redis)

    async def served(self, account_id: uuid.UUID) -> Served | None:
        """The account (active or not) and its merchant, from memory when read recently."""
        hit, served = _cache.get(account_id)
        if hit:
            return served
        generation = accounts.generation()  # before the read: see ``_Cache``
        served = await self.db.run(lambda session: _read(session, account_id), read_only=True)
        _cache.put(account_id, served, generation)
        return served

    async def for_webhook(self, account_id: str, secret: str | None) -> Served | None:
        """The account in service a webhook call is for, if ``secret`` is its webhook secret
        (compared in constant time); None alike for a malformed or unknown id, a removed
        account and a wrong or missing secret."""
        try:
            served = await self.served(uuid.UUID(account_id))
        except ValueError:
            served = None
        expected = served.account.webhook_secret if served else secrets.token_urlsafe(32)
        if not hmac.compare_digest((secret or "").encode(), expected.encode()):
            return None
        if served is None or not served.active:
            return None
        return served

    async def receive(self, served: Served, update: Mapping[str, Any]) -> list[str]:
        """Handle one platform update for ``served``'s account: what was done with each of its
        events ("duplicate" for one handled before). ``NotAnUpdate`` when it cannot be read."""
        found = channel(self.channels, served.account.channel)
        try:
            events = found.parse(served.as_channel, update)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise NotAnUpdate(f"the update cannot be read: {type(exc).__name__}") from exc
        if not events:
            return []  # an edit, a poll...: nothing the robot acts on, nothing recorded

        async def work(session: AsyncSession) -> list[str]:
            return [
                await pipeline.handle(
                    session, served.tenant, served.account, event, context=self.context
                )
                for event in events
            ]

        return await self.db.run(work)
