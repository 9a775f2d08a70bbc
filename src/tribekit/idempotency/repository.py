"""Queries of the idempotency store (see ``service.run_once``). A scope is who asked: an API
caller, a channel identity of the robot; the table calls it ``caller``.

A call with a key runs inside its request's transaction: it takes a transaction-scoped lock on
the key (PostgreSQL advisory lock, not waited for: a duplicate that arrives while the first is
running gets ``IdempotencyInProgress``), looks for a stored answer, and otherwise does the work
and stores the answer in the same transaction. Work and answer commit together or not at all, so
a failed call stores nothing and may be retried with the same key. SQLite runs one writer at a
time, so there a duplicate simply waits its turn and finds the stored answer.

Work that commits part-way to call out (``kit.db.outside_transaction``) gives the key's lock up
with that commit; ``service.run_once`` then takes it again, and looks again, before it stores.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock
from tribekit.kit.errors import IdempotencyInProgress
from tribekit.models.orders import IdempotencyRecord

KEEP_FOR = timedelta(hours=24)


async def lock_key(
    session: AsyncSession, merchant_id: uuid.UUID, scope: str, key: str, *, wait: bool = False
) -> None:
    """Hold the key for the rest of the transaction, or refuse at once if another holds it.

    ``wait``: wait for the holder instead (a run whose work committed part-way, taking the key
    again to store its outcome: its twin holds the key only for a short transaction, because the
    work gives the key up with its mid-way commit before it calls out)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    name = f"idempotency:{merchant_id}:{scope}:{key}"
    if wait:
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"), {"name": name}
        )
        return
    taken = await session.scalar(
        text("SELECT pg_try_advisory_xact_lock(hashtextextended(:name, 0))"), {"name": name}
    )
    if not taken:
        raise IdempotencyInProgress(
            f"a request with idempotency key {key!r} is being handled; retry to get its result",
            key=key,
        )


async def find(
    session: AsyncSession, merchant_id: uuid.UUID, scope: str, key: str
) -> IdempotencyRecord | None:
    """The stored answer for the key, unless it is older than 24 hours (then it is forgotten)."""
    record = await session.get(IdempotencyRecord, (merchant_id, scope, key))
    if record is not None and record.expires_at <= clock.now():
        await session.delete(record)
        await session.flush()
        return None
    return record


async def store(
    session: AsyncSession,
    merchant_id: uuid.UUID,
    scope: str,
    key: str,
    request_hash: str,
    status_code: int,
    response: Any,
) -> None:
    now = clock.now()
    session.add(
        IdempotencyRecord(
            merchant_id=merchant_id,
            caller=scope,  # the column keeps its first name: a scope was a caller
            key=key,
            request_hash=request_hash,
            status_code=status_code,
            response=response,
            created_at=now,
            expires_at=now + KEEP_FOR,
        )
    )
    await session.flush()


async def purge_expired(session: AsyncSession) -> int:
    """Forget every answer past its 24 hours."""
    result = await session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= clock.now())
    )
    return int(result.rowcount)  # type: ignore[attr-defined]  # a DML result has a rowcount
