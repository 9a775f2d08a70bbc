"""Send pacing for the chat platforms: a slot under several rates at once, shared by every
process that sends for the same robot.

A platform states its limits as rates (Telegram: about 30 messages a second per bot and 20 a
minute per group). ``reserve`` books the next moment at which one more send keeps under every
rate given, all of them or none, and says how long to wait for it; the caller sleeps that long
and sends. Slots are spaced evenly (one every ``period / limit`` seconds under each rate), so
no window of any length ever holds more than the rate allows: a platform counting over a
sliding window never answers 429. ``pause`` keeps a key shut for as long as a platform asked
(a 429's ``retry_after``), for every process.

Backends behind one Protocol: Redis (one script per reservation), PostgreSQL (one locked row
per key, ``rate_slots``) and memory (one process: the embedded SQLite mode). Once PostgreSQL
or Redis is configured, pacing is never per process (``build_throttle``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Column, DateTime, String, Table

from .db import Base

#: The PostgreSQL backend's state: per key, the time at which its next slot is free.
rate_slots = Table(
    "rate_slots",
    Base.metadata,
    Column("key", String(200), primary_key=True),
    Column("free_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class Rate:
    """At most ``limit`` sends per ``period`` seconds under ``key``."""

    key: str
    limit: int
    period: float

    @property
    def spacing(self) -> float:
        return self.period / self.limit


@dataclass(frozen=True)
class Slot:
    """``reserved``: a slot is booked ``wait`` seconds from now. Otherwise nothing was booked:
    the next free slot is ``wait`` seconds away, further than the caller would wait."""

    reserved: bool
    wait: float


class Throttle(Protocol):
    async def reserve(self, rates: Sequence[Rate], *, within: float) -> Slot:
        """Book the next slot free under every rate at once, if it is at most ``within``
        seconds away."""
        ...

    async def pause(self, key: str, seconds: float) -> None:
        """No slot under ``key`` for ``seconds`` from now (the platform asked to wait)."""
        ...


class MemoryThrottle:
    """For one process (the embedded mode)."""

    def __init__(self) -> None:
        self._free_at: dict[str, float] = {}

    async def reserve(self, rates: Sequence[Rate], *, within: float) -> Slot:
        now = time.monotonic()
        at = max([now, *(self._free_at.get(rate.key, now) for rate in rates)])
        if at - now > within:
            return Slot(False, at - now)
        for rate in rates:
            self._free_at[rate.key] = at + rate.spacing
        return Slot(True, at - now)

    async def pause(self, key: str, seconds: float) -> None:
        now = time.monotonic()
        self._free_at[key] = max(self._free_at.get(key, now), now + seconds)
