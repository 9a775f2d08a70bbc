"""The clock. All code asks ``clock.now()``; tests freeze or move it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta


class FrozenClock:
    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("a frozen clock needs a timezone-aware datetime")
        self.at = at.astimezone(UTC)

    def now(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at += delta


_frozen: ContextVar[FrozenClock | None] = ContextVar("tribekit_frozen_clock", default=None)


def now() -> datetime:
    """The current time, timezone-aware UTC."""
    frozen = _frozen.get()
    return frozen.now() if frozen is not None else datetime.now(UTC)


@contextmanager
def frozen_at(at: datetime) -> Iterator[FrozenClock]:
    """Freeze ``now()`` for the current context (and tasks started from it)."""
    clock = FrozenClock(at)
    token = _frozen.set(clock)
    try:
        yield clock
    finally:
        _frozen.reset(token)


def add_months(at: datetime, months: int) -> datetime:
    """``at`` moved by whole calendar months; the 31st becomes the last day of a shorter month."""
    index = at.month - 1 + months
    year, month = at.year + index // 12, index % 12 + 1
    days = [31, 29 if _leap(year) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    return at.replace(year=year, month=month, day=min(at.day, days[month - 1]))


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
