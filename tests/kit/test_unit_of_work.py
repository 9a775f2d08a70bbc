"""The unit of work: deadlocks and serialization failures retried as a whole (PostgreSQL), what
a read unit of work does not do (no transaction; on SQLite no write lock), and which errors
mean that no connection could be had."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import DATABASES, SECRET, Databases, _empty_tables
from tests.factories import Factory
from tribekit.kit.db import Database, is_retryable, unavailable
from tribekit.kit.errors import Contention, ServiceUnavailable
from tribekit.models.tenancy import Merchant


@pytest.fixture(params=[d for d in DATABASES if d == "postgresql"])
async def pg(request: pytest.FixtureRequest, databases: Databases) -> AsyncIterator[Database]:
    """PostgreSQL only: deadlocks, serialization failures and pools do not exist on SQLite (one
    writer at a time, a connection per unit of work)."""
    database = await databases.get(request.param)
    yield database
    await _empty_tables(database)


@pytest.fixture
def pg_factory(pg: Database) -> Factory:
    return Factory(pg, SECRET)


async def _two_merchants(factory: Factory) -> tuple[uuid.UUID, uuid.UUID]:
    first, second = await factory.shop("first"), await factory.shop("second")
    return first.tenant.id, second.tenant.id


async def _names(db: Database, *ids: uuid.UUID) -> list[str]:
    async with db.unit_of_work(read_only=True) as session:
        stmt = select(Merchant.name).where(Merchant.id.in_(ids)).order_by(Merchant.slug)
        return list((await session.scalars(stmt)).all())


async def test_a_deadlocked_unit_of_work_runs_again_and_succeeds(
    pg: Database, pg_factory: Factory
) -> None:
    db = pg
    a, b = await _two_merchants(pg_factory)
    both_hold_one = asyncio.Barrier(2)
    runs = {"ab": 0, "ba": 0}

    def lock_in(
        order: str, first: uuid.UUID, second: uuid.UUID
    ) -> Callable[[AsyncSession], Awaitable[str]]:
        async def work(session: AsyncSession) -> str:
            runs[order] += 1
            await session.execute(update(Merchant).where(Merchant.id == first).values(name=order))
            if runs[order] == 1:  # the first run of each waits for the other: a sure deadlock
                await both_hold_one.wait()
            await session.execute(update(Merchant).where(Merchant.id == second).values(name=order))
            return order

        return work

    done = await asyncio.gather(
        db.run(lock_in("ab", a, b)),
        db.run(lock_in("ba", b, a)),
    )
    assert sorted(done) == ["ab", "ba"]
    # PostgreSQL aborted exactly one of them once; that one ran again and committed last.
    assert sorted(runs.values()) == [1, 2]
    retried = "ab" if runs["ab"] == 2 else "ba"
    assert await _names(db, a, b) == [retried, retried]


async def test_a_unit_of_work_that_always_deadlocks_is_contention_after_three_runs(
    pg: Database, pg_factory: Factory
) -> None:
    db = pg
    a, _ = await _two_merchants(pg_factory)
    runs = 0

    async def work(session: AsyncSession) -> None:
        nonlocal runs
        runs += 1
        await session.execute(update(Merchant).where(Merchant.id == a).values(name="changed"))
        # The server raises a real 40P01, as its deadlock detector does.
        await session.execute(text("DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '40P01'; END $$"))

    with pytest.raises(Contention) as raised:
        await db.run(work)
    assert runs == 3
    assert raised.value.status == 503
    assert raised.value.code == "contention"
    assert raised.value.headers == {"Retry-After": "1"}
    assert await _names(db, a) == ["First"]  # nothing of any run was committed


async def test_other_database_errors_are_not_retried(db: Database) -> None:
    runs = 0

    async def work(session: AsyncSession) -> None:
        nonlocal runs
        runs += 1
        await session.execute(text("SELECT * FROM no_such_table"))

    with pytest.raises(DBAPIError, match="no_such_table") as raised:
        await db.run(work)
    assert runs == 1
    assert not is_retryable(raised.value)
    assert unavailable(raised.value) is None


async def test_a_read_unit_of_work_opens_no_transaction(db: Database, factory: Factory) -> None:
    a, _ = await _two_merchants(factory)
    if db.dialect == "postgresql":
        async with db.unit_of_work(read_only=True) as session:
            # Outside a transaction block every statement is its own transaction.
            first = await session.scalar(text("SELECT txid_current()"))
            second = await session.scalar(text("SELECT txid_current()"))
            assert first != second
        async with db.unit_of_work() as session:
            first = await session.scalar(text("SELECT txid_current()"))
            second = await session.scalar(text("SELECT txid_current()"))
            assert first == second
    else:
        # While another connection holds SQLite's write lock, a read unit of work still reads
        # (it takes no BEGIN IMMEDIATE and does not queue behind this process's writers).
        async with db.unit_of_work() as writer:
            await writer.execute(update(Merchant).where(Merchant.id == a).values(name="pending"))
            names = await asyncio.wait_for(_names(db, a), timeout=5)
            assert names == ["First"]  # the uncommitted change is not seen
    assert await _names(db, a) == ["First" if db.dialect == "postgresql" else "pending"]


async def test_a_single_write_in_a_read_unit_of_work_commits_by_itself(
    db: Database, factory: Factory
) -> None:
    a, _ = await _two_merchants(factory)

    async def write_then_fail() -> None:
        async with db.unit_of_work(read_only=True) as session:
            await session.execute(update(Merchant).where(Merchant.id == a).values(name="kept"))
            raise RuntimeError("the route fails after its one write")

    with pytest.raises(RuntimeError, match="after its one write"):
        await write_then_fail()
    assert await _names(db, a) == ["kept"]


async def test_a_pool_timeout_is_unavailable_and_the_pool_recovers(pg: Database) -> None:
    small = Database(pg.url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    try:
        async with small.unit_of_work() as holder:
            await holder.execute(text("SELECT 1"))
            with pytest.raises(PoolTimeout) as raised:
                async with small.unit_of_work() as waiting:
                    await waiting.execute(text("SELECT 1"))
        error = unavailable(raised.value)
        assert isinstance(error, ServiceUnavailable)
        assert (error.status, error.code) == (503, "unavailable")
        assert error.headers == {"Retry-After": "1"}
        async with small.unit_of_work() as session:  # the connection is back in the pool
            assert await session.scalar(text("SELECT 1")) == 1
    finally:
        await small.dispose()
