"""``outside_transaction``: a unit of work commits part-way for a call that leaves the process.
What it wrote before is committed (and its outbox flushed), nothing of it is held during the
block (not a row lock, not SQLite's writer turn), and what it writes after is committed by the
boundary as usual, or rolled back alone."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import Factory
from tribekit.kit import outbox
from tribekit.kit.db import Database, midway_commits, outside_transaction
from tribekit.models.tenancy import Merchant


class Boom(Exception):
    pass


async def rename(session: AsyncSession, merchant_id: uuid.UUID, name: str) -> None:
    await session.execute(update(Merchant).where(Merchant.id == merchant_id).values(name=name))


async def names(db: Database, *ids: uuid.UUID) -> list[str]:
    async with db.unit_of_work(read_only=True) as session:
        found = {m.id: m.name for m in await session.scalars(select(Merchant))}
    return [found[i] for i in ids]


async def test_the_work_before_commits_and_nothing_is_held_during_the_block(
    db: Database, factory: Factory
) -> None:
    a, b = (await factory.shop("first")).tenant.id, (await factory.shop("second")).tenant.id
    said: list[str] = []

    async def say(what: str) -> None:
        said.append(what)

    async with db.unit_of_work() as session:
        await rename(session, a, "before")
        outbox.on_commit(session, lambda: say("before"))
        async with outside_transaction(session):
            assert said == ["before"]
            # Another unit of work locks and writes the row this one wrote: it waits for
            # nothing (NOWAIT on PostgreSQL; SQLite's writer turn is free).
            async with asyncio.timeout(5), db.unit_of_work() as other:
                locked = select(Merchant.name).where(Merchant.id == a).with_for_update(nowait=True)
                assert await other.scalar(locked) == "before"
                await rename(other, b, "meanwhile")
        if db.dialect == "sqlite":
            # The turn is taken back, before this unit of work's next transaction holds the
            # file's write lock: the next writer queues for this unit of work to end.
            waiting = asyncio.create_task(names_after_write(db, b))
            await asyncio.sleep(0.05)
            assert not waiting.done()
        await rename(session, a, "after")
        outbox.on_commit(session, lambda: say("after"))
        assert said == ["before"]
    assert midway_commits(session) == 1
    assert said == ["before", "after"]
    assert await names(db, a, b) == ["after", "meanwhile"]
    if db.dialect == "sqlite":
        assert await waiting == ["after", "later"]


async def names_after_write(db: Database, merchant_id: uuid.UUID) -> list[str]:
    async with db.unit_of_work() as session:
        await rename(session, merchant_id, "later")
        found = {m.id: m.name for m in await session.scalars(select(Merchant))}
    return sorted(found.values())


async def test_an_error_after_the_block_rolls_back_only_the_second_part(
    db: Database, factory: Factory
) -> None:
    a, b = (await factory.shop("first")).tenant.id, (await factory.shop("second")).tenant.id
    said: list[str] = []

    async def say(what: str) -> None:
        said.append(what)

    async def work() -> None:
        async with db.unit_of_work() as session:
            await rename(session, a, "kept")
            outbox.on_commit(session, lambda: say("kept"))
            async with outside_transaction(session):
                pass
            await rename(session, b, "dropped")
            outbox.on_commit(session, lambda: say("dropped"))
            raise Boom

    with pytest.raises(Boom):
        await work()
    assert said == ["kept"]
    assert await names(db, a, b) == ["kept", "Second"]


async def test_an_error_in_the_block_keeps_what_was_committed(
    db: Database, factory: Factory
) -> None:
    a = (await factory.shop("first")).tenant.id

    async def work() -> None:
        async with db.unit_of_work() as session:
            await rename(session, a, "kept")
            async with outside_transaction(session):
                raise Boom

    with pytest.raises(Boom):
        await work()
    assert await names(db, a) == ["kept"]
    # The turn was taken back and given back again: the next unit of work writes.
    async with asyncio.timeout(5), db.unit_of_work() as session:
        await rename(session, a, "next")
    assert await names(db, a) == ["next"]


async def test_a_read_unit_of_work_or_a_savepoint_is_refused(
    db: Database, factory: Factory
) -> None:
    a = (await factory.shop("first")).tenant.id
    ran: list[str] = []

    async def inside(session: AsyncSession) -> None:
        async with outside_transaction(session):
            ran.append("block")

    async with db.unit_of_work(read_only=True) as session:
        with pytest.raises(RuntimeError, match="a read unit of work has no transaction"):
            await inside(session)
    assert midway_commits(session) == 0

    async def in_a_savepoint() -> None:
        async with db.unit_of_work() as session:
            await rename(session, a, "in the savepoint's caller")
            async with session.begin_nested():
                with pytest.raises(RuntimeError, match="inside a savepoint"):
                    await inside(session)
            assert midway_commits(session) == 0
            raise Boom

    with pytest.raises(Boom):
        await in_a_savepoint()
    assert ran == []
    assert await names(db, a) == ["First"]
