"""A process's lease in front of the Redis limiter: batches taken in one round trip, never more
admitted than Redis counted, and no Redis means no admission once the lease's events are spent."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from tests.conftest import REDIS_URL
from tribekit.kit.errors import ServiceUnavailable
from tribekit.kit.ratelimit import LeasedRateLimiter, RedisRateLimiter, redis_client


class Counting(RedisRateLimiter):
    """Counts the round trips that take events."""

    takes = 0

    async def take(self, key: str, *, limit: int, period: float, count: int) -> tuple[int, int]:
        self.takes += 1
        return await super().take(key, limit=limit, period=period, count=count)


async def test_a_small_limit_is_taken_one_event_at_a_time(redis: Redis) -> None:
    shared = Counting(redis)
    leased = LeasedRateLimiter(shared, lease=1.0)  # 5 a minute is no event per lease: batches of 1
    decisions = [await leased.hit("k", limit=5, period=60) for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert 1 <= decisions[-1].retry_after <= 12
    assert shared.takes == 6


async def test_processes_sharing_a_key_admit_exactly_what_redis_counted(redis: Redis) -> None:
    # 600 an hour, a 60 s lease: batches of at most 600 * 60 / 3600 = 10 events. A burst from
    # three processes (one event frees every 6 s, far longer than the burst) admits exactly 600.
    shareds = [Counting(redis) for _ in range(3)]
    processes = [LeasedRateLimiter(shared, lease=60) for shared in shareds]
    admitted = 0
    for n in range(900):
        admitted += (await processes[n % 3].hit("hot", limit=600, period=3600)).allowed
    assert admitted == 600
    # A batch of 1 each, then batches of 10 (the last one 7): 63 round trips for 600 events;
    # then each of the 300 refused requests asks Redis again.
    assert sum(shared.takes for shared in shareds) == 63 + 300
    plain = RedisRateLimiter(redis)
    assert not (await plain.hit("hot", limit=600, period=3600, record=False)).allowed


async def test_a_lease_spends_what_redis_granted_then_redis_down_is_a_503(redis: Redis) -> None:
    index = redis.connection_pool.connection_kwargs.get("db", 0)
    client = redis_client(f"{REDIS_URL}/{index}", max_connections=1, timeout=0.2)
    try:
        # 120 a minute, a 2 s lease: batches of at most 4.
        leased = LeasedRateLimiter(RedisRateLimiter(client), lease=2)
        assert (await leased.hit("t", limit=120, period=60)).allowed  # a batch of 1
        assert (await leased.hit("t", limit=120, period=60)).allowed  # a batch of 4, 3 left
        held = await client.connection_pool.get_connection()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
        try:
            for _ in range(3):
                assert (await leased.hit("t", limit=120, period=60)).allowed
            with pytest.raises(ServiceUnavailable):
                await leased.hit("t", limit=120, period=60)
        finally:
            await client.connection_pool.release(held)
        assert (await leased.hit("t", limit=120, period=60)).allowed
    finally:
        await client.aclose()


async def test_peeks_are_not_leased(redis: Redis) -> None:
    shared = Counting(redis)
    leased = LeasedRateLimiter(shared)
    for _ in range(3):
        assert (await leased.hit("p", limit=2, period=60, record=False)).allowed
    assert shared.takes == 0
    assert (await leased.hit("p", limit=2, period=60)).allowed
    assert (await leased.hit("p", limit=2, period=60)).allowed
    assert not (await leased.hit("p", limit=2, period=60, record=False)).allowed
