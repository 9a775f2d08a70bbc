"""The worker's part of the robot: carry out the durable actions the robot owes.

One attempt is three steps, and only the middle one leaves the process (refunds at the payment
provider work the same way, ``orders/tasks.py``):

1. **claim** (the sweep's unit of work): due actions, ``FOR UPDATE SKIP LOCKED``, in the order
   they were owed; each attempt is counted and the row's due time moves past the lease, so no
   other worker claims it while the call may still be running; committed;
2. **perform** the action on its channel, outside any transaction;
3. **record** the outcome in a new short unit of work, after re-checking the row: done; due
   again after the platform's ``retry_after`` or a backoff; or failed for good (refused, or
   ``MAX_ATTEMPTS`` attempts).

A worker that dies between 1 and 3 leaves the row to come due again when its lease ends, and
the next worker carries it out. Deleting, muting, banning, unbanning or pinning twice leaves the
group as once, so those run again. Sending twice would post twice, so a send whose attempt was
never recorded is not sent again: it is marked failed ("outcome unknown") rather than risk a
duplicate message. Either way one decision is never carried out twice.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Protocol, runtime_checkable

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock, outbox
from tribekit.kit.db import Database, add_unique
from tribekit.kit.errors import Conflict, TribekitError
from tribekit.kit.worker import Sweep, claim_due
from tribekit.models.communities import Community
from tribekit.models.enums import ActionKind, ActionStatus, CommunityStatus
from tribekit.models.robot import ChatAdmins, RobotAccount, RobotAction

from . import actions, bans, captcha
from .accounts import as_channel_account
from .channels import ActionRefused, Channel, OutboundAction, RetryLater
from .channels import RobotAccount as Account

log = logging.getLogger(__name__)

#: Longer than one platform call can take (aiogram: a 30 s timeout).
ATTEMPT_LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(seconds=5)
LAST_RETRY = timedelta(minutes=10)
#: Actions that leave the group the same however often they are carried out.
REPEATABLE = frozenset(ActionKind) - {ActionKind.SEND, ActionKind.REPLY}


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: 5 s, 10 s, 20 s ... at most 10 min."""
    wait: timedelta = FIRST_RETRY * (2 ** (attempts - 1))
    return min(wait, LAST_RETRY)


@dataclass(frozen=True)
class Claim:
    action_id: uuid.UUID
    attempt: int
    channel: str
    account: Account
    action: OutboundAction


@dataclass(frozen=True)
class Outcome:
    message_id: str | None = None
    error: str | None = None
    retry_after: float | None = None
    final: bool = False  # refused: the same action cannot succeed

    @property
    def succeeded(self) -> bool:
        return self.error is None


async def claim_actions(session: AsyncSession, batch_size: int) -> list[Claim]:
    """Due actions no other worker holds, each counted as an attempt and leased."""
    now = clock.now()
    due = (
        select(RobotAction)
        .where(RobotAction.status == ActionStatus.PENDING, RobotAction.due_at <= now)
        .order_by(RobotAction.due_at, RobotAction.created_at)
    )
    claims = []
    accounts: dict[uuid.UUID, RobotAccount | None] = {}
    for row in (await session.scalars(claim_due(due, batch_size))).all():
        if row.attempts > 0 and row.last_error is None and row.kind not in REPEATABLE:
            # The last attempt was claimed and never recorded: it may have been sent.
            row.status, row.done_at = ActionStatus.FAILED, now
            row.last_error = "outcome unknown: a worker stopped mid-send; not sent again"
            continue
        if not await bans.still_wanted(session, row):
            row.status, row.done_at = ActionStatus.CANCELLED, now
            row.last_error = "its decision was undone (the ban was lifted, or made again)"
            continue
        if row.robot_account_id not in accounts:
            accounts[row.robot_account_id] = await session.get(RobotAccount, row.robot_account_id)
        account = accounts[row.robot_account_id]
        if account is None or not account.active:
            row.status, row.done_at = ActionStatus.CANCELLED, now
            row.last_error = "the robot account is gone or switched off"
            continue
        row.attempts += 1
        row.last_error = None
        row.due_at = now + ATTEMPT_LEASE
        claims.append(
            Claim(
                row.id,
                row.attempts,
                account.channel,
                as_channel_account(account),
                OutboundAction.from_row(row.payload),
            )
        )
    await session.flush()
    return claims


async def perform(channels: Mapping[str, Channel], claim: Claim) -> Outcome:
    """The platform call, outside any transaction. Never raises: the outcome says what happened."""
    found = channels.get(claim.channel)
    if found is None:
        return Outcome(error=f"no {claim.channel!r} channel in this process")
    try:
        done = await found.perform(claim.account, claim.action)
    except RetryLater as exc:
        return Outcome(error=exc.detail, retry_after=exc.retry_after)
    except ActionRefused as exc:
        return Outcome(error=exc.detail, final=True)
    except TribekitError as exc:
        return Outcome(error=exc.detail)
    except Exception as exc:
        log.exception("robot action failed", extra={"action": str(claim.action_id)})
        return Outcome(error=f"unexpected error: {type(exc).__name__}")
    return Outcome(message_id=done.message_id)


async def record(session: AsyncSession, claim: Claim, outcome: Outcome) -> str:
    """Write the outcome of one attempt, after re-checking the row; what was recorded."""
    row: RobotAction | None = await session.scalar(
        select(RobotAction)
        .where(RobotAction.id == claim.action_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None or row.status != ActionStatus.PENDING:
        return "already settled"
    if row.attempts != claim.attempt:
        return "superseded"  # the lease ran out and a later attempt owns the row
    now = clock.now()
    if outcome.succeeded:
        row.status, row.done_at, row.message_id = ActionStatus.DONE, now, outcome.message_id
        return "done"
    row.last_error = outcome.error
    if outcome.final or row.attempts >= MAX_ATTEMPTS:
        row.status, row.done_at = ActionStatus.FAILED, now
        log.warning(
            "robot action failed for good",
            extra={"action": str(row.id), "kind": row.kind.value, "error": outcome.error},
        )
        return "failed"
    wait = backoff(row.attempts)
    if outcome.retry_after is not None:
        wait = max(wait, timedelta(seconds=outcome.retry_after))  # the platform's word wins
    row.due_at = now + wait
    return "retry"


async def carry_out(
    db: Database, channels: Mapping[str, Channel], claims: list[Claim]
) -> list[str]:
    """Perform each claimed action and record each outcome in its own unit of work."""
    recorded = []
    for claim in claims:
        outcome = await perform(channels, claim)
        recorded.append(await db.run(partial(record, claim=claim, outcome=outcome)))
    return recorded


def actions_sweep(db: Database, channels: Mapping[str, Channel]) -> Sweep:
    """Claim due actions; after the claim commits, carry them out and record the outcomes."""

    async def run(session: AsyncSession, batch_size: int) -> int:
        claims = await claim_actions(session, batch_size)

        async def after_commit() -> None:
            await carry_out(db, channels, claims)

        if claims:
            outbox.on_commit(session, after_commit)
        return len(claims)

    return Sweep(actions.SWEEP_NAME, run, every_seconds=0.5, batch_size=50)


# -- the platforms' group admins ----------------------------------------------------------------
#
# Who administers a group on the platform counts as its staff (staff commands). Telegram says
# so only when asked (getChatAdministrators), and the pipeline never calls a platform inside its
# transaction: the worker reads each active group's admins (claim, call after commit, record,
# like the actions above) and keeps them on ``robot_chat_admins``, read again every hour.

ADMINS_EVERY = timedelta(hours=1)
ADMINS_RETRY = timedelta(minutes=5)


@runtime_checkable
class ListsAdmins(Protocol):
    """A channel that can list a group's admins (Telegram)."""

    async def admins(self, account: Account, chat_id: str) -> list[str]: ...


@dataclass(frozen=True)
class AdminsClaim:
    community_id: uuid.UUID
    chat_id: str
    channel: str
    account: Account


async def claim_admin_lists(
    session: AsyncSession, channels: Mapping[str, Channel], batch_size: int
) -> list[AdminsClaim]:
    """Groups whose admins are due to be read (a group met for the first time is due at once),
    each leased so that no other worker reads it meanwhile."""
    names = [name for name, found in channels.items() if isinstance(found, ListsAdmins)]
    if not names:
        return []
    now = clock.now()
    active = (
        (Community.status == CommunityStatus.ACTIVE)
        & Community.channel.in_(names)
        & Community.external_id.is_not(None)
        & Community.robot_account_id.is_not(None)
    )
    unknown = (
        await session.execute(
            select(Community.id, Community.merchant_id)
            .where(active, ~exists().where(ChatAdmins.community_id == Community.id))
            .limit(batch_size)
        )
    ).all()
    for community_id, merchant_id in unknown:
        with contextlib.suppress(Conflict):  # another worker met it at the same time
            await add_unique(
                session,
                "listed already",
                ChatAdmins(
                    merchant_id=merchant_id, community_id=community_id, person_ids=[], due_at=now
                ),
            )
    due = (
        select(ChatAdmins)
        .join(Community, Community.id == ChatAdmins.community_id)
        .where(ChatAdmins.due_at <= now, active)
        .order_by(ChatAdmins.due_at)
    )
    claims = []
    for row in (
        await session.scalars(
            due.limit(batch_size).with_for_update(of=ChatAdmins, skip_locked=True)
        )
    ).all():
        community = await session.get(Community, row.community_id)
        assert community is not None  # joined above
        assert community.robot_account_id is not None
        assert community.external_id is not None
        account = await session.get(RobotAccount, community.robot_account_id)
        row.due_at = now + ATTEMPT_LEASE
        if account is None or not account.active:
            row.due_at = now + ADMINS_EVERY
            continue
        claims.append(
            AdminsClaim(
                row.community_id,
                community.external_id,
                community.channel,
                as_channel_account(account),
            )
        )
    await session.flush()
    return claims


async def read_admins(
    db: Database, channels: Mapping[str, Channel], claims: list[AdminsClaim]
) -> None:
    """Ask each platform (outside any transaction), then keep what it said."""
    for claim in claims:
        found = channels.get(claim.channel)
        admins: list[str] | None = None
        if isinstance(found, ListsAdmins):
            try:
                admins = await found.admins(claim.account, claim.chat_id)
            except TribekitError as exc:
                log.warning("could not read a group's admins", extra={"error": exc.detail})

        async def keep(
            session: AsyncSession, claim: AdminsClaim = claim, admins: list[str] | None = admins
        ) -> None:
            now = clock.now()
            values: dict[str, object] = {"due_at": now + ADMINS_RETRY}
            if admins is not None:
                values = {"person_ids": admins, "refreshed_at": now, "due_at": now + ADMINS_EVERY}
            await session.execute(
                update(ChatAdmins)
                .where(ChatAdmins.community_id == claim.community_id)
                .values(**values)
            )

        await db.run(keep)


def admins_sweep(db: Database, channels: Mapping[str, Channel]) -> Sweep:
    async def run(session: AsyncSession, batch_size: int) -> int:
        claims = await claim_admin_lists(session, channels, batch_size)

        async def after_commit() -> None:
            await read_admins(db, channels, claims)

        if claims:
            outbox.on_commit(session, after_commit)
        return len(claims)

    return Sweep("robot.read_group_admins", run, every_seconds=10, batch_size=50)


def sweeps(db: Database, channels: Mapping[str, Channel]) -> list[Sweep]:
    """The robot's sweeps: its durable actions, the join captchas past their time (each owes
    the member's removal as an action), and the platforms' group admins."""
    return [actions_sweep(db, channels), captcha.sweep(), admins_sweep(db, channels)]
