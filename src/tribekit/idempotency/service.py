"""Run a piece of work once per merchant, scope and key, and keep its outcome to replay.

Face-neutral: the HTTP routes (``api/idempotency.py``, scope = the caller, outcome = the
response body and status) and the robot (scope = the channel identity, outcome = the reply to a
chat command, which has no HTTP response) use the same call::

    done = await run_once(
        session, merchant_id=..., scope="robot:telegram:42", key=command_id,
        fingerprint=fingerprint("redeem", reward="tea"), fn=redeem, encode=to_outcome,
    )
    done.outcome.value     # what the first run returned, as stored (JSON)
    done.replayed          # True: the work ran before and did nothing now

The rules are those of ``kit/idempotency.py``: the same key with the same fingerprint replays
the stored outcome; with a different fingerprint, a 422 ``idempotency_key_reused``; while the
first run is still in its transaction, a 409 ``idempotency_in_progress``. The work and its
outcome commit together in the caller's unit of work, so a run that fails stores nothing and may
be retried with the same key. Outcomes are kept 24 hours (``repository.KEEP_FOR``).

Work that commits part-way to call out (``kit.db.outside_transaction``, starting a payment)
released the key's lock with that commit, so a twin with the same key may have run meanwhile:
then the key is locked again (waited for) and looked up again before the outcome is stored, and
a twin's stored outcome is answered as a replay. Only such work pays for the second look.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit.db import midway_commits
from tribekit.kit.idempotency import check_replay

from . import repository

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome:
    """What is kept of a run: a JSON value and a status (an HTTP status for the API; any
    code a face chooses otherwise)."""

    value: Any
    status: int = 200


@dataclass(frozen=True)
class Once(Generic[T]):
    """``result``: what ``fn`` returned now (None on a replay); ``outcome``: what is stored."""

    outcome: Outcome
    replayed: bool
    result: T | None = None


async def run_once(
    session: AsyncSession,
    *,
    merchant_id: uuid.UUID,
    scope: str,
    key: str,
    fingerprint: str,
    fn: Callable[[], Awaitable[T]],
    encode: Callable[[T], Outcome],
) -> Once[T]:
    """Run ``fn`` unless ``key`` already ran in ``scope``; store ``encode(result)`` with it."""
    await repository.lock_key(session, merchant_id, scope, key)
    stored = await repository.find(session, merchant_id, scope, key)
    if stored is not None:
        check_replay(stored.request_hash, fingerprint, key)
        return Once(Outcome(stored.response, stored.status_code), replayed=True)
    commits = midway_commits(session)
    result = await fn()
    outcome = encode(result)
    if midway_commits(session) != commits:
        # The key's lock went with the mid-way commit: a twin may have stored its outcome.
        await repository.lock_key(session, merchant_id, scope, key, wait=True)
        stored = await repository.find(session, merchant_id, scope, key)
        if stored is not None:
            check_replay(stored.request_hash, fingerprint, key)
            return Once(Outcome(stored.response, stored.status_code), replayed=True)
    await repository.store(
        session, merchant_id, scope, key, fingerprint, outcome.status, outcome.value
    )
    return Once(outcome, replayed=False, result=result)
