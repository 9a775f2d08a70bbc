"""Inbound events, each recorded once: the platform redelivers an update when it heard no answer
in time, and two processes may receive the same one. The row's unique (account, event id)
decides: the first transaction to insert it processes the event; every other delivery finds
it and does nothing.

The insert is one statement (``ON CONFLICT DO NOTHING``, no savepoint): every update of every
group passes here, and a savepoint costs two round trips more. The row written is then
attached to the session as loaded, so the pipeline's later changes to it are one ``UPDATE``.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from tribekit.kit.ids import new_id
from tribekit.models.robot import RobotAccount, RobotEvent

from .channels import InboundEvent

_COLUMNS = (
    "id",
    "merchant_id",
    "robot_account_id",
    "event_id",
    "kind",
    "community_id",
    "member_id",
    "text",
    "fingerprint",
    "outcome",
    "at",
)
_RECORD: dict[str, Any] = {}


def _record(dialect: str) -> Any:
    """The insert, built once per dialect (composing it costs more than running it cached)."""
    statement = _RECORD.get(dialect)
    if statement is None:
        insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = (
            insert(RobotEvent.__table__)
            .values({name: bindparam(f"b_{name}") for name in _COLUMNS})
            .on_conflict_do_nothing(index_elements=["robot_account_id", "event_id"])
        )
        _RECORD[dialect] = statement
    return statement


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
    values = {
        "id": new_id(),
        "merchant_id": account.merchant_id,
        "robot_account_id": account.id,
        "event_id": event.event_id,
        "kind": event.kind.value,
        "community_id": community_id,
        "member_id": member_id,
        "text": event.text if keep_text and event.text else None,
        "fingerprint": None,
        "outcome": "",
        "at": event.at,
    }
    inserted = await session.execute(
        _record(session.get_bind().dialect.name), {f"b_{k}": v for k, v in values.items()}
    )
    if not inserted.rowcount:  # type: ignore[attr-defined]  # DML results have it
        return None
    # Every column is set, so the attached row never loads one back.
    row = RobotEvent(**values)
    make_transient_to_detached(row)
    session.add(row)
    return row
