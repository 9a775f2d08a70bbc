"""This process's view of flash sales, for the burst: each sale as an attempt needs it
(``LiveSale``), read from the database at most about once a second and outside the hot path,
and a short-lived sold-out flag, so that once a sale is sold out the losers are answered
before any database or Redis work.

A sale seen for the first time is read once (the first attempt waits for it); afterwards a
stale entry is still answered from while one background task reads it again. The status may
lag the database by about a second: the sale's window is checked against the clock, and the
engine itself refuses what its own counters do not allow, so the lag never sells a unit that
is not there.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import select

from tribekit.kit.db import Database
from tribekit.models.campaigns import FlashSale
from tribekit.models.catalog import Product
from tribekit.models.tenancy import Merchant

from .engine import FlashEngine, LiveSale, SaleStatus

log = logging.getLogger(__name__)

#: How old a sale's entry may be before it is read again.
REFRESH_SECONDS = 1.0
#: How long a sold-out flag answers by itself before the engine is asked again (units may come
#: back from an expired reservation).
SOLD_OUT_HOLD_SECONDS = 0.25


def live_sale(sale: FlashSale, product: Product, merchant: Merchant) -> LiveSale:
    return LiveSale(
        id=sale.id,
        merchant_id=sale.merchant_id,
        product_id=sale.product_id,
        name=sale.name,
        product_name=product.name,
        regular_price=product.price,
        unit_cost=product.cost_price,
        price=sale.price,
        currency=merchant.currency,
        timezone=merchant.timezone,
        per_member_limit=sale.per_member_limit,
        reservation_ttl_seconds=sale.reservation_ttl_seconds,
        starts_at=sale.starts_at,
        ends_at=sale.ends_at,
        status=SaleStatus(sale.status),
        allotted=sale.allotted,
        community_ids=frozenset(uuid.UUID(i) for i in sale.community_ids),
        level_ids=frozenset(uuid.UUID(i) for i in sale.level_ids),
        engine=sale.engine,
        quantity=sale.quantity,
    )


async def read_sale(db: Database, sale_id: uuid.UUID) -> LiveSale | None:
    async with db.unit_of_work(read_only=True) as session:
        row = (
            await session.execute(
                select(FlashSale, Product, Merchant)
                .join(Product, Product.id == FlashSale.product_id)
                .join(Merchant, Merchant.id == FlashSale.merchant_id)
                .where(FlashSale.id == sale_id)
            )
        ).first()
    return None if row is None else live_sale(*row)


@dataclass
class _Entry:
    sale: LiveSale | None  # None: no such sale (remembered too, so unknown ids cost no reads)
    read_at: float


class LiveSales:
    def __init__(
        self,
        db: Database,
        *,
        refresh_seconds: float = REFRESH_SECONDS,
        sold_out_hold: float = SOLD_OUT_HOLD_SECONDS,
    ) -> None:
        self.db = db
        self.refresh_seconds = refresh_seconds
        self.sold_out_hold = sold_out_hold
        self._entries: dict[uuid.UUID, _Entry] = {}
        self._sold_out: dict[uuid.UUID, float] = {}
        self._left: dict[uuid.UUID, tuple[int, float]] = {}  # units left, when learnt
        self._counting: set[uuid.UUID] = set()
        self._tasks: set[asyncio.Task[None]] = set()  # held until done
        self._reading: dict[uuid.UUID, asyncio.Future[LiveSale | None]] = {}
        self._background: set[asyncio.Task[LiveSale | None]] = set()  # held until done

    async def get(self, sale_id: uuid.UUID) -> LiveSale | None:
        entry = self._entries.get(sale_id)
        if entry is None:
            return await self._read(sale_id)
        if time.monotonic() - entry.read_at > self.refresh_seconds:
            self._read_later(sale_id)
        return entry.sale

    def _read_later(self, sale_id: uuid.UUID) -> None:
        if sale_id not in self._reading:
            task = asyncio.create_task(self._read(sale_id))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            task.add_done_callback(_log_failure)

    async def _read(self, sale_id: uuid.UUID) -> LiveSale | None:
        """One read per sale at a time: concurrent first attempts wait for the same read."""
        running = self._reading.get(sale_id)
        if running is not None:
            return await asyncio.shield(running)
        task = asyncio.ensure_future(read_sale(self.db, sale_id))
        self._reading[sale_id] = task
        try:
            sale = await asyncio.shield(task)
        finally:
            self._reading.pop(sale_id, None)
        self._entries[sale_id] = _Entry(sale, time.monotonic())
        return sale

    def forget(self, sale_id: uuid.UUID) -> None:
        """Read the sale again on next use (this process changed it)."""
        self._entries.pop(sale_id, None)
        self._sold_out.pop(sale_id, None)

    def is_sold_out(self, sale_id: uuid.UUID) -> bool:
        until = self._sold_out.get(sale_id)
        if until is None:
            return False
        if time.monotonic() < until:
            return True
        del self._sold_out[sale_id]
        return False

    def mark_sold_out(self, sale_id: uuid.UUID) -> None:
        self._sold_out[sale_id] = time.monotonic() + self.sold_out_hold

    def note_left(self, sale_id: uuid.UUID, left: int) -> None:
        """What an attempt just learnt of the units left (cheaper than asking)."""
        self._left[sale_id] = (left, time.monotonic())
        if left <= 0:
            self.mark_sold_out(sale_id)

    async def left(self, sale: LiveSale, engine: FlashEngine) -> int:
        """Units left, approximately: learnt at most ``refresh_seconds`` ago (from an attempt
        or the engine); a stale figure is answered while the engine is asked again."""
        known = self._left.get(sale.id)
        if known is None:
            found = await engine.left(sale.id)
            self._left[sale.id] = (found or 0, time.monotonic())
            return found or 0
        if time.monotonic() - known[1] > self.refresh_seconds and sale.id not in self._counting:
            self._counting.add(sale.id)
            counting = asyncio.create_task(self._count(sale.id, engine))
            self._tasks.add(counting)
            counting.add_done_callback(self._tasks.discard)
            counting.add_done_callback(lambda _: self._counting.discard(sale.id))
        return known[0]

    async def _count(self, sale_id: uuid.UUID, engine: FlashEngine) -> None:
        try:
            found = await engine.left(sale_id)
        except Exception:
            log.warning("counting a flash sale's units failed", exc_info=True)
            return
        self._left[sale_id] = (found or 0, time.monotonic())


def _log_failure(task: asyncio.Task[LiveSale | None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("reading a flash sale failed", exc_info=task.exception())
