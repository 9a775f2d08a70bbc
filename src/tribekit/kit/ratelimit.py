"""Rate limits with GCRA (a smooth token bucket): ``limit`` events per ``period`` seconds.

Redis-backed when Redis is configured (shared by every process), in-process otherwise. When
Redis cannot be reached, or no connection of the pool frees up in time, a check raises
``ServiceUnavailable`` (a 503 with ``Retry-After``): limits are never silently skipped.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .errors import ServiceUnavailable


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int  # whole seconds until the next event would be allowed; 0 when allowed


class RateLimiter(Protocol):
    async def hit(self, key: str, *, limit: int, period: float, record: bool = True) -> Decision:
        """Would one more event under ``key`` be allowed? With ``record``, count it if so."""
        ...


class MemoryRateLimiter:
    """For one process (the embedded mode). Keys are forgotten once their window has passed."""

    def __init__(self) -> None:
        self._tat: dict[str, float] = {}

    async def hit(self, key: str, *, limit: int, period: float, record: bool = True) -> Decision:
        now = time.monotonic()
        if len(self._tat) > 100_000:
            self._tat = {k: v for k, v in self._tat.items() if v > now}
        interval = period / limit
        tat = max(self._tat.get(key, now), now)
        new_tat = tat + interval
        allow_at = new_tat - period
        if now < allow_at:
            return Decision(False, max(1, math.ceil(allow_at - now)))
        if record:
            self._tat[key] = new_tat
        return Decision(True, 0)


# KEYS[1]: bucket key. ARGV: interval (ms), period (ms), record (1/0).
# Returns the milliseconds to wait; 0 means allowed.
_GCRA_LUA = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - period
if now < allow_at then return math.ceil(allow_at - now) end
if ARGV[3] == '1' then redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil(period)) end
return 0
"""


class RedisRateLimiter:
    def __init__(self, redis: Redis, prefix: str = "tribekit:rl:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._script = redis.register_script(_GCRA_LUA)

    async def hit(self, key: str, *, limit: int, period: float, record: bool = True) -> Decision:
        period_ms = period * 1000
        args = [period_ms / limit, period_ms, 1 if record else 0]
        try:
            wait_ms = int(await self._script(keys=[self._prefix + key], args=args))
        except (RedisConnectionError, RedisTimeoutError) as exc:
            # MaxConnectionsError and "no connection available" are ConnectionErrors too.
            raise ServiceUnavailable(
                "the rate-limit store is unavailable; retry in a moment"
            ) from exc
        if wait_ms > 0:
            return Decision(False, max(1, math.ceil(wait_ms / 1000)))
        return Decision(True, 0)


def redis_client(url: str, *, max_connections: int, timeout: float) -> Redis:
    """A client whose pool holds at most ``max_connections``; a command waits up to ``timeout``
    seconds for a free one (and fails with a ``ConnectionError`` after), instead of failing at
    once when the pool is empty as redis-py's default pool does."""
    pool = BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=timeout, socket_connect_timeout=timeout
    )
    return Redis.from_pool(pool)  # the client owns the pool: aclose() closes it
