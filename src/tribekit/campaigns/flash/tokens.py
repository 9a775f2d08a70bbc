"""A member authenticated for the burst without a database round trip.

A member with a valid member session (checked against the database as every member request
is) is given a **flash token**: ``tkf_<base64url(json)>.<base64url(hmac-sha256)>``, signed with
the server's secret key like the member links (``members/access.py``) but under its own
purpose, short-lived (``TOKEN_TTL``), naming the merchant, the member, their level and the
communities they are in when it was issued. The purchase route checks it in-process.

What could change in those minutes is checked against a cached set instead: members who are
blocked, erased or merged away (``RefusedMembers``), per merchant, read from the database at
most about once a second in the background. The staff actions that block, erase or merge a
member call :func:`refuse` so that this process refuses them from the moment their transaction
commits; other processes follow within a second.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock, outbox, signed
from tribekit.kit.db import Database
from tribekit.models.communities import CommunityMember
from tribekit.models.members import Member
from tribekit.models.membership import MembershipAccount

from .errors import FlashTokenInvalid

log = logging.getLogger(__name__)

PREFIX = "tkf_"
PURPOSE = "flash-token"
TOKEN_TTL = timedelta(minutes=15)
#: How old a merchant's refused set may be before it is read again.
REFRESH_SECONDS = 1.0


@dataclass(frozen=True)
class FlashClaims:
    merchant_id: uuid.UUID
    member_id: uuid.UUID
    level_id: uuid.UUID | None
    community_ids: frozenset[uuid.UUID]
    expires_at: int  # unix seconds

    @property
    def actor(self) -> str:
        return f"member:{self.member_id}"


def sign(
    secret_key: str,
    merchant_id: uuid.UUID,
    member_id: uuid.UUID,
    level_id: uuid.UUID | None,
    community_ids: frozenset[uuid.UUID],
    *,
    ttl: timedelta = TOKEN_TTL,
) -> tuple[str, datetime]:
    expires_at = clock.now() + ttl
    body = {
        "m": str(merchant_id),
        "u": str(member_id),
        "l": str(level_id) if level_id else None,
        "c": sorted(str(i) for i in community_ids),
        "e": int(expires_at.timestamp()),
    }
    return signed.seal(secret_key, PURPOSE, PREFIX, body), expires_at


def verify(secret_key: str, token: str) -> FlashClaims:
    """The claims of a valid, unexpired token; otherwise a 401 ``flash_token_invalid``."""
    bad = FlashTokenInvalid(
        "the flash token is not valid; get a new one: POST /api/v1/me/flash-token",
        headers={"WWW-Authenticate": "Bearer"},
    )
    body = signed.opened(secret_key, PURPOSE, PREFIX, token)
    if body is None:
        raise bad
    try:
        level = body["l"]
        claims = FlashClaims(
            merchant_id=uuid.UUID(body["m"]),
            member_id=uuid.UUID(body["u"]),
            level_id=uuid.UUID(level) if level else None,
            community_ids=frozenset(uuid.UUID(i) for i in body["c"]),
            expires_at=int(body["e"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise bad from exc
    if claims.expires_at <= time.time():
        raise FlashTokenInvalid(
            "the flash token has expired; get a new one: POST /api/v1/me/flash-token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return claims


async def issue(
    session: AsyncSession, secret_key: str, merchant_id: uuid.UUID, member_id: uuid.UUID
) -> tuple[str, datetime]:
    """A token for a member whose session was just checked: their level and groups now."""
    level_id = await session.scalar(
        select(MembershipAccount.level_id).where(
            MembershipAccount.merchant_id == merchant_id, MembershipAccount.member_id == member_id
        )
    )
    communities = await session.scalars(
        select(CommunityMember.community_id).where(
            CommunityMember.merchant_id == merchant_id,
            CommunityMember.member_id == member_id,
            CommunityMember.left_at.is_(None),
        )
    )
    return sign(secret_key, merchant_id, member_id, level_id, frozenset(communities.all()))


# -- members refused whatever token they hold ---------------------------------------------------


@dataclass
class _Refused:
    members: set[uuid.UUID]
    read_at: float
    added: dict[uuid.UUID, float]  # refused by this process, and when (``add``)


class RefusedMembers:
    """Per merchant, the members who may not buy (blocked, erased, merged), as this process
    last read them. One per process (``REFUSED``): the staff actions add to it directly."""

    def __init__(self, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self.refresh_seconds = refresh_seconds
        self._sets: dict[uuid.UUID, _Refused] = {}
        self._reading: dict[uuid.UUID, asyncio.Task[None]] = {}

    async def refused(self, db: Database, merchant_id: uuid.UUID, member_id: uuid.UUID) -> bool:
        found = self._sets.get(merchant_id)
        if found is None:
            await self._read(db, merchant_id)  # the first attempt at a merchant reads it once
            found = self._sets[merchant_id]
        elif (
            time.monotonic() - found.read_at > self.refresh_seconds
            and merchant_id not in self._reading
        ):
            task = asyncio.create_task(self._read(db, merchant_id))
            self._reading[merchant_id] = task
            task.add_done_callback(lambda _: self._reading.pop(merchant_id, None))
            task.add_done_callback(_log_failure)
        return member_id in found.members

    async def _read(self, db: Database, merchant_id: uuid.UUID) -> None:
        began = time.monotonic()
        async with db.unit_of_work(read_only=True) as session:
            rows = await session.scalars(
                select(Member.id).where(
                    Member.merchant_id == merchant_id,
                    or_(
                        Member.blocked.is_(True),
                        Member.erased_at.is_not(None),
                        Member.merged_into_id.is_not(None),
                    ),
                )
            )
            members = set(rows.all())
        known = self._sets.get(merchant_id)
        # Refused here while the read ran: its snapshot may be older than their commit.
        added = {m: at for m, at in (known.added if known else {}).items() if at >= began}
        self._sets[merchant_id] = _Refused(members | set(added), time.monotonic(), added)

    def add(self, merchant_id: uuid.UUID, member_id: uuid.UUID) -> None:
        known = self._sets.get(merchant_id)
        if known is not None:
            known.members.add(member_id)
            known.added[member_id] = time.monotonic()

    def discard(self, merchant_id: uuid.UUID, member_id: uuid.UUID) -> None:
        known = self._sets.get(merchant_id)
        if known is not None:
            known.members.discard(member_id)
            known.added.pop(member_id, None)


REFUSED = RefusedMembers()


def refuse(session: AsyncSession, merchant_id: uuid.UUID, member_id: uuid.UUID) -> None:
    """A member was blocked, erased or merged away: once this transaction commits, this
    process refuses their flash tokens at once (other processes within ``REFRESH_SECONDS``)."""

    async def after() -> None:
        REFUSED.add(merchant_id, member_id)

    outbox.on_commit(session, after)


def allow(session: AsyncSession, merchant_id: uuid.UUID, member_id: uuid.UUID) -> None:
    """A member was unblocked: their tokens work again once this transaction commits."""

    async def after() -> None:
        REFUSED.discard(merchant_id, member_id)

    outbox.on_commit(session, after)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("reading refused members failed", exc_info=task.exception())
