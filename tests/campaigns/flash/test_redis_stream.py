"""The reservation stream drained into the database (replays write nothing twice, a dead
drain's entries are claimed by another) and the reconciliation after simulated crashes: sold +
left = allotted again, each member's count = their units, nothing given back twice."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from httpx import AsyncClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from tests.concurrency import fire
from tribekit.campaigns.flash import rows, stream
from tribekit.campaigns.flash.engine import LiveSale, Refusal, Reserved
from tribekit.campaigns.flash.redis_engine import DRAINING, GROUP
from tribekit.kit.worker import WorkerLoop
from tribekit.models.campaigns import FlashReservation

from .redis_world import RedisWorld, attempt, members, redis_sale, redis_world, written
from .world import reservations

__all__ = ["redis_world"]  # the fixture, used by name


async def _win(world: RedisWorld, sale: LiveSale, people: list[uuid.UUID]) -> list[Reserved]:
    answers = await fire(len(people), lambda i: world.engine.reserve(attempt(sale, people[i])))
    won = [a for a in answers if isinstance(a, Reserved)]
    assert len(won) == len(people)
    return won


async def _balanced(world: RedisWorld, sale: LiveSale) -> stream.Tally:
    tally = await stream.tally(world.db, world.engine, sale.id)
    assert tally.balanced, tally
    return tally


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def _counts(world: RedisWorld, sale: LiveSale) -> dict[str, int]:
    found = await world.redis.hgetall(world.engine.keys(sale.id).takes)
    return {_text(k): int(v) for k, v in found.items()}


async def test_the_drain_replayed_twice_writes_each_row_once(
    client: AsyncClient, redis_world: RedisWorld
) -> None:
    world = redis_world
    sale = await redis_sale(client, world, quantity=100, per_member_limit=2)
    people = await members(world.db, world.shop, 60)
    await _win(world, sale, people)
    assert await stream.drain_all(world.db, world.engine) == 60
    assert await stream.drain_all(world.db, world.engine) == 0  # all acknowledged
    once = await written(world.db, sale.id)
    assert once == (60, 60, 60, 60, 60)
    key = world.engine.keys(sale.id).stream
    for _ in range(2):  # the group read from the start again: every entry delivered again
        await world.redis.xgroup_setid(key, GROUP, "0")
        assert await stream.drain_all(world.db, world.engine) == 60
        assert await written(world.db, sale.id) == once
    entries = await world.engine.entries(sale.id)
    for _ in range(2):  # the rows written again directly
        assert await world.db.run(lambda s: rows.write_entries(s, entries)) == 0
    assert await written(world.db, sale.id) == once
    stored = {r.id: r.stream_id for r in await _reservations(world, sale)}
    assert stored == {e.reservation_id: e.stream_id for e in entries}
    await _balanced(world, sale)


async def test_two_drains_writing_the_same_entries_at_once_write_them_once(
    client: AsyncClient, redis_world: RedisWorld
) -> None:
    world = redis_world
    sale = await redis_sale(client, world, quantity=100, per_member_limit=2)
    await _win(world, sale, await members(world.db, world.shop, 40))
    entries = await world.engine.entries(sale.id)
    wrote = await fire(4, lambda _: world.db.run(lambda s: rows.write_entries(s, entries)))
    assert sorted(wrote) == [0, 0, 0, 40]  # one wrote them; the others met its rows
    assert await written(world.db, sale.id) == (40, 40, 40, 40, 40)


async def test_entries_a_dead_drain_read_and_never_acknowledged_are_claimed_by_another(
    client: AsyncClient, redis_world: RedisWorld
) -> None:
    world = redis_world
    sale = await redis_sale(client, world, quantity=100, per_member_limit=2)
    await _win(world, sale, await members(world.db, world.shop, 30))
    dead = world.other_drain()
    assert len(await dead.read(sale.id, 1000)) == 30  # read, then the process died
    assert await stream.drain_all(world.db, world.engine) == 0  # not idle long enough yet
    tally = await _balanced(world, sale)
    assert (tally.in_database, tally.undrained, tally.left) == (0, 30, 70)
    survivor = world.other_drain(claim_idle_seconds=0)
    assert await stream.drain_all(world.db, survivor) == 30
    assert await written(world.db, sale.id) == (30, 30, 30, 30, 30)
    assert await world.engine.undrained(sale.id) == 0
    tally = await _balanced(world, sale)
    assert (tally.in_database, tally.undrained, tally.left) == (30, 0, 70)


async def test_a_drain_whose_write_failed_reads_its_own_entries_again(
    client: AsyncClient, redis_world: RedisWorld
) -> None:
    world = redis_world
    sale = await redis_sale(client, world, quantity=100, per_member_limit=2)
    await _win(world, sale, await members(world.db, world.shop, 10))

    class Crash(Exception):
        pass

    async def crashing(session: AsyncSession) -> None:
        await stream.drain(session, world.engine, 1000)
        raise Crash

    with pytest.raises(Crash):
        await world.db.run(crashing)
    assert (await written(world.db, sale.id)).reservations == 0  # rolled back, not acked
    assert await world.engine.undrained(sale.id) == 10
    assert await stream.drain_all(world.db, world.engine) == 10
    assert await written(world.db, sale.id) == (10, 10, 10, 10, 10)
    assert await world.engine.undrained(sale.id) == 0


async def test_reconcile_restores_a_counter_changed_without_rows(
    client: AsyncClient, redis_world: RedisWorld
) -> None:
    world = redis_world
    sale = await redis_sale(client, world, quantity=50, per_member_limit=2)
    people = await members(world.db, world.shop, 12)
    await _win(world, sale, people)
    await stream.drain_all(world.db, world.engine)
    await _win(world, sale, people[:5])  # 5 more, not drained yet
    keys = world.engine.keys(sale.id)
    await world.redis.hincrby(keys.sale, "left", -7)  # units gone with no reservation
    await world.redis.hincrby(keys.takes, str(people[0]), 1)  # a count off by one
    await world.redis.hset(keys.takes, str(uuid.uuid4()), 2)  # a count of nobody's
    tally = await stream.tally(world.db, world.engine, sale.id)
    assert (tally.in_database, tally.undrained, tally.left, tally.balanced) == (12, 5, 26, False)
    await stream.reconcile_now(world.db, world.engine)
    tally = await _balanced(world, sale)
    assert (tally.in_database, tally.undrained, tally.left) == (12, 5, 33)
    assert await _counts(world, sale) == {
        **{str(m): 2 for m in people[:5]},
        **{str(m): 1 for m in people[5:]},
    }
    # The limit holds on the recounted figures: the first five hold 2 already.
    assert await world.engine.reserve(attempt(sale, people[0])) == Refusal.LIMIT_REACHED
    assert isinstance(await world.engine.reserve(attempt(sale, people[5])), Reserved)
    await stream.reconcile_now(world.db, world.engine)  # nothing more to mend
    await stream.drain_all(world.db, world.engine)
    tally = await _balanced(world, sale)
    assert (tally.in_database, tally.undrained, tally.left) == (18, 0, 32)


async def test_reconcile_gives_back_a_lost_expiry_callback_and_the_late_one_gives_nothing(
    client: AsyncClient, redis_world: RedisWorld
) -> None:
    world = redis_world
    sale = await redis_sale(client, world, quantity=20, per_member_limit=1)
    people = await members(world.db, world.shop, 20)
    won = await _win(world, sale, people)
    await stream.drain_all(world.db, world.engine)
    lost = [w.reservation_id for w in won[:6]]
    async with world.db.unit_of_work() as session:  # expired, the process died before Redis
        await session.execute(
            update(FlashReservation)
            .where(FlashReservation.id.in_(lost))
            .values(status="expired")
            .execution_options(synchronize_session=False)
        )
    tally = await stream.tally(world.db, world.engine, sale.id)
    assert (tally.in_database, tally.left, tally.balanced) == (14, 0, False)
    await stream.reconcile_now(world.db, world.engine)
    tally = await _balanced(world, sale)
    assert (tally.in_database, tally.left) == (14, 6)
    assert len(await _counts(world, sale)) == 14
    assert await world.engine.give_back_now(sale.id, [str(i) for i in lost]) == 0  # too late
    assert await world.engine.left(sale.id) == 6
    await _balanced(world, sale)


async def test_reconcile_after_redis_lost_the_sale_opens_it_again_from_the_database(
    client: AsyncClient, redis_world: RedisWorld
) -> None:
    world = redis_world
    sale = await redis_sale(client, world, quantity=30, per_member_limit=2)
    people = await members(world.db, world.shop, 10)
    await _win(world, sale, people)
    await _win(world, sale, people[:4])
    await stream.drain_all(world.db, world.engine)
    await world.redis.flushdb()  # Redis restarted empty
    assert await world.engine.reserve(attempt(sale, people[9])) == Refusal.NOT_STARTED
    await stream.reconcile_now(world.db, world.engine)
    assert await world.redis.sismember(DRAINING, str(sale.id))
    tally = await _balanced(world, sale)
    assert (tally.in_database, tally.undrained, tally.left) == (14, 0, 16)
    assert await world.engine.reserve(attempt(sale, people[0])) == Refusal.LIMIT_REACHED
    again = await world.engine.reserve(attempt(sale, people[9]))
    assert isinstance(again, Reserved)
    assert again.left == 15
    assert await stream.drain_all(world.db, world.engine) == 1
    await _balanced(world, sale)


async def test_reconcile_counts_a_reservation_the_database_has_and_redis_forgot(
    client: AsyncClient, redis_world: RedisWorld
) -> None:
    world = redis_world
    sale = await redis_sale(client, world, quantity=10, per_member_limit=1)
    people = await members(world.db, world.shop, 10)
    won = await _win(world, sale, people[:4])
    await stream.drain_all(world.db, world.engine)
    keys = world.engine.keys(sale.id)
    # Redis fell back to an older state: one win forgotten, its unit counted as left.
    forgotten = str(won[0].reservation_id)
    member = _text(await world.redis.hget(keys.won, forgotten) or b"").split()[0]
    await world.redis.hdel(keys.won, forgotten)
    await world.redis.hincrby(keys.sale, "left", 1)
    await world.redis.hdel(keys.takes, member)
    await stream.reconcile_now(world.db, world.engine)
    assert await world.engine.left(sale.id) == 6
    assert (await _counts(world, sale))[member] == 1
    assert await world.engine.reserve(attempt(sale, uuid.UUID(member))) == Refusal.LIMIT_REACHED
    answers = await fire(10, lambda i: world.engine.reserve(attempt(sale, people[i])))
    assert Counter(type(a).__name__ for a in answers) == {"Reserved": 6, "Refusal": 4}
    await stream.drain_all(world.db, world.engine)
    tally = await _balanced(world, sale)
    assert (tally.in_database, tally.left) == (10, 0)


async def _reservations(world: RedisWorld, sale: LiveSale) -> list[FlashReservation]:
    return await reservations(world.db, str(sale.id))


async def test_the_worker_sweeps_drain_and_reconcile(
    client: AsyncClient, redis_world: RedisWorld
) -> None:
    world = redis_world
    sale = await redis_sale(client, world, quantity=50, per_member_limit=2)
    await _win(world, sale, await members(world.db, world.shop, 30))
    await world.redis.hincrby(world.engine.keys(sale.id).sale, "left", -3)
    sweeps = {s.name: s for s in stream.sweeps(world.db, world.redis)}
    assert set(sweeps) == {"flash_drain", "flash_reconcile"}
    loop = WorkerLoop(world.db, list(sweeps.values()))
    await loop.run_sweep(sweeps["flash_drain"])  # drains while entries come, then stops
    assert await written(world.db, sale.id) == (30, 30, 30, 30, 30)
    await loop.run_sweep(sweeps["flash_reconcile"])
    tally = await _balanced(world, sale)
    assert (tally.in_database, tally.undrained, tally.left) == (30, 0, 20)
    assert stream.sweeps(world.db, None) == []
