"""The unit of work, the after-commit outbox and the worker loop's claiming of due rows."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.factories import Factory, Shop
from tribekit.kit import clock, outbox
from tribekit.kit.db import Database
from tribekit.kit.ids import new_id
from tribekit.kit.worker import Sweep, WorkerLoop, claim_due, wake_after_commit
from tribekit.models import Member, StaffSession
from tribekit.orders.payments import ManualProvider
from tribekit.sweeps import all_sweeps
from tribekit.tenancy import repository as repo


async def test_outbox_runs_after_commit_and_is_dropped_on_rollback(db: Database) -> None:
    said: list[str] = []

    async def say(word: str) -> None:
        said.append(word)

    async with db.unit_of_work() as session:
        outbox.on_commit(session, lambda: say("committed"))
        assert said == []  # nothing leaves the process before the commit
    assert said == ["committed"]

    async def failing_work() -> None:
        async with db.unit_of_work() as session:
            outbox.on_commit(session, lambda: say("never"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await failing_work()
    assert said == ["committed"]


async def test_failed_after_commit_callback_does_not_stop_the_others(db: Database) -> None:
    said: list[str] = []

    async def fail() -> None:
        raise RuntimeError("webhook down")

    async def say() -> None:
        said.append("second")

    async with db.unit_of_work() as session:
        outbox.on_commit(session, fail)
        outbox.on_commit(session, say)
    assert said == ["second"]


async def test_unit_of_work_rolls_back_everything_on_error(db: Database, factory: Factory) -> None:
    shop = await factory.shop()

    async def failing_work() -> None:
        async with db.unit_of_work() as session:
            session.add(Member(merchant_id=shop.tenant.id, display_name="ghost", source="manual"))
            await session.flush()
            raise RuntimeError("fail after the write")

    with pytest.raises(RuntimeError):
        await failing_work()
    async with db.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(Member)) == 0


async def _open_sessions(db: Database, shop: Shop, ttls: list[timedelta]) -> None:
    """Web sessions of the shop's owner that expire after ``ttls`` (due rows for the sweep)."""
    async with db.unit_of_work() as session:
        owner = await repo.user_by_email(session, shop.owner_email)
        assert owner is not None
        now = clock.now()
        session.add_all(
            StaffSession(user_id=owner.id, token_hash=new_id().hex, expires_at=now + ttl)
            for ttl in ttls
        )


async def _sessions(db: Database) -> int:
    async with db.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(StaffSession)) or 0)


async def test_worker_purges_expired_sessions_only(db: Database, factory: Factory) -> None:
    shop = await factory.shop()
    await _open_sessions(db, shop, [timedelta(hours=1), timedelta(days=1), timedelta(days=1)])
    sweeps = all_sweeps(db, {"manual": ManualProvider()})
    loop = WorkerLoop(db, sweeps)
    with clock.frozen_at(clock.now() + timedelta(hours=2)):
        done = await loop.run_due_sweeps()
    assert done["tenancy.purge_expired_sessions"] == 1
    assert set(done) == {s.name for s in sweeps}
    assert await _sessions(db) == 2


async def test_concurrent_workers_never_claim_the_same_row(db: Database, factory: Factory) -> None:
    """Two workers sweep 40 due rows at once; each row is handled exactly once."""
    shop = await factory.shop()
    await _open_sessions(db, shop, [timedelta(seconds=1)] * 40)
    handled: list[object] = []

    async def claim_and_hold(session: object, batch_size: int) -> int:
        from sqlalchemy.ext.asyncio import AsyncSession

        assert isinstance(session, AsyncSession)
        due = (
            select(StaffSession)
            .where(StaffSession.expires_at <= clock.now())
            .order_by(StaffSession.id)
        )
        rows = list((await session.scalars(claim_due(due, batch_size))).all())
        await asyncio.sleep(0.05)  # hold the locks while the other worker claims
        handled.extend(r.id for r in rows)
        for row in rows:
            await session.delete(row)
        return len(rows)

    sweep = Sweep("test.claim", claim_and_hold, batch_size=7)
    with clock.frozen_at(clock.now() + timedelta(minutes=1)):
        counts = await asyncio.gather(
            WorkerLoop(db, [sweep]).run_sweep(sweep), WorkerLoop(db, [sweep]).run_sweep(sweep)
        )
    assert sum(counts) == 40
    assert len(handled) == len(set(handled)) == 40
    assert await _sessions(db) == 0


async def test_a_failing_sweep_is_logged_and_the_loop_goes_on(db: Database) -> None:
    async def broken(session: object, batch_size: int) -> int:
        raise RuntimeError("bug")

    async def fine(session: object, batch_size: int) -> int:
        return 0

    loop = WorkerLoop(db, [Sweep("broken", broken), Sweep("fine", fine)])
    assert await loop.run_due_sweeps() == {"fine": 0}
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run_forever(stop))
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert task.done()
    assert task.exception() is None


async def test_a_sweep_woken_after_commit_runs_at_once_and_not_on_rollback(db: Database) -> None:
    runs: list[float] = []

    async def record(session: object, batch_size: int) -> int:
        runs.append(asyncio.get_running_loop().time())
        return 0

    sweep = Sweep("test.woken", record, every_seconds=3600)
    loop = WorkerLoop(db, [sweep], poll_seconds=30)
    stop = asyncio.Event()
    worker = asyncio.create_task(loop.run_forever(stop))
    try:
        for _ in range(100):  # the first turn runs every sweep once
            if runs:
                break
            await asyncio.sleep(0.01)
        assert len(runs) == 1

        async def rolled_back() -> None:
            async with db.unit_of_work() as session:
                wake_after_commit(session, "test.woken")
                raise RuntimeError("nothing committed")

        with pytest.raises(RuntimeError):
            await rolled_back()
        await asyncio.sleep(0.2)
        assert len(runs) == 1  # a rollback wakes nobody

        asked = asyncio.get_running_loop().time()
        async with db.unit_of_work() as session:
            wake_after_commit(session, "test.woken")
        for _ in range(100):
            if len(runs) == 2:
                break
            await asyncio.sleep(0.01)
        assert len(runs) == 2
        assert runs[1] - asked < 0.5  # not its next turn, an hour or 30 s of polling away
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=5)
