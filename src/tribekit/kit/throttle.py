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
or Redis is configured, pacing is never per process (``build_throttle``), and production
refuses to start without one of them (``check_shared_pacing``).

The shared backends read the clock of the store (Redis ``TIME``, PostgreSQL
``clock_timestamp()``), so every process books on one clock whatever its own says, and keep
times in whole microseconds: a spacing is rounded up to the next microsecond, never down.
A slot is booked when the store answers; the caller sends ``wait`` seconds after it receives
the answer, so a send is late by the answer's way back (well under a millisecond on one
network), never early. A store that cannot be reached raises ``ServiceUnavailable``: sends are
never paced per process behind the operator's back.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Protocol, TypeVar

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import (
    Column,
    DateTime,
    Interval,
    Select,
    String,
    Table,
    any_,
    bindparam,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from .db import Base, Database, unavailable
from .errors import ServiceUnavailable
from .settings import Settings

T = TypeVar("T")

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
        for rate in rates:  # a key under two rates keeps the wider spacing, as in the stores
            self._free_at[rate.key] = max(self._free_at.get(rate.key, at), at + rate.spacing)
        return Slot(True, at - now)

    async def pause(self, key: str, seconds: float) -> None:
        now = time.monotonic()
        self._free_at[key] = max(self._free_at.get(key, now), now + seconds)


_UNAVAILABLE = "the send pacing store is unavailable; retry in a moment"


def _microseconds(seconds: float) -> int:
    """Whole microseconds, rounded up (a spacing never shrinks); float noise below a
    nanosecond is not rounded up (1 / 20 s is 50000 µs, not 50001)."""
    return math.ceil(round(seconds * 1_000_000, 3))


def _within(seconds: float) -> int:
    """``within`` in whole microseconds, rounded down (never waits longer than asked)."""
    return max(0, math.floor(round(seconds * 1_000_000, 3)))


def _spacings(rates: Sequence[Rate]) -> dict[str, int]:
    """Each key's spacing in microseconds; a key under two rates keeps the wider one."""
    spacings: dict[str, int] = {}
    for rate in rates:
        spacings[rate.key] = max(spacings.get(rate.key, 0), _microseconds(rate.spacing))
    return spacings


# KEYS: the rates' keys. ARGV[1]: within (µs); ARGV[i + 1]: the spacing of KEYS[i] (µs).
# A key holds the time its next slot is free (µs since the epoch on Redis's clock) and expires
# then. Returns {1, wait} when the slot was booked, {0, wait} when nothing was; wait in µs.
# '%.0f': a Lua number becomes a string with 14 significant digits otherwise, and a time in µs
# has 16.
_RESERVE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local at = now
local free = redis.call('MGET', unpack(KEYS))
for i = 1, #KEYS do
  local f = tonumber(free[i])
  if f ~= nil and f > at then at = f end
end
if at - now > tonumber(ARGV[1]) then return {0, at - now} end
for i = 1, #KEYS do
  local next_free = at + tonumber(ARGV[i + 1])
  redis.call('SET', KEYS[i], string.format('%.0f', next_free),
    'PX', math.ceil((next_free - now) / 1000))
end
return {1, at - now}
"""

# KEYS[1]: the key. ARGV[1]: how long it stays shut (µs). Its free time becomes at least then.
_PAUSE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local until_ = now + tonumber(ARGV[1])
local free = tonumber(redis.call('GET', KEYS[1]))
if free ~= nil and free >= until_ then return 0 end
redis.call('SET', KEYS[1], string.format('%.0f', until_), 'PX', math.ceil(tonumber(ARGV[1]) / 1000))
return 1
"""


class RedisThrottle:
    """Shared by every process that uses the same Redis: one script per reservation, on Redis's
    clock. Every key carries the hash tag ``{pace}``, so the keys of one reservation are in
    one slot of a Redis Cluster (a multi-key script needs that)."""

    def __init__(self, redis: Redis, prefix: str = "tribekit:{pace}:") -> None:
        self._prefix = prefix
        self._reserve = redis.register_script(_RESERVE_LUA)
        self._pause = redis.register_script(_PAUSE_LUA)

    async def reserve(self, rates: Sequence[Rate], *, within: float) -> Slot:
        spacings = _spacings(rates)
        if not spacings:
            return Slot(True, 0.0)
        keys = [self._prefix + key for key in spacings]
        args = [_within(within), *spacings.values()]
        try:
            booked, wait_us = await self._reserve(keys=keys, args=args)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            # MaxConnectionsError and "no connection available" are ConnectionErrors too.
            raise ServiceUnavailable(_UNAVAILABLE) from exc
        return Slot(int(booked) == 1, int(wait_us) / 1_000_000)

    async def pause(self, key: str, seconds: float) -> None:
        if seconds <= 0:
            return  # a key is never free before now: nothing to move
        try:
            await self._pause(keys=[self._prefix + key], args=[_microseconds(seconds)])
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise ServiceUnavailable(_UNAVAILABLE) from exc


# The PostgreSQL backend's statements, built once: the keys and spacings go in as arrays, so
# one SQL text (compiled once by SQLAlchemy, prepared once per connection by asyncpg) serves
# any number of keys.
_KEYS = bindparam("keys", type_=ARRAY(String))
_SPACINGS = bindparam("spacings", type_=ARRAY(Interval))
_WITHIN = bindparam("within", type_=Interval)

_given = func.unnest(_KEYS).table_valued("key").render_derived(name="given")
#: The keys not seen before get a row (free from now); the others are left alone.
_INSERT_KEYS = (
    pg_insert(rate_slots)
    .from_select(["key", "free_at"], select(_given.c.key, func.now()))
    .on_conflict_do_nothing()
)
#: The keys' rows, locked in key order.
_LOCK_KEYS = (
    select(rate_slots.c.key)
    .where(rate_slots.c.key == any_(_KEYS))
    .order_by(rate_slots.c.key)
    .with_for_update()
)


def _book_statement() -> Select[Decimal, int]:
    """With the rows locked: one row holding the clock (read once, now) and the moment every
    key is free; the rows' free times moved one spacing past it if it is at most ``within``
    away; answered as (seconds to wait, rows booked)."""
    locked = (
        select(
            func.clock_timestamp().label("now"),
            func.max(rate_slots.c.free_at).label("free"),
        )
        .where(rate_slots.c.key == any_(_KEYS))
        .subquery("locked")
    )
    slot = select(locked.c.now, func.greatest(locked.c.now, locked.c.free).label("at")).cte("slot")
    # Read through scalar subqueries, so that the update joins its rows by key only.
    at = select(slot.c.at).scalar_subquery()
    wait = select(slot.c.at - slot.c.now).scalar_subquery()
    spacing = (
        func.unnest(_KEYS, _SPACINGS)
        .table_valued("key", "spacing")
        .render_derived(name="spacing", with_types=False)
    )
    booked = (
        update(rate_slots)
        .values(free_at=at + spacing.c.spacing)
        .where(rate_slots.c.key == spacing.c.key, wait <= _WITHIN)
        .returning(rate_slots.c.key)
        .cte("booked")
    )
    return select(
        func.extract("epoch", wait),
        select(func.count()).select_from(booked).scalar_subquery(),
    )


_BOOK = _book_statement()

_SHUT = bindparam("shut", type_=Interval)
_paused = pg_insert(rate_slots).values(key=bindparam("key"), free_at=func.clock_timestamp() + _SHUT)
#: A key's free time moved to at least now + ``shut``.
_PAUSE = _paused.on_conflict_do_update(
    index_elements=[rate_slots.c.key],
    set_={"free_at": func.greatest(rate_slots.c.free_at, _paused.excluded.free_at)},
)


class SqlThrottle:
    """Shared by every process on one PostgreSQL database: a row per key in ``rate_slots``.

    A reservation is its own short unit of work, never the caller's transaction (whose locks
    would be held while it sleeps): insert the keys not seen before (``ON CONFLICT DO
    NOTHING``), lock the keys' rows in key order (``FOR UPDATE``: two reservations sharing a
    key queue for it, and no two deadlock), then one statement reads the clock, books and
    answers, and the unit of work commits: five round trips with BEGIN and COMMIT. The clock
    is read after the locks are held (``clock_timestamp()``), so a reservation that queued
    books from the moment it got the rows, not from when it began waiting. A row per key
    stays in the table (a robot, a group: a few thousand rows)."""

    def __init__(self, db: Database) -> None:
        if db.dialect != "postgresql":
            raise ValueError(f"SqlThrottle needs PostgreSQL, not {db.dialect}")
        self._db = db

    async def reserve(self, rates: Sequence[Rate], *, within: float) -> Slot:
        spacings = _spacings(rates)
        if not spacings:
            return Slot(True, 0.0)
        keys = sorted(spacings)
        params = {
            "keys": keys,
            "spacings": [timedelta(microseconds=spacings[key]) for key in keys],
            "within": timedelta(microseconds=_within(within)),
        }

        async def book(session: AsyncSession) -> Slot:
            await session.execute(_INSERT_KEYS, params)
            await session.execute(_LOCK_KEYS, params)
            wait, count = (await session.execute(_BOOK, params)).one()
            return Slot(count > 0, float(wait))

        return await self._run(book)

    async def pause(self, key: str, seconds: float) -> None:
        if seconds <= 0:
            return  # a key is never free before now: nothing to move
        params = {"key": key, "shut": timedelta(microseconds=_microseconds(seconds))}

        async def hold(session: AsyncSession) -> None:
            await session.execute(_PAUSE, params)

        await self._run(hold)

    async def _run(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        try:
            return await self._db.run(work)
        except ServiceUnavailable:
            raise  # Contention: retried as often as the database allows
        except Exception as exc:
            problem = unavailable(exc)
            if problem is None:
                raise
            raise problem from exc


class SharedPacingRequired(RuntimeError):
    """Production with neither Redis nor PostgreSQL: each process would pace its own sends."""


def check_shared_pacing(settings: Settings) -> None:
    """Refuse production without a store that every process shares for send pacing."""
    if not settings.is_production or settings.redis_url:
        return
    if settings.database_url.startswith("postgresql"):
        return
    raise SharedPacingRequired(
        "TRIBEKIT_ENV=production needs TRIBEKIT_REDIS_URL or a PostgreSQL "
        "TRIBEKIT_DATABASE_URL (postgresql+asyncpg://...): chat sends are paced under the "
        "platforms' limits in one of them for every process, and with SQLite and no Redis "
        "each process would pace its own sends and together exceed those limits"
    )


def build_throttle(settings: Settings, db: Database, redis: Redis | None) -> Throttle:
    """Redis when configured, else PostgreSQL, else memory (SQLite: the embedded mode, one
    process). ``redis`` is the process's client for ``TRIBEKIT_REDIS_URL``."""
    check_shared_pacing(settings)
    if settings.redis_url and redis is None:
        raise ValueError("TRIBEKIT_REDIS_URL is set: build the throttle with its Redis client")
    if redis is not None:
        return RedisThrottle(redis)
    if db.dialect == "postgresql":
        return SqlThrottle(db)
    return MemoryThrottle()


def sharing(throttle: Throttle) -> str:
    """Where ``throttle`` keeps its slots, for a start-up line."""
    if isinstance(throttle, RedisThrottle):
        return "shared by every process in Redis"
    if isinstance(throttle, SqlThrottle):
        return "shared by every process in PostgreSQL"
    return "kept in this process"
