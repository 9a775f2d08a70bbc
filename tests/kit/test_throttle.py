"""Send pacing behaves the same in memory, in Redis and in PostgreSQL: slots of one key are
exactly one spacing apart, a reservation books every key or none, ``within`` and ``pause`` are
honoured; in Redis and PostgreSQL, processes booking on one key at once never get slots closer
than the spacing. Production refuses to start with neither store to share it in.

The exact checks read the store: a key's next free time (µs on the store's clock) moves by
exactly its spacing per booking. Waits are measured from the caller's side and compared within
a tolerance that covers a round trip."""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from tests.conftest import DATABASES, Databases, test_settings
from tribekit.api.app import create_app
from tribekit.cli import app as cli
from tribekit.kit.db import Database
from tribekit.kit.errors import ServiceUnavailable
from tribekit.kit.settings import Settings, get_settings
from tribekit.kit.throttle import (
    MemoryThrottle,
    Rate,
    RedisThrottle,
    SharedPacingRequired,
    Slot,
    SqlThrottle,
    Throttle,
    build_throttle,
    check_shared_pacing,
    rate_slots,
)

BACKENDS = ["memory", "redis", *(["postgresql"] if "postgresql" in DATABASES else [])]
SHARED = [b for b in BACKENDS if b != "memory"]
SECRET = "throttle-test-secret-key-long-enough"
#: How far a wait seen by the caller may be from the store's: a few round trips, on a loaded
#: machine.
NEAR = 0.1

BOT = Rate("bot", 4, 1.0)  # one slot every 0.25 s: exact in binary and in µs
GROUP = Rate("group", 1, 1.0)  # one every second


def exactly(microseconds: float) -> object:
    """A time in µs: exact in the stores (whole µs), to the nanosecond in memory (floats)."""
    return pytest.approx(microseconds, abs=0.001)


def arrives(slot: Slot) -> float:
    """When ``slot`` is on this machine's monotonic clock, for an answer that just came."""
    return time.monotonic() + slot.wait


@dataclass
class Backend:
    name: str
    throttle: Throttle
    url: str = ""  # where another process reaches the same store
    redis: Redis | None = None
    db: Database | None = None

    async def free_at(self, key: str) -> float | None:
        """The key's next free time in µs on the store's clock; None if it was never booked."""
        if isinstance(self.throttle, MemoryThrottle):
            free = self.throttle._free_at.get(key)
            return None if free is None else free * 1_000_000
        if self.redis is not None:
            value = await self.redis.get("tribekit:{pace}:" + key)
            return None if value is None else int(value)
        assert self.db is not None
        microseconds = text("(extract(epoch from free_at) * 1000000)::bigint")

        async def read(session: AsyncSession) -> int | None:
            query = select(microseconds).select_from(rate_slots).where(rate_slots.c.key == key)
            found = await session.scalar(query)
            return None if found is None else int(found)

        return await self.db.run(read, read_only=True)

    async def free(self, key: str) -> float:
        """The key's next free time, which it has."""
        found = await self.free_at(key)
        assert found is not None
        return found


async def _clear_slots(db: Database) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(delete(rate_slots))


@pytest.fixture
async def postgres(databases: Databases) -> AsyncIterator[Database]:
    db = await databases.get("postgresql")
    await _clear_slots(db)
    yield db
    await _clear_slots(db)


def _redis_url(redis: Redis) -> str:
    kwargs = redis.connection_pool.connection_kwargs
    return f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs['db']}"


def _backend(request: pytest.FixtureRequest, name: str) -> Backend:
    if name == "memory":
        return Backend("memory", MemoryThrottle())
    if name == "redis":
        redis: Redis = request.getfixturevalue("redis")
        return Backend("redis", RedisThrottle(redis), _redis_url(redis), redis=redis)
    db: Database = request.getfixturevalue("postgres")
    return Backend("postgresql", SqlThrottle(db), db.url, db=db)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    return _backend(request, request.param)


@pytest.fixture(params=SHARED)
def shared(request: pytest.FixtureRequest) -> Backend:
    return _backend(request, request.param)


# --- one process -------------------------------------------------------------------------------


async def test_slots_of_one_key_are_one_spacing_apart(backend: Backend) -> None:
    slots = []
    moments = []  # on this machine's clock: when the answer came, plus the wait
    free = []
    for _ in range(5):
        slot = await backend.throttle.reserve([BOT], within=10)
        moments.append(arrives(slot))
        slots.append(slot)
        free.append(await backend.free("bot"))
    assert all(slot.reserved for slot in slots)
    assert slots[0].wait == 0
    assert [m - moments[0] for m in moments] == pytest.approx([0, 0.25, 0.5, 0.75, 1.0], abs=NEAR)
    assert [b - a for a, b in itertools.pairwise(free)] == [exactly(250_000)] * 4


async def test_every_key_is_booked_at_the_moment_all_are_free(backend: Backend) -> None:
    first = await backend.throttle.reserve([BOT, GROUP], within=10)
    start = time.monotonic()
    bot, group = await backend.free("bot"), await backend.free("group")
    assert first == Slot(True, 0.0)
    assert group - bot == exactly(750_000)  # one moment, each its spacing
    # The bot alone is free after its own spacing; with the group, when the group is free.
    alone = await backend.throttle.reserve([BOT], within=10)
    assert arrives(alone) == pytest.approx(start + 0.25, abs=NEAR)
    both = await backend.throttle.reserve([GROUP, BOT], within=10)
    assert both.reserved
    assert arrives(both) == pytest.approx(start + 1.0, abs=NEAR)
    assert await backend.free_at("bot") == exactly(group + 250_000)
    assert await backend.free_at("group") == exactly(group + 1_000_000)


async def test_a_key_far_ahead_books_nothing_for_the_others(backend: Backend) -> None:
    minute = Rate("group", 1, 60.0)
    assert await backend.throttle.reserve([minute], within=0) == Slot(True, 0.0)
    start = time.monotonic()
    group = await backend.free("group")

    refused = await backend.throttle.reserve([BOT, minute], within=5)

    assert not refused.reserved
    assert arrives(refused) == pytest.approx(start + 60, abs=NEAR)
    bot = await backend.free_at("bot")  # PostgreSQL has a row for it: free since the call
    assert bot is None or bot < group  # nothing booked (a booking puts it past the group's)
    assert await backend.free_at("group") == group
    assert await backend.throttle.reserve([BOT], within=0) == Slot(True, 0.0)


async def test_a_slot_further_than_within_is_not_booked(backend: Backend) -> None:
    assert await backend.throttle.reserve([GROUP], within=0) == Slot(True, 0.0)
    start = time.monotonic()
    free = await backend.free("group")

    refused = await backend.throttle.reserve([GROUP], within=0.5)
    assert not refused.reserved
    assert 0.5 < refused.wait <= 1.0
    assert arrives(refused) == pytest.approx(start + 1.0, abs=NEAR)
    assert await backend.free_at("group") == free

    booked = await backend.throttle.reserve([GROUP], within=1.0)
    assert booked.reserved
    assert arrives(booked) == pytest.approx(start + 1.0, abs=NEAR)
    assert await backend.free_at("group") == exactly(free + 1_000_000)


async def test_a_pause_keeps_the_key_shut_and_a_shorter_one_does_not_shorten_it(
    backend: Backend,
) -> None:
    await backend.throttle.reserve([BOT], within=0)
    await backend.throttle.pause("bot", 30)
    start = time.monotonic()
    await backend.throttle.pause("bot", 1)  # the longer pause stands

    refused = await backend.throttle.reserve([BOT, GROUP], within=10)
    assert not refused.reserved
    assert arrives(refused) == pytest.approx(start + 30, abs=NEAR)
    group = await backend.free_at("group")
    assert group is None or group < await backend.free("bot")  # not booked past the pause

    paused = await backend.free("bot")
    booked = await backend.throttle.reserve([BOT], within=31)
    assert booked.reserved
    assert arrives(booked) == pytest.approx(start + 30, abs=NEAR)
    assert await backend.free_at("bot") == exactly(paused + 250_000)


async def test_a_pause_shuts_a_key_never_booked(backend: Backend) -> None:
    await backend.throttle.pause("group", 5)
    start = time.monotonic()
    refused = await backend.throttle.reserve([GROUP], within=1)
    assert not refused.reserved
    assert arrives(refused) == pytest.approx(start + 5, abs=NEAR)


async def test_no_rates_is_a_slot_now(backend: Backend) -> None:
    assert await backend.throttle.reserve([], within=0) == Slot(True, 0.0)


async def test_concurrent_reservations_on_two_keys_in_either_order_get_distinct_slots(
    backend: Backend,
) -> None:
    # 40 tasks from a barrier, each on its own connection (PostgreSQL's pool is 20 + 20),
    # half naming the keys in the other order: no deadlock, one slot each, one second apart.
    n = 40
    barrier = asyncio.Barrier(n)
    a, b = Rate("a", 1, 1.0), Rate("b", 1, 1.0)

    async def one(i: int) -> tuple[float, Slot]:
        await barrier.wait()
        slot = await backend.throttle.reserve([a, b] if i % 2 else [b, a], within=1000)
        return time.monotonic(), slot  # booked at most a round trip before

    answers = await asyncio.gather(*(one(i) for i in range(n)))
    assert all(slot.reserved for _, slot in answers)
    moments = sorted(answered + slot.wait for answered, slot in answers)
    assert sorted(round(m - moments[0]) for m in moments) == list(range(n))
    assert await backend.free_at("a") == await backend.free_at("b")


# --- across processes --------------------------------------------------------------------------

PROCESSES = 6
EACH = 8
SPACING = 0.5
#: How late a booked moment may be seen by the caller: the commit and the answer's way back,
#: on a loaded machine (a slot shared by two processes would be 0.5 s off).
LATE = 0.15

# A process that books EACH slots on one key once told to start (a line on stdin) and prints,
# for each, when the call began and ended (this machine's clock) and the store's answer. It
# imports only the throttle, so that six of them start in a few seconds.
_BOOKER = """
import asyncio, json, sys, time
from tribekit.kit.db import Database
from tribekit.kit.throttle import Rate, RedisThrottle, SqlThrottle
from redis.asyncio import Redis

async def main(backend, url, count):
    redis = Redis.from_url(url) if backend == "redis" else None
    db = Database(url, pool_size=1) if backend == "postgresql" else None
    throttle = RedisThrottle(redis) if redis is not None else SqlThrottle(db)
    await throttle.pause("warm-up", 0.001)  # connected before the start
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    booked = []
    for _ in range(count):
        before = time.time()
        slot = await throttle.reserve([Rate("bot", 2, 1.0)], within=1000)
        booked.append([before, time.time(), slot.reserved, slot.wait])
    print(json.dumps(booked), flush=True)
    if redis is not None:
        await redis.aclose()
    if db is not None:
        await db.dispose()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


async def test_processes_booking_one_key_at_once_get_slots_one_spacing_apart(
    shared: Backend,
) -> None:
    bookers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _BOOKER,
            shared.name,
            shared.url,
            str(EACH),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(PROCESSES)
    ]
    try:
        for booker in bookers:  # every one connected: then all start at once
            assert booker.stdout is not None
            assert await asyncio.wait_for(booker.stdout.readline(), 120) == b"ready\n"
        for booker in bookers:
            assert booker.stdin is not None
            booker.stdin.write(b"go\n")
            await booker.stdin.drain()
        answers = [await asyncio.wait_for(booker.communicate(), 120) for booker in bookers]
    finally:
        for booker in bookers:
            if booker.returncode is None:
                booker.kill()
                await booker.wait()
    assert [booker.returncode for booker in bookers] == [0] * PROCESSES
    booked = [entry for stdout, _ in answers for entry in json.loads(stdout)]
    assert len(booked) == PROCESSES * EACH
    assert all(reserved for _, _, reserved, _ in booked)
    # Each booked moment on this machine's clock: the store booked it at most LATE before the
    # caller had its answer.
    moments = sorted(after + wait for _, after, _, wait in booked)
    gaps = [b - a for a, b in itertools.pairwise(moments)]
    assert min(gaps) >= SPACING - LATE
    # Exactly one booking in each of the first 48 slots: none shared, none skipped.
    slots = sorted(round((m - moments[0]) / SPACING) for m in moments)
    assert slots == list(range(PROCESSES * EACH))
    assert await shared.free_at("bot") is not None


# --- errors, choice of backend, the production check ---------------------------------------------


async def test_redis_out_of_reach_is_service_unavailable() -> None:
    redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    throttle = RedisThrottle(redis)
    try:
        with pytest.raises(ServiceUnavailable, match="send pacing store is unavailable"):
            await throttle.reserve([BOT], within=1)
        with pytest.raises(ServiceUnavailable, match="send pacing store is unavailable"):
            await throttle.pause("bot", 1)
    finally:
        await redis.aclose()


async def test_postgresql_out_of_reach_is_service_unavailable() -> None:
    db = Database("postgresql+asyncpg://postgres@127.0.0.1:1/tribekit", pool_timeout=1)
    try:
        with pytest.raises(ServiceUnavailable, match="database cannot be reached"):
            await SqlThrottle(db).reserve([BOT], within=1)
    finally:
        await db.dispose()


async def test_the_throttle_is_redis_else_postgresql_else_memory(
    db: Database, redis: Redis
) -> None:
    settings = Settings(database_url=db.url, secret_key=SECRET)
    expected = SqlThrottle if db.dialect == "postgresql" else MemoryThrottle
    assert type(build_throttle(settings, db, None)) is expected
    with_redis = Settings(database_url=db.url, secret_key=SECRET, redis_url=_redis_url(redis))
    assert type(build_throttle(with_redis, db, redis)) is RedisThrottle
    with pytest.raises(ValueError, match="TRIBEKIT_REDIS_URL is set"):
        build_throttle(with_redis, db, None)


async def test_the_app_paces_sends_where_it_was_told(db: Database, redis: Redis) -> None:
    application = create_app(test_settings(db), db=db)
    async with application.router.lifespan_context(application):
        expected = SqlThrottle if db.dialect == "postgresql" else MemoryThrottle
        assert type(application.state.tribekit.throttle) is expected
    application = create_app(test_settings(db), db=db, redis=redis)
    async with application.router.lifespan_context(application):
        assert type(application.state.tribekit.throttle) is RedisThrottle


def test_production_refuses_sqlite_without_redis(tmp_path: Path) -> None:
    sqlite = f"sqlite+aiosqlite:///{tmp_path / 'tribekit.db'}"
    with pytest.raises(SharedPacingRequired) as refused:
        check_shared_pacing(Settings(env="production", secret_key=SECRET, database_url=sqlite))
    assert "TRIBEKIT_REDIS_URL" in str(refused.value)
    assert "TRIBEKIT_DATABASE_URL" in str(refused.value)
    check_shared_pacing(Settings(secret_key=SECRET, database_url=sqlite))  # development: fine


def test_production_accepts_redis_or_postgresql(tmp_path: Path) -> None:
    sqlite = f"sqlite+aiosqlite:///{tmp_path / 'tribekit.db'}"
    postgres = "postgresql+asyncpg://tribekit@db.internal/tribekit"
    for settings in (
        Settings(env="production", secret_key=SECRET, database_url=sqlite, redis_url="redis://r"),
        Settings(env="production", secret_key=SECRET, database_url=postgres),
        Settings(env="production", secret_key=SECRET, database_url=postgres, redis_url="redis://r"),
    ):
        check_shared_pacing(settings)


async def test_the_app_refuses_to_start_in_production_on_sqlite(tmp_path: Path) -> None:
    settings = Settings(
        env="production",
        secret_key=SECRET,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'tribekit.db'}",
    )
    application = create_app(settings)
    with pytest.raises(SharedPacingRequired, match="TRIBEKIT_REDIS_URL"):
        async with application.router.lifespan_context(application):
            pass


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_serve_and_worker_refuse_to_start_in_production_on_sqlite(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "tribekit.db"
    monkeypatch.setenv("TRIBEKIT_ENV", "production")
    monkeypatch.setenv("TRIBEKIT_SECRET_KEY", SECRET)
    monkeypatch.setenv("TRIBEKIT_DATABASE_URL", f"sqlite+aiosqlite:///{database}")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, [command])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2, result.output
    assert "TRIBEKIT_REDIS_URL" in result.output
    assert "TRIBEKIT_DATABASE_URL" in result.output
    assert not database.exists()  # stopped before the schema was touched
