"""The Redis engine's attempt script under a barrier: exact winners, exact per-member limits, no
unit sold twice; the sale opened once and closed for good; expired reservations' units back
exactly once (the callback and the reconciliation racing for them)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from httpx import AsyncClient

from tests.concurrency import fire
from tribekit.campaigns.flash import stream
from tribekit.campaigns.flash.engine import Refusal, Reserved
from tribekit.campaigns.flash.redis_engine import DRAINING
from tribekit.kit import clock

from .redis_world import RedisWorld, attempt, members, redis_sale, redis_world, written
from .world import expire_reservations, reservations

__all__ = ["redis_world"]  # the fixture, used by name


async def test_ten_thousand_attempts_from_two_thousand_members_win_exactly_the_hundred_units(
    client: AsyncClient, redis_world: RedisWorld
) -> None:
    world = redis_world
    sale = await redis_sale(client, world, quantity=100, per_member_limit=2)
    people = await members(world.db, world.shop, 2000)

    async def one(i: int) -> Reserved | Refusal | BaseException:
        try:
            return await world.engine.reserve(attempt(sale, people[i % len(people)]))
        except Exception as exc:  # a server error: counted, never expected
            return exc

    answers = await fire(10_000, one)
    won = [a for a in answers if isinstance(a, Reserved)]
    errors = [a for a in answers if isinstance(a, BaseException)]
    refusals = Counter(a for a in answers if isinstance(a, Refusal))
    assert (len(won), len(errors)) == (100, 0)
    assert set(refusals) <= {Refusal.SOLD_OUT, Refusal.LIMIT_REACHED}
    assert sum(refusals.values()) == 9_900
    assert await world.engine.left(sale.id) == 0
    assert sorted(r.left for r in won) == list(range(100))  # each unit taken once
    assert await stream.drain_all(world.db, world.engine) == 100
    assert await written(world.db, sale.id) == (100, 100, 100, 100, 100)
    rows = await reservations(world.db, str(sale.id))
    assert {r.id for r in rows} == {r.reservation_id for r in won}
    assert max(Counter(r.member_id for r in rows).values()) <= 2
    tally = await stream.tally(world.db, world.engine, sale.id)
    assert (tally.in_database, tally.undrained, tally.left, tally.balanced) == (100, 0, 0, True)


async def test_one_member_firing_five_hundred_attempts_gets_exactly_the_limit(
    client: AsyncClient, redis_world: RedisWorld
) -> None:
    world = redis_world
    sale = await redis_sale(client, world, quantity=100, per_member_limit=2)
    [member] = await members(world.db, world.shop, 1)
    answers = await fire(500, lambda _: world.engine.reserve(attempt(sale, member)))
    assert sum(isinstance(a, Reserved) for a in answers) == 2
    assert Counter(a for a in answers if isinstance(a, Refusal)) == {Refusal.LIMIT_REACHED: 498}
    assert await world.engine.left(sale.id) == 98
    assert await world.redis.hget(world.engine.keys(sale.id).takes, str(member)) == b"2"
    assert await stream.drain_all(world.db, world.engine) == 2
    assert (await written(world.db, sale.id)).units == 2


async def test_quantities_are_all_or_nothing_within_the_units_left(
    client: AsyncClient, redis_world: RedisWorld
) -> None:
    world = redis_world
    sale = await redis_sale(client, world, quantity=5, per_member_limit=3)
    a, b = await members(world.db, world.shop, 2)
    first = await world.engine.reserve(attempt(sale, a, 3))
    assert isinstance(first, Reserved)
    assert first.left == 2
    assert await world.engine.reserve(attempt(sale, b, 3)) == Refusal.SOLD_OUT
    assert await world.engine.reserve(attempt(sale, a, 1)) == Refusal.LIMIT_REACHED
    second = await world.engine.reserve(attempt(sale, b, 2))
    assert isinstance(second, Reserved)
    assert second.left == 0
    assert await world.engine.left(sale.id) == 0
    await stream.drain_all(world.db, world.engine)
    assert (await written(world.db, sale.id)).units == 5


async def test_open_never_reopens_and_a_closed_sale_refuses_with_everything_drained(
    client: AsyncClient, redis_world: RedisWorld
) -> None:
    world = redis_world
    sale = await redis_sale(client, world, quantity=10, per_member_limit=2)
    people = await members(world.db, world.shop, 3)
    for member in people:
        assert isinstance(await world.engine.reserve(attempt(sale, member)), Reserved)
    await world.engine.open(sale, 10)  # a second open (a retried start) changes nothing
    assert await world.engine.left(sale.id) == 7
    assert await world.engine.close(sale) == 7  # nothing drained yet: close writes it all
    assert await written(world.db, sale.id) == (3, 3, 3, 3, 3)
    assert await world.engine.reserve(attempt(sale, people[0])) == Refusal.ENDED
    await world.engine.open(sale, 10)  # never re-opened once closed
    assert await world.engine.reserve(attempt(sale, people[0])) == Refusal.ENDED
    assert not await world.redis.sismember(DRAINING, str(sale.id))
    assert await world.redis.ttl(world.engine.keys(sale.id).stream) > 0
    assert await stream.drain_all(world.db, world.engine) == 0


async def test_a_sale_redis_never_opened_answers_not_started(
    client: AsyncClient, redis_world: RedisWorld
) -> None:
    world = redis_world
    sale = await redis_sale(client, world, quantity=10)
    await world.redis.delete(world.engine.keys(sale.id).sale)
    [member] = await members(world.db, world.shop, 1)
    assert await world.engine.reserve(attempt(sale, member)) == Refusal.NOT_STARTED


async def test_a_thousand_abandoned_reservations_give_every_unit_back_once(
    client: AsyncClient, redis_world: RedisWorld
) -> None:
    world = redis_world
    sale = await redis_sale(client, world, quantity=1000, per_member_limit=1)
    people = await members(world.db, world.shop, 1000)
    answers = await fire(1000, lambda i: world.engine.reserve(attempt(sale, people[i])))
    assert all(isinstance(a, Reserved) for a in answers)
    assert await world.engine.left(sale.id) == 0
    assert await stream.drain_all(world.db, world.engine) == 1000
    ttl = timedelta(seconds=sale.reservation_ttl_seconds)
    with clock.frozen_at(clock.now() + ttl - timedelta(seconds=5)):
        assert await expire_reservations(world.db) == 0  # not yet
    with clock.frozen_at(clock.now() + ttl + timedelta(seconds=5)):
        assert await expire_reservations(world.db) == 1000
        assert await expire_reservations(world.db) == 0  # none twice
    assert await world.engine.left(sale.id) == 1000
    assert await world.redis.hlen(world.engine.keys(sale.id).takes) == 0
    # The reconciliation finds nothing to mend, and a replayed callback gives nothing.
    await stream.reconcile_now(world.db, world.engine)
    assert (
        await world.engine.give_back_now(
            sale.id, [str(a.reservation_id) for a in answers if isinstance(a, Reserved)]
        )
        == 0
    )
    assert await world.engine.left(sale.id) == 1000
    rows = await reservations(world.db, str(sale.id))
    assert Counter(r.status for r in rows) == {"expired": 1000}
    again = await world.engine.reserve(attempt(sale, people[0]))
    assert isinstance(again, Reserved)
    assert again.left == 999  # the member may buy again
    tally = await stream.tally(world.db, world.engine, sale.id)
    assert (tally.in_database, tally.undrained, tally.left, tally.balanced) == (0, 1, 999, True)
