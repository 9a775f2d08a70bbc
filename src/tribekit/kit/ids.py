"""Identifiers: UUIDv7 (RFC 9562), time-ordered, so primary-key order is creation order and
inserts stay index-friendly.

Within one millisecond a 12-bit counter (``rand_a``, RFC 9562 method 1) keeps the ids made by this
process strictly increasing: rows written in one request come back in the order they were made.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
import uuid

_lock = threading.Lock()
_last_millis = 0
_counter = 0
_COUNTER_MAX = 0xFFF


def new_id() -> uuid.UUID:
    global _last_millis, _counter
    with _lock:
        millis = time.time_ns() // 1_000_000
        if millis > _last_millis:
            _last_millis = millis
            _counter = secrets.randbelow(1 << 10)  # random start; leaves room to count up
        else:  # same millisecond, or the clock stepped back: count on from the last id
            _counter += 1
            if _counter > _COUNTER_MAX:
                _last_millis += 1
                _counter = 0
        millis, counter = _last_millis, _counter
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version 7
    value |= counter << 64  # rand_a used as the counter
    value |= 0b10 << 62  # RFC 4122 variant
    value |= int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)  # rand_b
    return uuid.UUID(int=value)
