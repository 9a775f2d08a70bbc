"""Rate limits with GCRA (a smooth token bucket): ``limit`` events per ``period`` seconds.

Redis-backed when Redis is configured (shared by every process), in-process otherwise. When
Redis cannot be reached, or no connection of the pool frees up in time, a check raises
``ServiceUnavailable`` (a 503 with ``Retry-After``): limits are never silently skipped.

A hot key (an API token's request rate) can go through ``LeasedRateLimiter``: each process takes
events from Redis in batches it spends within a short lease, so one round trip covers many
requests. Its bound on over-admission is in the class's docstring.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
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


# The same GCRA, counting up to ARGV[3] events at once: as many as are allowed now, at most that
# many. Returns how many were counted, or minus the milliseconds to wait when none is allowed.
_GCRA_TAKE_LUA = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local n = math.floor((now + period - tat) / interval)
if n < 1 then return -math.max(1, math.ceil(tat + interval - period - now)) end
n = math.min(n, tonumber(ARGV[3]))
redis.call('SET', KEYS[1], tat + n * interval, 'PX', math.ceil(period))
return n
"""

_UNAVAILABLE = "the rate-limit store is unavailable; retry in a moment"


class RedisRateLimiter:
    def __init__(self, redis: Redis, prefix: str = "tribekit:rl:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._script = redis.register_script(_GCRA_LUA)
        self._take_script = redis.register_script(_GCRA_TAKE_LUA)

    async def hit(self, key: str, *, limit: int, period: float, record: bool = True) -> Decision:
        period_ms = period * 1000
        args = [period_ms / limit, period_ms, 1 if record else 0]
        try:
            wait_ms = int(await self._script(keys=[self._prefix + key], args=args))
        except (RedisConnectionError, RedisTimeoutError) as exc:
            # MaxConnectionsError and "no connection available" are ConnectionErrors too.
            raise ServiceUnavailable(_UNAVAILABLE) from exc
        if wait_ms > 0:
            return Decision(False, max(1, math.ceil(wait_ms / 1000)))
        return Decision(True, 0)

    async def take(self, key: str, *, limit: int, period: float, count: int) -> tuple[int, int]:
        """Count up to ``count`` events under ``key`` at once, as many as are allowed now.
        Returns (events counted, whole seconds to wait when that is 0)."""
        period_ms = period * 1000
        args = [period_ms / limit, period_ms, count]
        try:
            answer = int(await self._take_script(keys=[self._prefix + key], args=args))
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise ServiceUnavailable(_UNAVAILABLE) from exc
        if answer > 0:
            return answer, 0
        return 0, max(1, math.ceil(-answer / 1000))


@dataclass
class _Lease:
    started: float = 0.0  # monotonic time the batch was asked for (before Redis counted it)
    until: float = 0.0  # the batch's events may be spent until then
    left: int = 0
    used: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class LeasedRateLimiter:
    """A process's share in front of ``RedisRateLimiter``: events are taken from Redis in batches
    (one round trip each), and this process spends a batch within ``lease`` seconds of asking for
    it; what is left when the lease ends is dropped, never given back.

    Bound on over-admission, for any number N of processes: every admitted event was counted in
    Redis first, at most ``lease`` seconds before it happened, so the events admitted under a key
    in any window of W seconds are at most what the plain limiter admits in a window of
    W + ``lease`` seconds: at most ``ceil(limit * lease / period)`` events more than the plain
    limiter (10 for 600 a minute and a 1 s lease), however many processes there are. A batch is
    at most that many events, sized from the rate this process saw in its last lease, so a caller
    that sends one request per lease takes one event at a time, exactly as without the lease.
    The cost is under-admission: a process whose caller stops drops at most a batch less one,
    so across N processes a caller may be refused up to N batches early.

    When Redis is down, a lease that Redis granted is still spent (its events were counted);
    the next batch raises ``ServiceUnavailable`` like the plain limiter. Peeks
    (``record=False``) go to Redis every time."""

    def __init__(
        self, shared: RedisRateLimiter, *, lease: float = 1.0, max_keys: int = 10_000
    ) -> None:
        self._shared = shared
        self.lease = lease
        self.max_keys = max_keys
        self._leases: dict[str, _Lease] = {}

    async def hit(self, key: str, *, limit: int, period: float, record: bool = True) -> Decision:
        if not record:
            return await self._shared.hit(key, limit=limit, period=period, record=False)
        lease = self._leases.get(key)
        if lease is not None and lease.left > 0 and time.monotonic() < lease.until:
            lease.left -= 1
            lease.used += 1
            return _ALLOWED
        if lease is None:
            if len(self._leases) >= self.max_keys:
                now = time.monotonic()
                self._leases = {k: v for k, v in self._leases.items() if v.until > now}
            lease = self._leases.setdefault(key, _Lease())
        async with lease.lock:  # one batch at a time per key: others wait for it, then share it
            now = time.monotonic()
            if lease.left > 0 and now < lease.until:
                lease.left -= 1
                lease.used += 1
                return _ALLOWED
            most = max(1, math.floor(limit * self.lease / period))
            elapsed = max(min(now, lease.until) - lease.started, self.lease / 100)
            want = min(most, max(1, math.ceil(lease.used * self.lease / elapsed)))
            granted, retry_after = await self._shared.take(
                key, limit=limit, period=period, count=want
            )
            if granted == 0:  # near the limit: ask for one event at a time
                lease.started, lease.until, lease.left, lease.used = now, now, 0, 0
                return Decision(False, retry_after)
            lease.started, lease.until = now, now + self.lease
            lease.left, lease.used = granted - 1, 1
            return _ALLOWED


_ALLOWED = Decision(True, 0)


def redis_client(url: str, *, max_connections: int, timeout: float) -> Redis:
    """A client whose pool holds at most ``max_connections``; a command waits up to ``timeout``
    seconds for a free one (and fails with a ``ConnectionError`` after), instead of failing at
    once when the pool is empty as redis-py's default pool does."""
    pool = BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=timeout, socket_connect_timeout=timeout
    )
    return Redis.from_pool(pool)  # the client owns the pool: aclose() closes it
