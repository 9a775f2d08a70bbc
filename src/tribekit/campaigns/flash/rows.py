"""The Redis engine's reservation stream entries written into the database in batches: each
entry becomes the very rows the SQL engine writes for a win (``orders.rows_for``: the order,
its line, the ``flash_reservations`` row, the ``placed`` event), with PostgreSQL's COPY.

Idempotent on the reservation id (which is the order's id): ids already in the database are
left out before the COPY; should another drain write the same entries at the same moment (a
stream entry claimed from a drain that was only slow), the COPY fails on the primary key, its
savepoint is rolled back and the batch is written again by ``INSERT ... ON CONFLICT DO
NOTHING``, which skips what the other wrote. SQLite writes by that INSERT from the start.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import JSON

from tribekit.kit.db import sqlstate
from tribekit.models.campaigns import FlashReservation, FlashSale
from tribekit.models.catalog import Product
from tribekit.models.orders import Order, OrderEvent, OrderLine
from tribekit.models.tenancy import Merchant

from .engine import Attempt, LiveSale
from .live import live_sale
from .orders import FlashRows, rows_for

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: Tables in the order they are written (the reservations, lines and events point at orders).
TABLES: tuple[tuple[str, Table], ...] = (
    ("orders", cast(Table, Order.__table__)),
    ("lines", cast(Table, OrderLine.__table__)),
    ("reservations", cast(Table, FlashReservation.__table__)),
    ("events", cast(Table, OrderEvent.__table__)),
)
_JSON = {key: {c.name for c in table.columns if isinstance(c.type, JSON)} for key, table in TABLES}
_UNIQUE_VIOLATION = "23505"


@dataclasses.dataclass(frozen=True)
class Entry:
    """One reservation stream entry: a win, as the attempt script recorded it."""

    stream_id: str
    sale_id: uuid.UUID
    reservation_id: uuid.UUID
    member_id: uuid.UUID
    quantity: int
    unit_price: int
    community_id: uuid.UUID | None
    at: datetime
    expires_at: datetime
    channel: str


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def decode(sale_id: uuid.UUID, stream_id: bytes | str, fields: Mapping[Any, Any]) -> Entry:
    """An entry as ``XRANGE``/``XREADGROUP`` give it: bytes (the engine's client) or text."""
    if b"r" not in fields:  # a client that decodes responses
        fields = {k.encode(): v.encode() for k, v in fields.items()}
    community = fields.get(b"c")
    channel = fields.get(b"ch")
    return Entry(
        stream_id=_text(stream_id),
        sale_id=sale_id,
        reservation_id=uuid.UUID(fields[b"r"].decode()),
        member_id=uuid.UUID(fields[b"m"].decode()),
        quantity=int(fields[b"q"]),
        unit_price=int(fields[b"p"]),
        community_id=uuid.UUID(community.decode()) if community else None,
        at=EPOCH + timedelta(microseconds=int(fields[b"at"])),
        expires_at=EPOCH + timedelta(microseconds=int(fields[b"x"])),
        channel=channel.decode() if channel else "web",
    )


async def sales(session: AsyncSession, sale_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, LiveSale]:
    """The sales of a batch as the rows need them (product name and prices, the merchant's
    currency and timezone)."""
    ids = sorted(set(sale_ids))
    if not ids:
        return {}
    found = await session.execute(
        select(FlashSale, Product, Merchant)
        .join(Product, Product.id == FlashSale.product_id)
        .join(Merchant, Merchant.id == FlashSale.merchant_id)
        .where(FlashSale.id.in_(ids))
    )
    return {sale.id: live_sale(sale, product, merchant) for sale, product, merchant in found}


def attempts(entries: Sequence[Entry], by_sale: Mapping[uuid.UUID, LiveSale]) -> list[Attempt]:
    """Each entry as the attempt that won it, at the price and expiry the script recorded
    (a sale edited since keeps what its members were promised)."""
    variants: dict[tuple[uuid.UUID, int, int], LiveSale] = {}
    made = []
    for entry in entries:
        ttl = int((entry.expires_at - entry.at).total_seconds())
        key = (entry.sale_id, entry.unit_price, ttl)
        sale = variants.get(key)
        if sale is None:
            sale = by_sale[entry.sale_id]
            if sale.price != entry.unit_price or sale.reservation_ttl_seconds != ttl:
                sale = dataclasses.replace(
                    sale, price=entry.unit_price, reservation_ttl_seconds=ttl
                )
            variants[key] = sale
        made.append(
            Attempt(
                sale=sale,
                member_id=entry.member_id,
                quantity=entry.quantity,
                reservation_id=entry.reservation_id,
                community_id=entry.community_id,
                at=entry.at,
                channel=entry.channel,
            )
        )
    return made


async def written(session: AsyncSession, reservation_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these reservations the database already has."""
    if not reservation_ids:
        return set()
    found = await session.scalars(
        select(FlashReservation.id).where(FlashReservation.id.in_(list(reservation_ids)))
    )
    return set(found)


async def write_entries(session: AsyncSession, entries: Sequence[Entry]) -> int:
    """Write the rows of every entry the database does not have yet; returns how many
    reservations this call wrote. Entries of a sale that no longer exists are skipped."""
    if not entries:
        return 0
    have = await written(session, [e.reservation_id for e in entries])
    by_sale = await sales(session, {e.sale_id for e in entries})
    seen: set[uuid.UUID] = set()
    todo = []
    for entry in entries:
        if entry.reservation_id in have or entry.reservation_id in seen:
            continue
        if entry.sale_id in by_sale:
            seen.add(entry.reservation_id)
            todo.append(entry)
    if not todo:
        return 0
    rows = rows_for(attempts(todo, by_sale), stream_ids=[e.stream_id for e in todo])
    return await write(session, rows)


async def write(session: AsyncSession, rows: FlashRows) -> int:
    """Insert ``rows`` (COPY on PostgreSQL); a batch that meets rows written meanwhile by
    another drain is written again skipping them. Returns the reservations written."""
    if session.get_bind().dialect.name == "postgresql":
        try:
            async with session.begin_nested():
                await _copy(session, rows)
            return len(rows.reservations)
        except DBAPIError as exc:
            if sqlstate(exc) != _UNIQUE_VIOLATION:
                raise
        except Exception as exc:
            if getattr(exc, "sqlstate", None) != _UNIQUE_VIOLATION:
                raise
    return await _insert(session, rows)


async def _copy(session: AsyncSession, rows: FlashRows) -> None:
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection  # asyncpg's connection, for its binary COPY
    for key, table in TABLES:
        batch: list[dict[str, Any]] = getattr(rows, key)
        if not batch:
            continue
        columns = list(batch[0])
        as_json = _JSON[key]
        records = [
            tuple(json.dumps(row[c]) if c in as_json else row[c] for c in columns) for row in batch
        ]
        await driver.copy_records_to_table(table.name, records=records, columns=columns)


async def _insert(session: AsyncSession, rows: FlashRows) -> int:
    """``INSERT ... ON CONFLICT DO NOTHING``: the orders first; the other rows only for the
    orders this call inserted."""
    upsert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    orders_table = TABLES[0][1]
    inserted = set(
        (
            await session.scalars(
                upsert(orders_table).on_conflict_do_nothing().returning(orders_table.c.id),
                rows.orders,
            )
        ).all()
    )
    if not inserted:
        return 0
    for key, table in TABLES[1:]:
        batch = [row for row in getattr(rows, key) if row["order_id"] in inserted]
        if batch:
            await session.execute(upsert(table).on_conflict_do_nothing(), batch)
    return len(inserted)
