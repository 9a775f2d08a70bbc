"""The Redis engine's reservation stream, drained into the database, and the reconciliation
that makes Redis and the database agree after any crash.

**Invariants** (for one sale on the Redis engine; "units of X" sums the reservations' units):

1. The database is the truth for orders. A reservation row (with its order, line and
   ``placed`` event, ``rows.py``) exists only for a win the attempt script recorded, under the
   script's reservation id; the drain writes each entry at most once (a replay finds its id).
2. In Redis, after every script: ``left = allotted - units(won - back)`` and each member's
   count = that member's units of ``won - back`` (``redis_engine.py``). ``won`` holds every win
   the script made; the same script appended it to the stream.
3. While the sale sells, with ``sold`` = units of the database's reservations ``reserved`` or
   ``paid`` plus units of the stream's entries not in the database yet (undrained):
   ``sold + left = allotted``, exactly, once every committed expiry's give-back has run. So no
   unit is sold twice (``left`` never exceeds what the database and the stream leave) and none
   is lost (a unit given back in the database comes back to ``left``).
4. A reservation's units come back once: the database's conditional update decides *whether*
   (``settle.py``), Redis's ``back`` set decides *once*: the after-commit callback and the
   reconciliation both add the id to ``back`` and only the one that added it moves units.

**What breaks them, and what mends it**

* A drain dies after reading entries, before its commit: the entries stay pending in the
  consumer group; another drain claims them (``XAUTOCLAIM``) once idle, or the same drain
  reads its own pending entries first. Entries are acknowledged only after the commit, so an
  entry is never lost; a commit followed by a crash before ``XACK`` replays rows already
  written, which the drain skips by id.
* A give-back callback lost to a crash after its expiry committed (invariant 3 short by its
  units): the reconciliation marks every expired or cancelled reservation as given back and
  recounts.
* Redis lost data (restarted without persistence, failed over to a lagging replica): the
  database's reservations are learnt back into ``won``/``back`` and ``left`` and the counts
  recounted from them; a sale Redis no longer holds is opened again, with what the database
  says it sold, while its window lasts. Wins that existed only in the lost data are gone with
  it (their members were answered with a reservation the database never got); a win the
  database got but Redis forgot is counted again, so at worst the sale sells nothing more.
* A counter changed by hand (or by a bug): the recount sets ``left`` and every member's count
  from ``won - back`` again.

The reconciliation runs in one Lua script per sale (after the database's facts are learnt),
so it is atomic with respect to every attempt, and its facts are each idempotent: a
reservation the database moved after the facts were read is still right, because ``back``
is only ever added to by the one who gives the units back.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock, outbox
from tribekit.kit.db import Database
from tribekit.kit.settings import get_settings
from tribekit.kit.worker import Sweep
from tribekit.models.campaigns import FlashReservation, FlashSale

from . import rows
from . import runtime as flash_runtime
from .engine import SELLING
from .redis_engine import DRAIN_SWEEP, RedisEngine

log = logging.getLogger(__name__)

#: Reservations whose units are sold (the others were given back).
SOLD_STATUSES = ("reserved", "paid")
#: How long one worker loop keeps draining while entries keep coming, before its other sweeps.
DRAIN_SPELL_SECONDS = 1.0
#: How often each worker reconciles the selling sales.
RECONCILE_EVERY_SECONDS = 10.0


# -- the drain ----------------------------------------------------------------------------------


async def drain(session: AsyncSession, engine: RedisEngine, batch_size: int) -> int:
    """Read up to ``batch_size`` entries from the selling sales' streams (before the unit of
    work opens its transaction), write their rows in the unit of work, and acknowledge them
    once it has committed. Returns the entries handled."""
    entries: list[rows.Entry] = []
    for sale_id in await engine.draining():
        if len(entries) >= batch_size:
            break
        entries += await engine.read(sale_id, batch_size - len(entries))
    if not entries:
        return 0
    await rows.write_entries(session, entries)
    by_sale: dict[uuid.UUID, list[str]] = {}
    for entry in entries:
        by_sale.setdefault(entry.sale_id, []).append(entry.stream_id)

    async def ack() -> None:
        for sale_id, ids in by_sale.items():
            await engine.ack(sale_id, ids)

    outbox.on_commit(session, ack)
    return len(entries)


# -- the reconciliation -------------------------------------------------------------------------


@dataclass(frozen=True)
class SaleFacts:
    """What the database says of one selling sale: its allotment and limit, whether it may
    still sell (inside its window), and each reservation as (kind, id, member, units)."""

    sale_id: uuid.UUID
    allotted: int
    limit: int
    may_open: bool
    reservations: list[tuple[str, str, str, int]]


async def read_facts(session: AsyncSession, batch_size: int) -> list[SaleFacts]:
    """The selling Redis sales and their reservations, one statement each (each a consistent
    snapshot of that sale's reservations)."""
    now = clock.now()
    sales = (
        await session.execute(
            select(FlashSale.id, FlashSale.allotted, FlashSale.per_member_limit, FlashSale.ends_at)
            .where(
                FlashSale.engine == "redis",
                FlashSale.status.in_([s.value for s in SELLING]),
            )
            .order_by(FlashSale.id)
            .limit(batch_size)
        )
    ).all()
    facts = []
    for sale_id, allotted, limit, ends_at in sales:
        found = await session.execute(
            select(
                FlashReservation.id,
                FlashReservation.member_id,
                FlashReservation.quantity,
                FlashReservation.status,
            ).where(FlashReservation.sale_id == sale_id)
        )
        reservations = [
            ("L" if status in SOLD_STATUSES else "S", str(rid), str(member), quantity)
            for rid, member, quantity, status in found
        ]
        facts.append(SaleFacts(sale_id, allotted, limit, ends_at > now, reservations))
    return facts


async def reconcile_sale(engine: RedisEngine, facts: SaleFacts) -> None:
    """Make Redis agree with the database for one sale (outside any transaction)."""
    learnt = await engine.learn(facts.sale_id, facts.reservations)
    recount = await engine.recount(
        facts.sale_id, allotted=facts.allotted, limit=facts.limit, may_open=facts.may_open
    )
    if learnt or (recount is not None and recount.changed):
        log.warning(
            "flash sale reconciled",
            extra={
                "sale": str(facts.sale_id),
                "learnt": learnt,
                "made": recount.made if recount else None,
                "left_before": recount.left_before if recount else None,
                "left": recount.left if recount else None,
                "counts_fixed": recount.counts_fixed if recount else None,
            },
        )
    await engine.forget_idle_consumers(facts.sale_id)


async def reconcile(session: AsyncSession, engine: RedisEngine, batch_size: int) -> int:
    """Read the selling Redis sales' facts in this unit of work, and reconcile each in Redis
    after it commits. Returns 0: one look per turn."""
    facts = await read_facts(session, batch_size)

    async def mend() -> None:
        for sale in facts:
            await reconcile_sale(engine, sale)

    if facts:
        outbox.on_commit(session, mend)
    return 0


# -- for tests, the benchmark and operators -----------------------------------------------------


async def drain_all(db: Database, engine: RedisEngine, batch_size: int = 1000) -> int:
    """Drain until the streams have nothing new for this drain; returns the entries handled."""
    total = 0
    while True:
        handled = await db.run(lambda session: drain(session, engine, batch_size))
        total += handled
        if handled < batch_size:
            return total


async def reconcile_now(db: Database, engine: RedisEngine, batch_size: int = 100) -> None:
    """Reconcile every selling Redis sale now (the sweep's work, in one call)."""
    await db.run(lambda session: reconcile(session, engine, batch_size))


@dataclass(frozen=True)
class Tally:
    """One sale's units as the invariants count them (``check``)."""

    allotted: int
    in_database: int  # units of reservations reserved or paid
    undrained: int  # units of stream entries the database does not have
    left: int | None  # Redis's counter

    @property
    def balanced(self) -> bool:
        return self.left is not None and self.in_database + self.undrained + self.left == (
            self.allotted
        )


async def tally(db: Database, engine: RedisEngine, sale_id: uuid.UUID) -> Tally:
    """Count a sale's units both ways (invariant 3), reading the whole stream: for tests and
    for an operator's look, not for the hot path."""
    async with db.unit_of_work(read_only=True) as session:
        allotted = int(
            await session.scalar(select(FlashSale.allotted).where(FlashSale.id == sale_id)) or 0
        )
        found = (
            await session.execute(
                select(
                    FlashReservation.id, FlashReservation.quantity, FlashReservation.status
                ).where(FlashReservation.sale_id == sale_id)
            )
        ).all()
    in_db = {rid for rid, _, _ in found}
    sold = sum(quantity for _, quantity, status in found if status in SOLD_STATUSES)
    undrained = 0
    for entry in await engine.entries(sale_id):
        if entry.reservation_id not in in_db:
            undrained += entry.quantity
    return Tally(allotted, sold, undrained, await engine.left(sale_id))


def sweeps(db: Database, redis: Redis | None) -> list[Sweep]:
    if redis is None:
        return []
    engine = flash_runtime.shared(db, redis, get_settings()).engines.get("redis")
    if not isinstance(engine, RedisEngine):
        return []

    spell: list[float] = []  # when this loop's current run of draining began

    async def drain_sweep(session: AsyncSession, batch_size: int) -> int:
        """A run that wrote entries asks to run again at once (a full batch, to the loop),
        for up to DRAIN_SPELL_SECONDS: a burst's wins are written as they come, not once per
        round of every sweep; then the other sweeps get their turn."""
        handled = await drain(session, engine, batch_size)
        now = asyncio.get_running_loop().time()
        if not handled:
            spell.clear()
            return 0
        if not spell:
            spell.append(now)
        if now - spell[0] < DRAIN_SPELL_SECONDS:
            return batch_size
        spell.clear()
        return handled

    async def reconcile_sweep(session: AsyncSession, batch_size: int) -> int:
        return await reconcile(session, engine, batch_size)

    return [
        Sweep(DRAIN_SWEEP, drain_sweep, every_seconds=0.2, batch_size=2000),
        Sweep(
            "flash_reconcile", reconcile_sweep, every_seconds=RECONCILE_EVERY_SECONDS, batch_size=50
        ),
    ]
