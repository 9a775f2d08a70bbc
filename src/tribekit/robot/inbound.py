"""Inbound events, each recorded once: the platform redelivers an update when it heard no answer
in time, and two processes may receive the same one. The row's unique (account, event id)
decides: the first transaction to insert it processes the event; every other delivery finds
it and does nothing.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit.db import add_unique
from tribekit.kit.errors import Conflict
from tribekit.models.robot import RobotAccount, RobotEvent

from .channels import InboundEvent


async def record_once(
    session: AsyncSession,
    account: RobotAccount,
    event: InboundEvent,
    *,
    community_id: uuid.UUID | None = None,
    member_id: uuid.UUID | None = None,
    keep_text: bool = False,
) -> RobotEvent | None:
    """Record ``event``; None when it was recorded before (a redelivery: do nothing). Its text
    is kept only when ``keep_text`` (a rule or the web history needs it)."""
    row = RobotEvent(
        merchant_id=account.merchant_id,
        robot_account_id=account.id,
        event_id=event.event_id,
        kind=event.kind.value,
        community_id=community_id,
        member_id=member_id,
        text=event.text if keep_text and event.text else None,
        at=event.at,
    )
    try:
        await add_unique(session, "recorded already", row)
    except Conflict:
        return None
    return row
