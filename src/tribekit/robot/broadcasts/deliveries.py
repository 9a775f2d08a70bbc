"""Sending a broadcast's deliveries: claimed in batches, sent concurrently within the channels'
limits, each exactly once.

One batch goes through four steps, each a short unit of work but the sends (the robot's
actions work the same way, ``robot/tasks.py``):

1. **claim** (the sweep's unit of work): due pending deliveries, ``FOR UPDATE SKIP LOCKED``;
   each is leased (its due time moves past ``LEASE``, to one value for the whole batch, which
   names the claim), so no other worker takes it meanwhile; committed.
2. **mark in flight**, a small wave at a time, right before its sends: one statement counts
   the attempt of every delivery of the wave still leased to this claim and still wanted, and
   skips the others: the member withdrew consent (``/stop``), was blocked or erased; the group
   no longer accepts marketing or is no longer active. Committed.
3. **send** the wave concurrently (``sending.py``), each at the slot the ``Throttle`` booked
   for it under the channel's limits (per robot account ``per_bot_per_second`` a second, per
   chat ``per_group_per_minute`` a minute); a direct message first finds its chat
   (``direct_chat``).
4. **record** the wave's outcomes in one statement: sent; due again after exactly the
   platform's ``retry_after`` (the robot's key is paused for as long, so its other deliveries
   wait too) or after a backoff; failed for good (refused, or ``MAX_ATTEMPTS``).

Two waves overlap (``WAVES_AT_ONCE``): one's statements run while the other's sends are on
the wire, which keeps the sender near a bare loop of the same sends.

A worker that dies after 1 leaves its deliveries to come due when the lease ends, and the next
worker sends them. One that dies after 2 leaves deliveries marked in flight with no outcome:
they may have been sent, so the next claim fails them ("outcome unknown") instead of risking
a second message. A wave is small and its marks are written right before its sends, so that
window is short. When a batch has sent all it can, each broadcast with nothing pending is
``done``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    Text,
    Uuid,
    and_,
    case,
    cast,
    column,
    exists,
    func,
    not_,
    or_,
    select,
    update,
    values,
)
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock
from tribekit.kit.db import UTCDateTime
from tribekit.kit.throttle import Rate
from tribekit.models.broadcasts import Broadcast, BroadcastDelivery
from tribekit.models.communities import Community
from tribekit.models.enums import CommunityStatus
from tribekit.models.members import Member
from tribekit.models.robot import RobotAccount
from tribekit.robot.channels import (
    Capabilities,
    Channel,
    OutboundAction,
)
from tribekit.robot.channels import RobotAccount as Account

from .content import Content, action_for
from .states import BroadcastStatus, DeliveryStatus

log = logging.getLogger(__name__)

#: Longer than a batch takes to send (``BUDGET``) plus one platform call (aiogram: 30 s).
LEASE = timedelta(minutes=2)
#: A batch starts no new wave after this many seconds: the rest go back, due now, so that the
#: worker loop turns (the robot's replies wait for it).
BUDGET = 20.0
#: At most this many sends at once; a wave's slots lie within ``WAVE_SPAN`` seconds.
WAVE_SIZE = 25
WAVE_SPAN = 1.0
WAVES_AT_ONCE = 2
#: A delivery whose next slot is further than this goes back, due at that slot.
HOLD_AT_MOST = 2.0
#: Slots are spaced this much wider than the platform's rate: the platform counts a request
#: when it arrives, the throttle when it leaves, and between them lie the network's jitter and
#: a busy worker's late sends, which bunch up slots booked apart (at 1.1 a loaded two-core
#: machine tripped the test server's 30-a-second window now and then; 1.25 never did).
HEADROOM = 1.25
MAX_ATTEMPTS = 8
#: Deliveries go back for this long when the pacer (Redis, PostgreSQL) cannot be reached.
PACER_RETRY = timedelta(seconds=5)
FIRST_RETRY = timedelta(seconds=5)
LAST_RETRY = timedelta(minutes=10)
OUTCOME_UNKNOWN = "outcome unknown: a worker stopped mid-send; not sent again"
NOT_WANTED = (
    "not sent: when its turn came the member had withdrawn consent, was blocked or erased, "
    "or the group no longer took marketing or was no longer active"
)

_d = BroadcastDelivery.__table__.c
_b = Broadcast.__table__.c
_m = Member.__table__.c
_c = Community.__table__.c
_a = RobotAccount.__table__.c


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: 5 s, 10 s, 20 s ... at most 10 min."""
    wait: timedelta = FIRST_RETRY * (2 ** (attempts - 1))
    return min(wait, LAST_RETRY)


def bot_key(account_id: str) -> str:
    """The pacing key of one robot account (every chat it sends to)."""
    return f"robot:{account_id}"


def chat_key(channel: str, chat: str) -> str:
    return f"chat:{channel}:{chat}"


def rates(capabilities: Capabilities, account_id: str, channel: str, chat: str) -> list[Rate]:
    """The rates one send falls under: none where the channel declares no limit."""
    found = []
    if capabilities.per_bot_per_second is not None:
        found.append(Rate(bot_key(account_id), capabilities.per_bot_per_second, 1.0 * HEADROOM))
    if capabilities.per_group_per_minute is not None:
        found.append(
            Rate(chat_key(channel, chat), capabilities.per_group_per_minute, 60.0 * HEADROOM)
        )
    return found


@dataclass(frozen=True)
class Claim:
    id: uuid.UUID
    broadcast_id: uuid.UUID
    attempt: int  # the attempt this send is: the attempts made before it, plus one
    lease: datetime  # the claim's due time: the delivery is this claim's while it holds
    channel: str
    account: Account
    chat_id: str | None  # None: a direct message, its chat found when it is sent
    person_id: str | None
    action: OutboundAction


@dataclass(frozen=True)
class Result:
    claim: Claim
    status: DeliveryStatus
    due_at: datetime
    error: str | None = None
    message_id: str | None = None
    chat_id: str | None = None
    sent_at: datetime | None = None
    counted: bool = True  # False: not sent after all (its robot was paused): no attempt made


# -- 1. claim -------------------------------------------------------------------------------------


async def _set(session: AsyncSession, ids: Sequence[uuid.UUID], **changes: Any) -> None:
    if ids:
        await session.execute(
            update(BroadcastDelivery)
            .where(_d.id.in_(list(ids)))
            .values(**changes)
            .execution_options(synchronize_session=False)
        )


async def claim_deliveries(
    session: AsyncSession, channels: Mapping[str, Channel], batch_size: int
) -> list[Claim]:
    """Due deliveries no other worker holds, leased to this claim (attempts are counted when
    each is sent). One found in flight with no outcome is failed, not sent again."""
    now = clock.now()
    lease = now + LEASE
    rows = (
        await session.execute(
            select(
                _d.id,
                _d.broadcast_id,
                _d.attempts,
                _d.last_error,
                _d.robot_account_id,
                _d.channel,
                _d.chat_id,
                _d.person_id,
                _d.language,
            )
            .where(_d.status == DeliveryStatus.PENDING.value, _d.due_at <= now)
            .order_by(_d.due_at, _d.id)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        )
    ).all()
    if not rows:
        return []
    unknown = [r.id for r in rows if r.attempts > 0 and r.last_error is None]
    await _set(session, unknown, status=DeliveryStatus.FAILED.value, last_error=OUTCOME_UNKNOWN)
    rows = [r for r in rows if not (r.attempts > 0 and r.last_error is None)]
    broadcasts = {
        b.id: b
        for b in (
            await session.execute(
                select(_b.id, _b.status, _b.content).where(
                    _b.id.in_({r.broadcast_id for r in rows})
                )
            )
        ).all()
    }
    accounts = {
        a.id: a
        for a in (
            await session.execute(
                select(_a.id, _a.channel, _a.token, _a.username, _a.homeserver, _a.active).where(
                    _a.id.in_({r.robot_account_id for r in rows})
                )
            )
        ).all()
    }
    claims: list[Claim] = []
    stopped: list[uuid.UUID] = []
    gone: list[uuid.UUID] = []
    actions: dict[tuple[uuid.UUID, str, str], OutboundAction] = {}
    for row in rows:
        broadcast = broadcasts.get(row.broadcast_id)
        if broadcast is None or broadcast.status != BroadcastStatus.SENDING:
            stopped.append(row.id)
            continue
        account = accounts.get(row.robot_account_id)
        if account is None or not account.active:
            gone.append(row.id)
            continue
        key = (row.broadcast_id, row.language, row.channel)
        if key not in actions:
            found = channels.get(row.channel)
            capabilities = found.capabilities if found is not None else Capabilities()
            actions[key] = action_for(
                Content.from_json(broadcast.content), row.language, capabilities
            )
        claims.append(
            Claim(
                id=row.id,
                broadcast_id=row.broadcast_id,
                attempt=row.attempts + 1,
                lease=lease,
                channel=row.channel,
                account=Account(
                    str(account.id),
                    str(account.channel),
                    account.token or "",
                    account.username,
                    homeserver=account.homeserver,
                ),
                chat_id=row.chat_id,
                person_id=row.person_id,
                action=actions[key],
            )
        )
    await _set(
        session,
        stopped,
        status=DeliveryStatus.CANCELLED.value,
        last_error="the broadcast was cancelled",
    )
    await _set(
        session,
        gone,
        status=DeliveryStatus.FAILED.value,
        last_error="the robot account is gone or switched off",
    )
    await _set(session, [c.id for c in claims], due_at=lease)
    return claims


# -- 2. mark in flight ------------------------------------------------------------------------


def _unwanted() -> Any:
    """A delivery that must not go out now: consent, blocking, erasure or the group changed."""
    marketing = select(_b.marketing).where(_b.id == _d.broadcast_id).scalar_subquery()
    may_dm = and_(
        _m.id == _d.member_id,
        _m.blocked.is_(False),
        _m.erased_at.is_(None),
        _m.merged_into_id.is_(None),
    )
    active = and_(_c.id == _d.community_id, _c.status == CommunityStatus.ACTIVE.value)
    return or_(
        and_(_d.member_id.is_not(None), not_(exists().where(may_dm))),
        and_(
            _d.member_id.is_not(None),
            marketing.is_(True),
            not_(exists().where(may_dm, _m.marketing_consent.is_(True))),
        ),
        and_(_d.community_id.is_not(None), not_(exists().where(active))),
        and_(
            _d.community_id.is_not(None),
            marketing.is_(True),
            not_(exists().where(active, _c.accepts_marketing.is_(True))),
        ),
    )


async def mark_in_flight(
    session: AsyncSession, ids: Sequence[uuid.UUID], lease: datetime
) -> dict[uuid.UUID, str]:
    """Count the attempt of each delivery still leased to this claim and still wanted; skip
    the unwanted ones. Returns each changed delivery's new status (a delivery cancelled or
    taken by another claim meanwhile is not there)."""
    unwanted = _unwanted()
    result = await session.execute(
        update(BroadcastDelivery)
        .where(
            _d.id.in_(list(ids)),
            _d.status == DeliveryStatus.PENDING.value,
            _d.due_at == lease,
        )
        .values(
            status=case((unwanted, DeliveryStatus.SKIPPED.value), else_=_d.status),
            attempts=case((unwanted, _d.attempts), else_=_d.attempts + 1),
            last_error=case((unwanted, NOT_WANTED), else_=None),
        )
        .returning(_d.id, _d.status)
        .execution_options(synchronize_session=False)
    )
    return {row.id: row.status for row in result.all()}


# -- 4. record --------------------------------------------------------------------------------
#
# A wave's outcomes are one UPDATE from a VALUES list (a CTE: SQLite takes no column names on a
# VALUES in FROM). A None is written into the VALUES as NULL, and PostgreSQL types a column of
# NULLs only as text, so a time is cast back there (SQLite keeps times as text anyway).


def _typed(session: AsyncSession, value: Any) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return cast(value, UTCDateTime()) if dialect == "postgresql" else value


async def record(session: AsyncSession, results: Sequence[Result]) -> None:
    """Write a wave's outcomes in one statement, each only if its attempt still holds."""
    if not results:
        return
    outcomes = values(
        column("id", Uuid()),
        column("attempt", Integer()),
        column("attempts", Integer()),
        column("status", String()),
        column("due_at", UTCDateTime()),
        column("last_error", Text()),
        column("message_id", String()),
        column("chat_id", String()),
        column("sent_at", UTCDateTime()),
        name="outcomes",
    ).data(
        [
            (
                r.claim.id,
                r.claim.attempt,
                r.claim.attempt if r.counted else r.claim.attempt - 1,
                r.status.value,
                r.due_at,
                r.error,
                r.message_id,
                r.chat_id,
                r.sent_at,
            )
            for r in results
        ]
    )
    table = outcomes.cte("outcomes")
    v = table.c
    await session.execute(
        update(BroadcastDelivery)
        .where(
            _d.id == v.id,
            _d.status == DeliveryStatus.PENDING.value,
            _d.attempts == v.attempt,
        )
        .values(
            status=v.status,
            attempts=v.attempts,
            due_at=_typed(session, v.due_at),
            last_error=v.last_error,
            message_id=v.message_id,
            chat_id=func.coalesce(v.chat_id, _d.chat_id),
            sent_at=_typed(session, v.sent_at),
        )
        .execution_options(synchronize_session=False)
    )


async def release(session: AsyncSession, due: Sequence[tuple[Claim, datetime]]) -> None:
    """Give deliveries back unsent, due again at the time given (no attempt was made)."""
    if not due:
        return
    times = (
        values(column("id", Uuid()), column("due_at", UTCDateTime()), name="released")
        .data([(claim.id, at) for claim, at in due])
        .cte("released")
    )
    lease = due[0][0].lease
    await session.execute(
        update(BroadcastDelivery)
        .where(
            _d.id == times.c.id,
            _d.status == DeliveryStatus.PENDING.value,
            _d.due_at == lease,
        )
        .values(due_at=_typed(session, times.c.due_at))
        .execution_options(synchronize_session=False)
    )


async def finish(session: AsyncSession, broadcast_ids: Sequence[uuid.UUID]) -> int:
    """Each sending broadcast with no pending delivery is done; how many became done. Run in
    its own unit of work after the outcomes committed, so that of two workers finishing the
    last deliveries at once, the later one sees both."""
    if not broadcast_ids:
        return 0
    now = clock.now()
    pending = exists().where(_d.broadcast_id == _b.id, _d.status == DeliveryStatus.PENDING.value)
    result = await session.execute(
        update(Broadcast)
        .where(
            _b.id.in_(list(broadcast_ids)),
            _b.status == BroadcastStatus.SENDING.value,
            not_(pending),
        )
        .values(status=BroadcastStatus.DONE.value, finished_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]  # a DML result has a rowcount
