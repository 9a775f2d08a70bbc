"""Durable outbound actions: what the robot owes a group, written in the deciding transaction and
carried out by the worker after commit (``tasks.py``).

``owe`` records one action for one decision. ``decision`` names what decided it ("reply:<event
id>", "ban:<ban id>:<community id>") and is unique per merchant, so the same decision reached
twice (a redelivered update, two staff pressing ban) owes the action once. An action due now
wakes this process's worker loops when its transaction commits (``kit.worker``), so a reply
goes out at once rather than at the sweep's next turn.

A platform whose mute or ban cannot carry its end (Matrix: a power level or a ban has no
"until") gets the lifting owed with it, due at the end (``_owe_the_end``): an unmute at a timed
mute's end, an unban at a timed ban's. A newer mute or ban of the same person in the same group
calls back the lifting an older one still owed, so a longer mute is not cut short.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock
from tribekit.kit.db import add_unique
from tribekit.kit.errors import Conflict
from tribekit.kit.worker import wake_after_commit
from tribekit.models.communities import Community
from tribekit.models.enums import ActionKind, ActionStatus
from tribekit.models.robot import RobotAccount, RobotAction
from tribekit.tenancy.principal import Tenant

from .channels import OutboundAction
from .channels.registry import CAPABILITIES

#: The worker sweep that carries out owed actions (``tasks.py``).
SWEEP_NAME = "robot.carry_out_actions"
#: The channels whose mutes and bans cannot end by themselves.
_NO_TIMED_RESTRICTIONS = frozenset(
    name for name, capabilities in CAPABILITIES.items() if not capabilities.can_time_restrict
)
#: What lifts a mute or a ban at its end, and the decision's prefix.
_ENDS = {
    ActionKind.RESTRICT: (ActionKind.UNRESTRICT, "mute-end"),
    ActionKind.BAN: (ActionKind.UNBAN, "ban-end"),
}


async def owe(
    session: AsyncSession,
    tenant: Tenant,
    *,
    robot_account_id: uuid.UUID,
    community_id: uuid.UUID | None,
    decision: str,
    action: OutboundAction,
    due_at: datetime | None = None,
) -> RobotAction | None:
    """Owe ``action`` for ``decision``; None when that decision owes it already."""
    now = clock.now()
    row = RobotAction(
        merchant_id=tenant.id,
        robot_account_id=robot_account_id,
        community_id=community_id,
        decision=decision,
        kind=action.kind,
        payload=action.to_row(),
        status=ActionStatus.PENDING,
        due_at=due_at or now,
        attempts=0,
    )
    try:
        await add_unique(session, "owed already", row)
    except Conflict:
        return None
    if row.due_at <= now:
        wake_after_commit(session, SWEEP_NAME)
    if action.kind in _ENDS and action.person_id:
        await _owe_the_end(session, tenant, robot_account_id, community_id, action)
    return row


async def owe_in_group(
    session: AsyncSession,
    tenant: Tenant,
    account: RobotAccount,
    community: Community,
    decision: str,
    action: OutboundAction,
) -> None:
    """Owe ``action`` in the group for ``decision`` (once, however often it is reached)."""
    await owe(
        session,
        tenant,
        robot_account_id=account.id,
        community_id=community.id,
        decision=decision,
        action=action,
    )


def chat_of(community: Community) -> str:
    """The chat of a group the robot is in."""
    assert community.external_id is not None  # a group the robot is in has its chat id
    return community.external_id


async def _owe_the_end(
    session: AsyncSession,
    tenant: Tenant,
    robot_account_id: uuid.UUID,
    community_id: uuid.UUID | None,
    action: OutboundAction,
) -> None:
    """On a channel that cannot end a mute or ban by itself: call back the lifting an earlier
    one of this person in this group owed, and owe this one's at its ``until``."""
    account = await session.get(RobotAccount, robot_account_id)  # one read per unit of work
    if account is None or account.channel not in _NO_TIMED_RESTRICTIONS:
        return
    lifting, prefix = _ENDS[action.kind]
    whom = hashlib.sha256(
        f"{robot_account_id}|{action.chat_id}|{action.person_id}".encode()
    ).hexdigest()[:32]
    await session.execute(
        update(RobotAction)
        .where(
            RobotAction.merchant_id == tenant.id,
            RobotAction.decision.like(f"{prefix}:{whom}:%"),
            RobotAction.status == ActionStatus.PENDING,
            RobotAction.attempts == 0,
        )
        .values(status=ActionStatus.CANCELLED, done_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    if action.until is None:
        return  # for good (or until lifted by hand)
    row = RobotAction(
        merchant_id=tenant.id,
        robot_account_id=robot_account_id,
        community_id=community_id,
        decision=f"{prefix}:{whom}:{int(action.until.timestamp())}",
        kind=lifting,
        payload=OutboundAction(lifting, action.chat_id, person_id=action.person_id).to_row(),
        status=ActionStatus.PENDING,
        due_at=action.until,
        attempts=0,
    )
    with contextlib.suppress(Conflict):  # the same end owed already
        await add_unique(session, "owed already", row)


async def cancel(session: AsyncSession, tenant: Tenant, decisions: list[str]) -> int:
    """Cancel the actions of these decisions that have not run yet (an unban before the ban
    went out); how many were cancelled. One that already ran stays done."""
    if not decisions:
        return 0
    result = await session.execute(
        update(RobotAction)
        .where(
            RobotAction.merchant_id == tenant.id,
            RobotAction.decision.in_(decisions),
            RobotAction.status == ActionStatus.PENDING,
            RobotAction.attempts == 0,
        )
        .values(status=ActionStatus.CANCELLED, done_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]  # a DML result has a rowcount
