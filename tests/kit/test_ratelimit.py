"""GCRA rate limits behave the same in memory and in Redis."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from tribekit.kit.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter


@pytest.fixture(params=["memory", "redis"])
def limiter(request: pytest.FixtureRequest, redis: Redis) -> RateLimiter:
    return MemoryRateLimiter() if request.param == "memory" else RedisRateLimiter(redis)


async def test_allows_the_limit_then_refuses_with_retry_after(limiter: RateLimiter) -> None:
    decisions = [await limiter.hit("k", limit=5, period=60) for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert 1 <= decisions[-1].retry_after <= 12  # one slot frees every 60/5 = 12 s


async def test_keys_are_independent(limiter: RateLimiter) -> None:
    for _ in range(3):
        assert (await limiter.hit("a", limit=3, period=60)).allowed
    assert not (await limiter.hit("a", limit=3, period=60)).allowed
    assert (await limiter.hit("b", limit=3, period=60)).allowed


async def test_peeking_does_not_count(limiter: RateLimiter) -> None:
    for _ in range(10):
        assert (await limiter.hit("p", limit=2, period=60, record=False)).allowed
    assert (await limiter.hit("p", limit=2, period=60)).allowed
    assert (await limiter.hit("p", limit=2, period=60)).allowed
    assert not (await limiter.hit("p", limit=2, period=60, record=False)).allowed


async def test_taking_several_counts_as_many_as_are_allowed(redis: Redis) -> None:
    limiter = RedisRateLimiter(redis)
    assert await limiter.take("b", limit=5, period=60, count=3) == (3, 0)
    assert await limiter.take("b", limit=5, period=60, count=3) == (2, 0)
    granted, retry_after = await limiter.take("b", limit=5, period=60, count=3)
    assert granted == 0
    assert 1 <= retry_after <= 12
    assert not (await limiter.hit("b", limit=5, period=60)).allowed
