"""The worker loop: registered sweeps claim due rows and act on them.

Time-based work is a database row with a due time. A sweep selects due rows with ``claim_due``
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so any number of workers share the work without
doing anything twice; SQLite serialises writers with ``BEGIN IMMEDIATE``), re-checks each row's
state, acts, and returns how many rows it handled. Each sweep run is one unit of work.

A sweep can also be woken: ``wake_after_commit(session, name)`` asks every worker loop of this
process to run the sweep as soon as the transaction that made its work commits, instead of at
its next turn (a robot's reply goes out at once, not a poll later). Best effort: a worker in
another process finds the work at its next turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence, Set
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from . import outbox
from .db import Database
from .logging import request_id_var

log = logging.getLogger(__name__)
S = TypeVar("S", bound=Select[Any])


@dataclass(frozen=True)
class Sweep:
    """``run(session, batch_size)`` handles at most ``batch_size`` due rows, returns how many."""

    name: str
    run: Callable[[AsyncSession, int], Awaitable[int]]
    every_seconds: float = 1.0
    batch_size: int = 100


def claim_due(stmt: S, batch_size: int) -> S:
    """Lock up to ``batch_size`` rows of ``stmt`` that no other worker holds."""
    return stmt.limit(batch_size).with_for_update(skip_locked=True)


@dataclass(eq=False)
class _Listener:
    event: asyncio.Event = field(default_factory=asyncio.Event)
    names: set[str] = field(default_factory=set)

    def take(self) -> set[str]:
        names, self.names = self.names, set()
        self.event.clear()
        return names


class Wakeups:
    """The worker loops running in this process, and the sweeps asked to run now."""

    def __init__(self) -> None:
        self._listeners: set[_Listener] = set()

    def wake(self, name: str) -> None:
        for listener in self._listeners:
            listener.names.add(name)
            listener.event.set()

    @contextlib.contextmanager
    def listening(self) -> Iterator[_Listener]:
        listener = _Listener()
        self._listeners.add(listener)
        try:
            yield listener
        finally:
            self._listeners.discard(listener)


WAKEUPS = Wakeups()


def wake_after_commit(session: AsyncSession, name: str) -> None:
    """Run sweep ``name`` in this process's worker loops once the current transaction commits
    (nothing on rollback)."""

    async def wake() -> None:
        WAKEUPS.wake(name)

    outbox.on_commit(session, wake)


class WorkerLoop:
    def __init__(self, db: Database, sweeps: Sequence[Sweep], *, poll_seconds: float = 1.0) -> None:
        self.db = db
        self.sweeps = list(sweeps)
        self.poll_seconds = poll_seconds
        self._next_run: dict[str, float] = {}

    async def run_sweep(self, sweep: Sweep) -> int:
        """Run ``sweep`` until it finds less than a full batch; returns the rows handled."""
        total = 0
        token = request_id_var.set(f"sweep:{sweep.name}")
        try:
            while True:
                # A run that PostgreSQL aborts for a deadlock runs again at once, in a new
                # unit of work (``Database.run``), instead of waiting for the next turn.
                handled = await self.db.run(lambda session: sweep.run(session, sweep.batch_size))
                total += handled
                if handled < sweep.batch_size:
                    return total
        finally:
            request_id_var.reset(token)

    async def run_due_sweeps(self, woken: Set[str] = frozenset()) -> dict[str, int]:
        """Run the sweeps whose turn it is, and the ``woken`` ones whatever their turn."""
        loop = asyncio.get_running_loop()
        done: dict[str, int] = {}
        for sweep in self.sweeps:
            if sweep.name not in woken and self._next_run.get(sweep.name, 0.0) > loop.time():
                continue
            try:
                done[sweep.name] = await self.run_sweep(sweep)
            except Exception:
                log.exception("sweep failed; it will be retried", extra={"sweep": sweep.name})
            self._next_run[sweep.name] = loop.time() + sweep.every_seconds
        return done

    async def run_forever(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        log.info("worker loop started", extra={"sweeps": [s.name for s in self.sweeps]})
        with WAKEUPS.listening() as listener:
            woken: set[str] = set()
            while not stop.is_set():
                await self.run_due_sweeps(woken)
                if not listener.event.is_set():
                    await _first(stop, listener.event, seconds=self.poll_seconds)
                woken = listener.take()
        log.info("worker loop stopped")


async def _first(*events: asyncio.Event, seconds: float) -> None:
    """Wait until one of ``events`` is set, or ``seconds``."""
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
