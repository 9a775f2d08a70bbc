"""The worker's part of flash sales: sales start and end by themselves on time, unpaid
reservations expire after their TTL, and Redis sales are marked sold out (the SQL engine marks
its own in the statement that takes the last unit).

Every sweep claims its rows with ``FOR UPDATE SKIP LOCKED`` and moves them with conditional
updates, so any number of workers share the work and nothing happens twice:

* **start** (at ``starts_at``): ``allotted = min(quantity, stock)`` taken from the product's
  stock (its row locked after the sale's, ``kit.locks``; untracked stock: the whole quantity),
  the sale live (sold out at once if nothing could be allotted) on the engine new sales start
  on; after commit, ``engine.open``.
* **end** (at ``ends_at``): the engine is closed first, outside any transaction (the Redis
  engine stops selling and its stream is drained; the SQL engine needs nothing), then one
  transaction moves the sale to ended and gives ``allotted - sold`` back to the product's stock
  (``returned``), counted from the reservations in the database. A reservation still unpaid
  gives its units to the product's stock when it expires later.
* **expiry** (at a reservation's ``expires_at``, the order's): the orders close expired and
  their reservations with them, in batches, by conditional updates; units go back once
  (``settle.py``).
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from functools import partial

from redis.asyncio import Redis
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.catalog.repository import Products
from tribekit.kit import clock, locks, outbox
from tribekit.kit.db import Database
from tribekit.kit.settings import get_settings
from tribekit.kit.worker import Sweep, claim_due
from tribekit.models.campaigns import FlashReservation, FlashSale
from tribekit.models.catalog import Product
from tribekit.models.enums import OrderStatus
from tribekit.models.orders import Order
from tribekit.models.tenancy import Merchant
from tribekit.orders import events
from tribekit.tenancy.principal import Tenant

from . import runtime as flash_runtime
from .engine import SELLING, FlashEngine, LiveSale, SaleStatus
from .live import live_sale
from .runtime import FlashRuntime
from .settle import close_reservations

log = logging.getLogger(__name__)

#: How long a claimed end waits for its engine to close before another worker may try.
END_LEASE = timedelta(seconds=30)


async def _tenant(session: AsyncSession, merchant_id: uuid.UUID) -> Tenant:
    merchant = await session.get(Merchant, merchant_id)
    assert merchant is not None  # a merchant's sales go with it
    return Tenant.of(merchant)


# -- start --------------------------------------------------------------------------------------


async def start_due(session: AsyncSession, runtime: FlashRuntime, batch_size: int) -> int:
    """Start the scheduled sales whose time has come."""
    now = clock.now()
    due = (
        select(FlashSale)
        .where(FlashSale.status == SaleStatus.SCHEDULED.value, FlashSale.due_at <= now)
        .order_by(FlashSale.id)
    )
    sales = list((await session.scalars(claim_due(due, batch_size))).all())
    locks.acquire(session, locks.Rank.CAMPAIGN, [s.id for s in sales], skip_locked=True)
    engine_name = runtime.start_engine
    for sale in sales:
        allotted = await _allot(session, sale)
        sale.allotted = sale.remaining = allotted
        sale.status = (SaleStatus.LIVE if allotted else SaleStatus.SOLD_OUT).value
        sale.sold_out_at = None if allotted else now
        sale.started_at = now
        sale.due_at = sale.ends_at
        sale.engine = engine_name
        sale.version += 1
        await session.flush()
        product = await session.get(Product, sale.product_id)
        merchant = await session.get(Merchant, sale.merchant_id)
        assert product is not None  # the sale's product (a foreign key)
        assert merchant is not None
        opened = live_sale(sale, product, merchant)
        engine = runtime.engine(engine_name)

        outbox.on_commit(session, partial(_open, runtime, engine, opened, allotted))
    return len(sales)


async def _open(runtime: FlashRuntime, engine: FlashEngine, sale: LiveSale, allotted: int) -> None:
    await engine.open(sale, allotted)
    runtime.live.forget(sale.id)


async def _allot(session: AsyncSession, sale: FlashSale) -> int:
    """Take up to the sale's quantity from the product's stock (its row locked: rank PRODUCT
    after the sale's CAMPAIGN); untracked stock gives the whole quantity."""
    products = Products(session, sale.merchant_id)
    product = (await products.lock_in_order([sale.product_id])).get(sale.product_id)
    if product is None:
        return 0
    await session.refresh(product, ["stock"])
    if product.stock is None:
        return sale.quantity
    allotted = min(sale.quantity, product.stock)
    if allotted and not await products.take_stock(sale.product_id, allotted):
        return 0  # cannot happen with the row locked; taking nothing keeps stock exact
    return allotted


# -- end ----------------------------------------------------------------------------------------


async def end_due(session: AsyncSession, runtime: FlashRuntime, batch_size: int) -> int:
    """End the selling sales past their end: the SQL engine's at once; an engine that must be
    closed first (Redis) is closed after this claim commits, then ended in its own unit of
    work (the claim's lease keeps other workers off meanwhile)."""
    now = clock.now()
    due = (
        select(FlashSale)
        .where(FlashSale.status.in_([s.value for s in SELLING]), FlashSale.due_at <= now)
        .order_by(FlashSale.id)
    )
    sales = list((await session.scalars(claim_due(due, batch_size))).all())
    locks.acquire(session, locks.Rank.CAMPAIGN, [s.id for s in sales], skip_locked=True)
    closing = []
    for sale in sales:
        if sale.engine == "sql":
            await end_sale(session, sale)
            outbox.on_commit(session, partial(_forget, runtime, sale.id))
        else:
            sale.due_at = now + END_LEASE
            product = await session.get(Product, sale.product_id)
            merchant = await session.get(Merchant, sale.merchant_id)
            assert product is not None  # the sale's product (a foreign key)
            assert merchant is not None
            closing.append(live_sale(sale, product, merchant))
    if closing:

        async def close_then_end() -> None:
            for item in closing:
                held = await runtime.engine(item.engine).close(item)
                log.info("flash sale closed", extra={"sale": str(item.id), "held": held})
                await runtime.db.run(partial(_end_by_id, sale_id=item.id))
                runtime.live.forget(item.id)

        outbox.on_commit(session, close_then_end)
    return len(sales)


async def _forget(runtime: FlashRuntime, sale_id: uuid.UUID) -> None:
    runtime.live.forget(sale_id)


async def _end_by_id(session: AsyncSession, sale_id: uuid.UUID) -> None:
    locks.acquire(session, locks.Rank.CAMPAIGN, [sale_id])
    sale = await session.scalar(
        select(FlashSale)
        .where(FlashSale.id == sale_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if sale is not None and sale.status in SELLING:
        await end_sale(session, sale)


async def end_sale(session: AsyncSession, sale: FlashSale) -> int:
    """Move a selling sale (its row locked) to ended and give what was not sold back to the
    product's stock, once; returns the units given back. Sold = units of reservations reserved
    or paid in the database (the engine closed: all of them are rows)."""
    sold = int(
        await session.scalar(
            select(func.coalesce(func.sum(FlashReservation.quantity), 0)).where(
                FlashReservation.sale_id == sale.id,
                FlashReservation.status.in_(["reserved", "paid"]),
            )
        )
        or 0
    )
    back = max(sale.allotted - sold - sale.returned, 0)
    if sale.engine == "sql" and back != sale.remaining:
        log.error(
            "flash sale's counter differs from its reservations",
            extra={"sale": str(sale.id), "remaining": sale.remaining, "unsold": back},
        )
    if back:
        await Products(session, sale.merchant_id).put_back({sale.product_id: back})
    now = clock.now()
    sale.status = SaleStatus.ENDED.value
    sale.remaining = 0
    sale.returned += back
    sale.ended_at = now
    sale.due_at = None
    sale.version += 1
    await session.flush()
    return back


# -- reservations expiring ----------------------------------------------------------------------


async def expire_due(session: AsyncSession, batch_size: int) -> int:
    """Close the flash orders whose time to pay ran out, with their reservations: a batch of
    orders by one conditional update (a payment landing at the same moment wins or loses
    cleanly), their reservations by another, the units back per sale (``settle.py``). Flash
    orders hold no stock of the product, no points and no coupons: nothing else to release."""
    now = clock.now()
    due = (
        select(Order)
        .where(
            Order.status == OrderStatus.PLACED,
            Order.expires_at <= now,
            Order.campaign_id.is_not(None),
            select(FlashReservation.id).where(FlashReservation.order_id == Order.id).exists(),
        )
        .order_by(Order.expires_at)
    )
    claimed = list((await session.scalars(claim_due(due, batch_size))).all())
    ids = [row.id for row in claimed]
    if not ids:
        return 0
    locks.acquire(session, locks.Rank.ORDER, ids, skip_locked=True)
    expired = set(
        (
            await session.scalars(
                update(Order)
                .where(Order.id.in_(ids), Order.status == OrderStatus.PLACED)
                .values(
                    status=OrderStatus.EXPIRED,
                    closed_at=now,
                    close_reason="not paid in time",
                    expires_at=None,
                )
                .returning(Order.id)
                .execution_options(synchronize_session=False)
            )
        ).all()
    )
    await close_reservations(session, sorted(expired), "expired")
    tenants: dict[uuid.UUID, Tenant] = {}
    for row in claimed:
        if row.id not in expired:
            continue
        if row.merchant_id not in tenants:
            tenants[row.merchant_id] = await _tenant(session, row.merchant_id)
        await events.emit(
            session,
            tenants[row.merchant_id],
            row.id,
            events.OrderExpired(member_id=row.member_id, reason="not paid in time"),
            actor="system",
        )
    return len(ids)


# -- Redis sales sold out -----------------------------------------------------------------------


async def mark_sold_out(session: AsyncSession, runtime: FlashRuntime, batch_size: int) -> int:
    """Sales on an engine that counts outside the database (Redis): after this read commits,
    ask the engine for each one's units left and move the status (live <-> sold out) to
    match, by conditional updates."""
    rows = (
        await session.execute(
            select(FlashSale.id, FlashSale.status, FlashSale.engine)
            .where(
                FlashSale.status.in_([s.value for s in SELLING]),
                FlashSale.engine != "sql",
                FlashSale.ends_at > clock.now(),
            )
            .order_by(FlashSale.id)
            .limit(batch_size)
        )
    ).all()
    if not rows:
        return 0

    async def compare() -> None:
        for sale_id, status, engine_name in rows:
            left = await runtime.engine(engine_name).left(sale_id)
            if left is None:
                continue
            want = SaleStatus.SOLD_OUT if left <= 0 else SaleStatus.LIVE
            if want != status:
                await runtime.db.run(partial(_set_selling, sale_id=sale_id, status=want))

    outbox.on_commit(session, compare)
    return 0  # nothing claimed: one look per turn


async def _set_selling(session: AsyncSession, sale_id: uuid.UUID, status: SaleStatus) -> None:
    values: dict[str, object] = {"status": status.value}
    if status == SaleStatus.SOLD_OUT:
        values["sold_out_at"] = func.coalesce(FlashSale.sold_out_at, clock.now())
    await session.execute(
        update(FlashSale)
        .where(FlashSale.id == sale_id, FlashSale.status.in_([s.value for s in SELLING]))
        .values(values)
        .execution_options(synchronize_session=False)
    )


def sweeps(db: Database, redis: Redis | None) -> list[Sweep]:
    """The flash sales' sweeps, for a process whose runtime is built here (its engines). A
    start or an end locks one product: one sale per run (a run that handled a full batch runs
    again at once), so products are never locked out of id order."""
    settings = get_settings()
    runtime = flash_runtime.shared(db, redis, settings)

    async def start(session: AsyncSession, batch_size: int) -> int:
        return await start_due(session, runtime, batch_size)

    async def end(session: AsyncSession, batch_size: int) -> int:
        return await end_due(session, runtime, batch_size)

    async def sold_out(session: AsyncSession, batch_size: int) -> int:
        return await mark_sold_out(session, runtime, batch_size)

    return [
        Sweep("flash_start", start, every_seconds=1, batch_size=1),
        Sweep("flash_end", end, every_seconds=1, batch_size=1),
        Sweep("flash_expire", expire_due, every_seconds=1, batch_size=500),
        *([Sweep("flash_sold_out", sold_out, every_seconds=1, batch_size=50)] if redis else []),
    ]
