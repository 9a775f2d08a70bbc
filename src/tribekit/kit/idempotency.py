"""Idempotency keys: one business event, one effect.

A caller (or a domain reacting to an event) sends a key with each state-changing request. The
first request with a key does the work and stores a fingerprint of what was asked next to its
result; the same key with the same request gets the stored result again, the same key with a
different request is refused, and a duplicate racing the first one gets a 409.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .errors import IdempotencyKeyReused

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
