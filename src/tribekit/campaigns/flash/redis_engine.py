"""The Redis engine: a live sale's units and its members' counts in Redis, one Lua script per
attempt, every win appended to the sale's reservation stream, which the worker drains into the
database in batches (``stream.py``).

**Keys.** Every key of a sale carries the sale's id as its hash tag (``flash:{<sale id>}:...``),
so a script touches one slot and the engine runs on Redis Cluster:

* ``flash:{s}`` (hash): ``open`` (1 selling, 0 closed), ``left``, ``allotted``, ``limit``;
* ``flash:{s}:takes`` (hash): member id -> units the member holds;
* ``flash:{s}:won`` (hash): reservation id -> ``"<member id> <units>"``, every reservation the
  script made (and any the reconciliation learnt from the database): the sale's own record of
  what it sold;
* ``flash:{s}:back`` (set): reservations whose units were given back, so that each comes back
  once, whoever gives it back first (an after-commit callback or the reconciliation sweep);
* ``flash:{s}:stream`` (stream, consumer group ``drain``): one entry per win, kept until the
  sale's keys expire a day after it closes (at most one entry per unit won).

Plus ``flash:draining`` (a set outside the sales' slots, never touched by a script): the sales
whose streams the drain reads.

**The attempt script** checks, atomically, that the sale is open, ``left >= quantity`` and the
member's count plus ``quantity`` stays within ``limit``; then decrements ``left``, adds to the
member's count, records the reservation in ``won`` and appends it to the stream. So
``left = allotted - units(won - back)`` holds in Redis after every script, whatever crashes
around it. The reservation id is the caller's (``Attempt.reservation_id``): the drain writes
the reservation and its order under it, so a replayed entry writes nothing twice.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import count
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import outbox
from tribekit.kit.db import Database
from tribekit.kit.worker import WAKEUPS

from . import rows
from .engine import Attempt, LiveSale, Refusal, Reserved

#: The stream's consumer group, read by every drain of every process.
GROUP = "drain"
#: The set of sales whose streams are drained.
DRAINING = "flash:draining"
#: How long a closed sale's keys stay (its units left, for pages; its stream, for a late look).
CLOSED_KEYS_SECONDS = 24 * 3600
#: The drain sweep's name (an attempt that wins wakes it in this process).
DRAIN_SWEEP = "flash_drain"
#: A win wakes this process's drain at most this often (wins in a burst are drained together).
WAKE_EVERY_SECONDS = 0.05

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# KEYS: sale, takes, won, stream. ARGV: member, quantity, reservation, unit price, community
# ('' for none), reserved at and expires at (microseconds since the epoch), channel.
# Answers {code, left[, stream id]}: 0 won, 1 sold out, 2 limit reached, 3 closed, 4 not open.
ATTEMPT = """
local state = redis.call('HMGET', KEYS[1], 'open', 'left', 'limit')
if not state[1] then return {4, 0} end
if state[1] ~= '1' then return {3, 0} end
local q = tonumber(ARGV[2])
local left = tonumber(state[2])
if left < q then return {1, left} end
local taken = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if taken + q > tonumber(state[3]) then return {2, left} end
left = redis.call('HINCRBY', KEYS[1], 'left', -q)
redis.call('HINCRBY', KEYS[2], ARGV[1], q)
redis.call('HSET', KEYS[3], ARGV[3], ARGV[1] .. ' ' .. ARGV[2])
local id = redis.call('XADD', KEYS[4], '*', 'r', ARGV[3], 'm', ARGV[1], 'q', ARGV[2],
    'p', ARGV[4], 'c', ARGV[5], 'at', ARGV[6], 'x', ARGV[7], 'ch', ARGV[8])
return {0, left, id}
"""

# KEYS: sale, stream. ARGV: allotted, limit. Never re-opens a sale that exists (open or closed).
OPEN = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'open', '1', 'left', ARGV[1], 'allotted', ARGV[1], 'limit', ARGV[2])
redis.pcall('XGROUP', 'CREATE', KEYS[2], 'drain', '0', 'MKSTREAM')
return 1
"""

# KEYS: sale. From now on every attempt answers closed. Answers the units left (-1: unknown).
CLOSE = """
local left = redis.call('HGET', KEYS[1], 'left')
redis.call('HSET', KEYS[1], 'open', '0')
if not left then return -1 end
return tonumber(left)
"""

# KEYS: sale, takes, won, back. ARGV: reservation ids. Each reservation's units come back at
# most once (the SADD decides); one Redis never made (lost data) is left to the reconciliation.
# Answers the units given back, -1 when Redis does not hold the sale.
GIVE_BACK = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local given = 0
for i = 1, #ARGV do
  if redis.call('SADD', KEYS[4], ARGV[i]) == 1 then
    local v = redis.call('HGET', KEYS[3], ARGV[i])
    if v then
      local sp = string.find(v, ' ', 1, true)
      local member = string.sub(v, 1, sp - 1)
      local q = tonumber(string.sub(v, sp + 1))
      redis.call('HINCRBY', KEYS[1], 'left', q)
      if redis.call('HINCRBY', KEYS[2], member, -q) <= 0 then
        redis.call('HDEL', KEYS[2], member)
      end
      given = given + q
    end
  end
end
return given
"""

# KEYS: won, back. ARGV: groups of (kind, reservation, member, units) from the database:
# kind 'L' (reserved or paid: sold) is recorded as won if Redis lost it; kind 'S' (expired or
# cancelled) is marked given back, whether or not its callback ran. Answers how many were new.
LEARN = """
local learnt = 0
for i = 1, #ARGV, 4 do
  if ARGV[i] == 'S' then
    learnt = learnt + redis.call('SADD', KEYS[2], ARGV[i + 1])
  else
    learnt = learnt + redis.call('HSETNX', KEYS[1], ARGV[i + 1], ARGV[i + 2] .. ' ' .. ARGV[i + 3])
  end
end
return learnt
"""

# KEYS: sale, takes, won, back, stream. ARGV: allotted, limit, may open ('1': the database says
# the sale is selling inside its window). Sets ``left`` and every member's count from ``won``
# minus ``back``, atomically with respect to every attempt. A sale Redis does not hold is made
# again (open) only when it may open. Answers {made, left before, left now, sold, counts fixed,
# open}.
RECOUNT = """
local made = 0
if redis.call('EXISTS', KEYS[1]) == 0 then
  if ARGV[3] ~= '1' then return {-1, 0, 0, 0, 0, 0} end
  redis.call('HSET', KEYS[1], 'open', '1', 'left', ARGV[1], 'allotted', ARGV[1], 'limit', ARGV[2])
  made = 1
end
redis.pcall('XGROUP', 'CREATE', KEYS[5], 'drain', '0', 'MKSTREAM')
local won = redis.call('HGETALL', KEYS[3])
local sold = 0
local takes = {}
for i = 1, #won, 2 do
  if redis.call('SISMEMBER', KEYS[4], won[i]) == 0 then
    local v = won[i + 1]
    local sp = string.find(v, ' ', 1, true)
    local member = string.sub(v, 1, sp - 1)
    local q = tonumber(string.sub(v, sp + 1))
    sold = sold + q
    takes[member] = (takes[member] or 0) + q
  end
end
local want = tonumber(ARGV[1]) - sold
if want < 0 then want = 0 end
local before = tonumber(redis.call('HGET', KEYS[1], 'left') or '0')
redis.call('HSET', KEYS[1], 'left', want, 'allotted', ARGV[1])
local fixed = 0
local have = redis.call('HGETALL', KEYS[2])
for i = 1, #have, 2 do
  local member = have[i]
  local should = takes[member] or 0
  if tonumber(have[i + 1]) ~= should then
    fixed = fixed + 1
    if should == 0 then
      redis.call('HDEL', KEYS[2], member)
    else
      redis.call('HSET', KEYS[2], member, should)
    end
  end
  takes[member] = nil
end
for member, should in pairs(takes) do
  redis.call('HSET', KEYS[2], member, should)
  fixed = fixed + 1
end
local open = 0
if redis.call('HGET', KEYS[1], 'open') == '1' then open = 1 end
return {made, before, want, sold, fixed, open}
"""

_REFUSALS = {
    1: Refusal.SOLD_OUT,
    2: Refusal.LIMIT_REACHED,
    3: Refusal.ENDED,
    4: Refusal.NOT_STARTED,
}


def micros(at: datetime) -> int:
    """``at`` as whole microseconds since the epoch (exact, unlike a float timestamp)."""
    delta = at - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True)
class SaleKeys:
    sale: str
    takes: str
    won: str
    back: str
    stream: str

    @classmethod
    def of(cls, sale_id: uuid.UUID) -> SaleKeys:
        base = f"flash:{{{sale_id}}}"
        return cls(base, f"{base}:takes", f"{base}:won", f"{base}:back", f"{base}:stream")


@dataclass(frozen=True)
class Recount:
    """What one reconciliation of a sale found: ``made`` (Redis did not hold it and it was
    opened again from the record), ``left_before`` -> ``left``, ``sold`` (units of
    reservations won and not given back), ``counts_fixed`` (members' counts set right)."""

    made: bool
    left_before: int
    left: int
    sold: int
    counts_fixed: int

    @property
    def changed(self) -> bool:
        return self.made or self.left_before != self.left or self.counts_fixed > 0


_consumers = count(1)


class RedisEngine:
    name = "redis"

    def __init__(self, db: Database, redis: Redis, *, claim_idle_seconds: float = 5.0) -> None:
        self.db = db
        self.redis = redis
        #: A stream entry read by a drain that has not acknowledged it after this long (its
        #: process died) is claimed by another drain.
        self.claim_idle_ms = int(claim_idle_seconds * 1000)
        # Scripts are registered once and run by EVALSHA (loaded again if Redis forgot them).
        self._attempt = redis.register_script(ATTEMPT)
        self._open = redis.register_script(OPEN)
        self._close = redis.register_script(CLOSE)
        self._give_back = redis.register_script(GIVE_BACK)
        self._learn = redis.register_script(LEARN)
        self._recount = redis.register_script(RECOUNT)
        self._keys: dict[uuid.UUID, SaleKeys] = {}
        #: This drain's name in the consumer groups: one per engine, so that the entries it
        #: left unacknowledged are its own to read again.
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{next(_consumers)}"
        self._unacked: set[uuid.UUID] = set()  # sales with entries this drain read, not acked
        self._claimed_at: dict[uuid.UUID, float] = {}
        self._wake_pending = False

    def keys(self, sale_id: uuid.UUID) -> SaleKeys:
        found = self._keys.get(sale_id)
        if found is None:
            found = self._keys[sale_id] = SaleKeys.of(sale_id)
        return found

    # -- the engine interface -------------------------------------------------------------------

    async def open(self, sale: LiveSale, allotted: int) -> None:
        keys = self.keys(sale.id)
        made = await self._open(
            keys=[keys.sale, keys.stream], args=[allotted, sale.per_member_limit]
        )
        if made:  # (a crash before this SADD: the reconciliation adds it)
            await self.redis.sadd(DRAINING, str(sale.id))

    async def reserve(self, attempt: Attempt) -> Reserved | Refusal:
        keys = self.keys(attempt.sale.id)
        expires_at = attempt.expires_at
        answer = await self._attempt(
            keys=[keys.sale, keys.takes, keys.won, keys.stream],
            args=[
                str(attempt.member_id),
                attempt.quantity,
                str(attempt.reservation_id),
                attempt.sale.price,
                "" if attempt.community_id is None else str(attempt.community_id),
                micros(attempt.at),
                micros(expires_at),
                attempt.channel,
            ],
        )
        code, left = int(answer[0]), int(answer[1])
        if code:
            return _REFUSALS[code]
        self._wake_drain()
        return Reserved(attempt.reservation_id, attempt.quantity, expires_at, left, None)

    async def give_back(
        self,
        session: AsyncSession,
        sale: LiveSale,
        units: Mapping[uuid.UUID, int],
        *,
        reservation_ids: Sequence[uuid.UUID],
    ) -> None:
        del units  # Redis knows each reservation's member and units (``won``)
        ids = [str(i) for i in reservation_ids]
        if not ids:
            return

        async def give() -> None:
            await self.give_back_now(sale.id, ids)

        outbox.on_commit(session, give)

    async def left(self, sale_id: uuid.UUID) -> int | None:
        found = await self.redis.hget(self.keys(sale_id).sale, "left")
        return None if found is None else int(found)

    async def close(self, sale: LiveSale) -> int | None:
        """Close the sale in Redis, then write every entry of its stream that the database
        does not have yet (the stream is complete: nothing is appended once closed)."""
        keys = self.keys(sale.id)
        left = int(await self._close(keys=[keys.sale]))
        start = "-"
        while True:
            batch: Any = await self.redis.xrange(keys.stream, min=start, count=1000)
            if not batch:
                break
            entries = [rows.decode(sale.id, entry_id, fields) for entry_id, fields in batch]
            await self.db.run(partial(rows.write_entries, entries=entries))
            await self.redis.xack(keys.stream, GROUP, *[e.stream_id for e in entries])
            start = "(" + entries[-1].stream_id
        await self.redis.srem(DRAINING, str(sale.id))
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in (keys.sale, keys.takes, keys.won, keys.back, keys.stream):
                pipe.expire(key, CLOSED_KEYS_SECONDS)
            await pipe.execute()
        self._unacked.discard(sale.id)
        return None if left < 0 else left

    # -- for the drain and the reconciliation (``stream.py``) -----------------------------------

    async def give_back_now(self, sale_id: uuid.UUID, reservation_ids: Sequence[str]) -> int:
        keys = self.keys(sale_id)
        given = await self._give_back(
            keys=[keys.sale, keys.takes, keys.won, keys.back], args=list(reservation_ids)
        )
        return int(given)

    async def draining(self) -> list[uuid.UUID]:
        return sorted(uuid.UUID(text(v)) for v in await self.redis.smembers(DRAINING))

    async def read(self, sale_id: uuid.UUID, count: int) -> list[rows.Entry]:
        """Up to ``count`` entries of the sale's stream for this drain: first those it read
        and did not acknowledge (its last write failed), then those a dead drain left
        unacknowledged for ``claim_idle_seconds``, then new ones."""
        keys = self.keys(sale_id)
        found: list[tuple[Any, Any]] = []
        try:
            if sale_id in self._unacked:
                found += _entries_of(
                    await self.redis.xreadgroup(
                        GROUP, self.consumer, {keys.stream: "0"}, count=count
                    )
                )
            loop_time = asyncio.get_running_loop().time()
            if len(found) < count and (
                loop_time - self._claimed_at.get(sale_id, 0.0) >= self.claim_idle_ms / 1000
            ):
                self._claimed_at[sale_id] = loop_time
                claimed = await self.redis.xautoclaim(
                    keys.stream,
                    GROUP,
                    self.consumer,
                    self.claim_idle_ms,
                    start_id="0-0",
                    count=count - len(found),
                )
                found += [(i, f) for i, f in claimed[1] if f]
            if len(found) < count:
                found += _entries_of(
                    await self.redis.xreadgroup(
                        GROUP, self.consumer, {keys.stream: ">"}, count=count - len(found)
                    )
                )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # The group (or the stream) is gone: the sale's keys expired, or Redis lost them.
            # Nothing to drain; the reconciliation drains the sale again if it still sells.
            await self.redis.srem(DRAINING, str(sale_id))
            return []
        seen: set[str] = set()
        entries = []
        for entry_id, fields in found:
            decoded = rows.decode(sale_id, entry_id, fields)
            if decoded.stream_id not in seen:
                seen.add(decoded.stream_id)
                entries.append(decoded)
        if entries:
            self._unacked.add(sale_id)
        return entries

    async def entries(self, sale_id: uuid.UUID) -> list[rows.Entry]:
        """Every entry of the sale's stream (at most one per unit won)."""
        key = self.keys(sale_id).stream
        found: list[rows.Entry] = []
        start = "-"
        while True:
            batch: Any = await self.redis.xrange(key, min=start, count=1000)
            if not batch:
                return found
            found += [rows.decode(sale_id, entry_id, fields) for entry_id, fields in batch]
            start = "(" + found[-1].stream_id

    async def ack(self, sale_id: uuid.UUID, stream_ids: Iterable[str]) -> None:
        """Acknowledge entries whose rows are committed. (Entries of a write that failed stay
        pending: this drain reads them again first, or another claims them once idle.)"""
        ids = list(stream_ids)
        if ids:
            await self.redis.xack(self.keys(sale_id).stream, GROUP, *ids)
        self._unacked.discard(sale_id)

    async def learn(self, sale_id: uuid.UUID, facts: Sequence[tuple[str, str, str, int]]) -> int:
        """Tell Redis what the database knows of the sale's reservations: (kind, reservation,
        member, units), kind ``L`` sold (reserved or paid), ``S`` settled (expired or
        cancelled); in chunks, each fact idempotent."""
        keys = self.keys(sale_id)
        learnt = 0
        for start in range(0, len(facts), 500):
            args: list[str | int] = []
            for fact in facts[start : start + 500]:
                args.extend(fact)
            learnt += int(await self._learn(keys=[keys.won, keys.back], args=args))
        return learnt

    async def recount(
        self, sale_id: uuid.UUID, *, allotted: int, limit: int, may_open: bool
    ) -> Recount | None:
        keys = self.keys(sale_id)
        answer = await self._recount(
            keys=[keys.sale, keys.takes, keys.won, keys.back, keys.stream],
            args=[allotted, limit, "1" if may_open else "0"],
        )
        made, before, left, sold, fixed, is_open = (int(v) for v in answer)
        if made < 0:
            return None
        if is_open:  # an open sale is drained (whether or not its open got that far)
            await self.redis.sadd(DRAINING, str(sale_id))
        return Recount(bool(made), before, left, sold, fixed)

    async def undrained(self, sale_id: uuid.UUID) -> int:
        """Entries of the sale's stream not acknowledged by any drain yet: pending (read, not
        acknowledged) plus never read (the group's lag)."""
        key = self.keys(sale_id).stream
        try:
            groups = await self.redis.xinfo_groups(key)
        except ResponseError:
            return 0
        for group in groups:
            if text(group["name"]) == GROUP:
                lag = group.get("lag")
                return int(group["pending"]) + (int(lag) if lag is not None else 0)
        return 0

    async def forget_idle_consumers(self, sale_id: uuid.UUID, idle_ms: int = 3_600_000) -> int:
        """Drop the group's consumers that hold nothing and were idle for ``idle_ms`` (each
        process that ever drained the sale left its name)."""
        key = self.keys(sale_id).stream
        try:
            consumers = await self.redis.xinfo_consumers(key, GROUP)
        except ResponseError:
            return 0
        dropped = 0
        for consumer in consumers:
            name = text(consumer["name"])
            if name != self.consumer and not consumer["pending"] and consumer["idle"] > idle_ms:
                await self.redis.xgroup_delconsumer(key, GROUP, name)
                dropped += 1
        return dropped

    def _wake_drain(self) -> None:
        """Ask this process's worker loops to drain soon, at most every WAKE_EVERY_SECONDS."""
        if self._wake_pending:
            return
        self._wake_pending = True

        def wake() -> None:
            self._wake_pending = False
            WAKEUPS.wake(DRAIN_SWEEP)

        asyncio.get_running_loop().call_later(WAKE_EVERY_SECONDS, wake)


def _entries_of(reply: Any) -> list[tuple[Any, Any]]:
    """The (id, fields) pairs of an XREADGROUP reply (``[[stream, entries]]``); an entry
    deleted meanwhile comes back with no fields and is skipped."""
    return [(i, f) for _stream, entries in reply or () for i, f in entries if f]
