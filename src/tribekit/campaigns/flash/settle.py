"""A flash order's end, as the orders domain meets it: paid (its reservation is paid), or
closed unpaid, expired or cancelled (its reservation too, and its units go back, once), or
paid after it closed (its units taken again if they are there, else the payment is refunded:
``take_again``).

The order's expiry is its reservation's: the order is written expiring with the reservation,
so whoever closes the order (the flash sales' expiry sweep, the orders' own, a member or staff
cancelling it) closes the reservation in the same transaction, by one conditional update
(``reserved -> expired | cancelled``); only the transaction that wins it gives the units back.
While the sale sells they go back to the sale (its engine's ``give_back``); after its end, to
the product's stock (``returned`` counts them). A flash line's stock is never the product's
own (``orders.py``), so the orders domain leaves it alone (``lifecycle.release``).

Locks follow ``kit.locks``: the order (already locked by its closing), then the sale (rank
CAMPAIGN), then the product.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.catalog.repository import Products
from tribekit.kit import clock, locks
from tribekit.models.campaigns import FlashReservation, FlashSale, FlashTake
from tribekit.models.catalog import Product
from tribekit.models.enums import OrderStatus
from tribekit.models.orders import Order
from tribekit.models.tenancy import Merchant

from . import runtime
from .engine import SELLING, SaleStatus
from .live import live_sale
from .sql_engine import give_back_units

log = logging.getLogger(__name__)

#: The reservation's status for the order's closing status.
CLOSED = {OrderStatus.EXPIRED: "expired", OrderStatus.CANCELLED: "cancelled"}


@dataclass(frozen=True)
class Returned:
    """A reservation whose units this transaction gives back."""

    reservation_id: uuid.UUID
    sale_id: uuid.UUID
    member_id: uuid.UUID
    quantity: int


async def lock_sales(session: AsyncSession, order_ids: Sequence[uuid.UUID]) -> None:
    """Lock the sales whose reserved units closing these orders will give back, in id order
    (rank CAMPAIGN: after the orders, before the products)."""
    if not order_ids:
        return
    sale_ids = sorted(
        set(
            (
                await session.scalars(
                    select(FlashReservation.sale_id).where(
                        FlashReservation.order_id.in_(list(order_ids)),
                        FlashReservation.status == "reserved",
                    )
                )
            ).all()
        )
    )
    await _lock(session, sale_ids)


async def _lock(session: AsyncSession, sale_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, FlashSale]:
    if not sale_ids:
        return {}
    locks.acquire(session, locks.Rank.CAMPAIGN, sale_ids)
    rows = await session.scalars(
        select(FlashSale)
        .where(FlashSale.id.in_(list(sale_ids)))
        .order_by(FlashSale.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {row.id: row for row in rows}


async def paid(session: AsyncSession, order: Order) -> None:
    """The order was paid: its reservation is paid (its units are sold)."""
    await session.execute(
        update(FlashReservation)
        .where(FlashReservation.order_id == order.id, FlashReservation.status == "reserved")
        .values(status="paid", settled_at=clock.now())
        .execution_options(synchronize_session=False)
    )


async def release(session: AsyncSession, order: Order) -> None:
    """The order closed unpaid (its status now expired or cancelled): its reservation closes
    with it and its units go back, exactly once."""
    status = CLOSED.get(OrderStatus(order.status), "cancelled")
    await close_reservations(session, [order.id], status)


async def close_reservations(
    session: AsyncSession, order_ids: Sequence[uuid.UUID], status: str
) -> list[Returned]:
    """Move the reservations of these (closed) orders from reserved to ``status`` and give
    their units back; returns what was given back (only what this transaction won)."""
    if not order_ids:
        return []
    rows = await session.execute(
        update(FlashReservation)
        .where(
            FlashReservation.order_id.in_(list(order_ids)),
            FlashReservation.status == "reserved",
        )
        .values(status=status, settled_at=clock.now())
        .returning(
            FlashReservation.id,
            FlashReservation.sale_id,
            FlashReservation.member_id,
            FlashReservation.quantity,
        )
        .execution_options(synchronize_session=False)
    )
    returned = [Returned(*row) for row in rows.all()]
    await give_back(session, returned)
    return returned


async def give_back(session: AsyncSession, returned: Sequence[Returned]) -> None:
    """Units of closed reservations back where they belong now: into a sale that still sells
    (its engine), or into the product's stock after the sale ended (``returned`` counts them)."""
    by_sale: dict[uuid.UUID, list[Returned]] = defaultdict(list)
    for item in returned:
        by_sale[item.sale_id].append(item)
    sales = await _lock(session, sorted(by_sale))
    to_stock: dict[uuid.UUID, Counter[uuid.UUID]] = defaultdict(Counter)  # merchant -> product
    for sale_id, items in sorted(by_sale.items()):
        sale = sales[sale_id]
        units: Counter[uuid.UUID] = Counter()
        for item in items:
            units[item.member_id] += item.quantity
        if sale.status in SELLING:
            await _to_engine(session, sale, units, [i.reservation_id for i in items])
            continue
        total = sum(units.values())
        to_stock[sale.merchant_id][sale.product_id] += total
        await session.execute(
            update(FlashSale)
            .where(FlashSale.id == sale.id)
            .values(returned=FlashSale.returned + total)
            .execution_options(synchronize_session=False)
        )
    if to_stock:
        # Products of several merchants: locked together in one global id order first.
        product_ids = sorted({p for products in to_stock.values() for p in products})
        locks.acquire(session, locks.Rank.PRODUCT, product_ids)
        await session.execute(
            select(Product.id)
            .where(Product.id.in_(product_ids))
            .order_by(Product.id)
            .with_for_update()
        )
    for merchant_id, products in sorted(to_stock.items()):
        await Products(session, merchant_id).put_back(products)


async def _to_engine(
    session: AsyncSession,
    sale: FlashSale,
    units: Counter[uuid.UUID],
    reservation_ids: list[uuid.UUID],
) -> None:
    if sale.engine == "sql":
        await give_back_units(session, sale.id, units)
        return
    engine = runtime.installed(sale.engine)
    if engine is None:
        # No engine built in this process (an API process that never sold): the
        # reconciliation sweep gives these units back from the database's record.
        log.warning("flash units left for reconciliation", extra={"sale": str(sale.id)})
        return
    product = await session.get(Product, sale.product_id)
    merchant = await session.get(Merchant, sale.merchant_id)
    assert product is not None  # a sale's product stays (the foreign key)
    assert merchant is not None
    await engine.give_back(
        session, live_sale(sale, product, merchant), units, reservation_ids=reservation_ids
    )


async def is_flash_order(session: AsyncSession, order: Order) -> bool:
    """Whether the order was written for a flash sale's reservation."""
    found = await session.scalar(
        select(FlashReservation.id).where(FlashReservation.order_id == order.id).limit(1)
    )
    return found is not None


async def take_again(session: AsyncSession, order: Order) -> bool:
    """A payment arrived for a flash order that had closed unpaid (its status just moved to
    paid, the order locked): take its units again if they are there, and its reservation is
    paid. While the sale sells on the SQL engine, from the sale's units left (within the
    member's limit); after the sale ended, from what it gave back to the product's stock.
    False when they are gone (or counted outside the database: the Redis engine's live sale):
    the payment is then refunded."""
    reservation = await session.scalar(
        select(FlashReservation).where(
            FlashReservation.order_id == order.id,
            FlashReservation.status.in_(list(CLOSED.values())),
        )
    )
    if reservation is None:
        return False
    sale = (await _lock(session, [reservation.sale_id]))[reservation.sale_id]
    quantity = reservation.quantity
    if sale.status in SELLING:
        if sale.engine != "sql" or not await _take_from_sale(session, sale, reservation):
            return False
    elif sale.status == "ended":
        if sale.returned < quantity:
            return False
        if not await Products(session, sale.merchant_id).take_stock(sale.product_id, quantity):
            return False
        await session.execute(
            update(FlashSale)
            .where(FlashSale.id == sale.id)
            .values(returned=FlashSale.returned - quantity)
            .execution_options(synchronize_session=False)
        )
    else:
        return False
    await session.execute(
        update(FlashReservation)
        .where(FlashReservation.id == reservation.id)
        .values(status="paid", settled_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    return True


async def _take_from_sale(
    session: AsyncSession, sale: FlashSale, reservation: FlashReservation
) -> bool:
    """The SQL engine's units, taken as an attempt takes them (the sale's row is locked)."""
    quantity = reservation.quantity
    taken = await session.execute(
        update(FlashTake)
        .where(
            FlashTake.sale_id == sale.id,
            FlashTake.member_id == reservation.member_id,
            FlashTake.taken + quantity <= FlashTake.cap,
        )
        .values(taken=FlashTake.taken + quantity)
        .execution_options(synchronize_session=False)
    )
    if not taken.rowcount:  # type: ignore[attr-defined]  # DML results have it
        return False  # the member bought up to their limit meanwhile
    left = await session.execute(
        update(FlashSale)
        .where(FlashSale.id == sale.id, FlashSale.remaining >= quantity)
        .values(
            remaining=FlashSale.remaining - quantity,
            status=case(
                (FlashSale.remaining == quantity, SaleStatus.SOLD_OUT.value),
                else_=FlashSale.status,
            ),
        )
        .execution_options(synchronize_session=False)
    )
    if left.rowcount:  # type: ignore[attr-defined]
        return True
    await session.execute(  # no units: the take goes back as it was
        update(FlashTake)
        .where(FlashTake.sale_id == sale.id, FlashTake.member_id == reservation.member_id)
        .values(taken=FlashTake.taken - quantity)
        .execution_options(synchronize_session=False)
    )
    return False
