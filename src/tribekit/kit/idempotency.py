"""Idempotency keys: one business event, one effect.

A caller (or a domain reacting to an event) sends a key with each state-changing request. The
first request with a key does the work and stores a fingerprint of what was asked next to its
result; the same key with the same request gets the stored result again, the same key with a
different request is refused (422 ``idempotency_key_reused``), and a duplicate racing the first
one gets a 409 ``idempotency_in_progress``.

These are the rules every idempotent path of Tribekit shares. Two ways of keeping the result
build on them:

* the result is a business row that carries the key and the fingerprint itself (a ledger
  entry, a purchase counted toward levels, a plan period): ``check_replay`` on the row found by
  key, ``insert_keyed`` for the new one (the unique key decides a race);
* the result is an answer to replay (an HTTP response, a chat command's reply): the service in
  ``tribekit/idempotency/service.py`` (``run_once``) stores it per merchant, scope and key.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from .db import add_unique
from .errors import IdempotencyInProgress, IdempotencyKeyReused

MAX_KEY_LENGTH = 150


def fingerprint(operation: str, **fields: Any) -> str:
    """A stable digest of an operation and its arguments."""
    payload = json.dumps({"op": operation, **fields}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def check_replay(stored_hash: str, request_hash: str, key: str) -> None:
    """Raise unless the stored request is the one being made again."""
    if stored_hash != request_hash:
        raise IdempotencyKeyReused(
            f"idempotency key {key!r} was already used for a different request; "
            "send a new key for a new request",
            key=key,
        )


def in_progress(key: str, what: str = "") -> IdempotencyInProgress:
    """The 409 for a duplicate that raced the first request with ``key``."""
    return IdempotencyInProgress(
        f"another request with idempotency key {key!r}{what} is being handled; "
        "retry to get its result",
        key=key,
    )


async def insert_keyed(session: AsyncSession, key: str, *rows: object, what: str = "") -> None:
    """Insert rows whose unique columns include ``key``, in a savepoint: when a concurrent
    request with the same key inserted first, a 409 ``idempotency_in_progress`` (its retry then
    finds the stored row and replays it)."""
    error = in_progress(key, what)
    await add_unique(session, error.detail, *rows, error=IdempotencyInProgress)
