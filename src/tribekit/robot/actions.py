"""Durable outbound actions: what the robot owes a group, written in the deciding transaction and
carried out by the worker after commit (``tasks.py``).

``owe`` records one action for one decision. ``decision`` names what decided it ("reply:<event
id>", "ban:<ban id>:<community id>") and is unique per merchant, so the same decision reached
twice (a redelivered update, two staff pressing ban) owes the action once. An action due now
wakes this process's worker loops when its transaction commits (``kit.worker``), so a reply
goes out at once rather than at the sweep's next turn.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock
from tribekit.kit.db import add_unique
from tribekit.kit.errors import Conflict
from tribekit.kit.worker import wake_after_commit
from tribekit.models.enums import ActionStatus
from tribekit.models.robot import RobotAction
from tribekit.tenancy.principal import Tenant

from .channels import OutboundAction

#: The worker sweep that carries out owed actions (``tasks.py``).
SWEEP_NAME = "robot.carry_out_actions"


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
    return row


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
