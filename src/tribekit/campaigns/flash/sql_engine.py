"""The SQL engine: a live sale's units counted in ``flash_sales.remaining`` and each member's
take in ``flash_takes``, one conditional statement per attempt, no ORM.

**PostgreSQL**: one statement, sent in autocommit (one round trip, atomic by itself), whose
data-modifying CTEs all run, each gated on the one before through its RETURNING rows:

1. ``sale`` takes the units from the sale if it is live, not past its end, has that many left
   and the member's take (as the statement's snapshot saw it) leaves room under the limit;
   the row lock on the sale serialises every attempt of the sale, and PostgreSQL re-checks
   ``remaining`` on the latest row version, so units are never oversold;
2. ``take`` adds the units to the member's take, only when ``sale`` took them. The snapshot of
   step 1 may be stale for a member racing themselves, but the take's upsert always sees the
   latest row, and ``flash_takes`` refuses ``taken > cap`` (the limit, copied in): the whole
   statement then fails, units included, and the attempt answers ``limit_reached``;
3. the order, its line, its reservation row and its ``placed`` event, inserted from ``take``'s
   row, hence only for a win (``orders.py`` builds them);
4. the answer: won with the units left, or, for a loss, the sale's status and units and the
   member's take as the snapshot saw them, to say why.

**SQLite** (one writer at a time): the same steps as a few statements in one short
transaction of the process's writer turn (``Database.unit_of_work``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, case, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.types import JSON

from tribekit.kit.db import Database
from tribekit.models.campaigns import FlashReservation, FlashSale, FlashTake
from tribekit.models.orders import Order, OrderEvent, OrderLine

from .engine import Attempt, LiveSale, Refusal, Reserved, SaleStatus
from .orders import FlashRows, rows_for

_TABLES: tuple[tuple[str, Table], ...] = (
    ("orders", cast(Table, Order.__table__)),
    ("lines", cast(Table, OrderLine.__table__)),
    ("reservations", cast(Table, FlashReservation.__table__)),
    ("events", cast(Table, OrderEvent.__table__)),
)
_TAKES = cast(Table, FlashTake.__table__)
_PREFIX = {"orders": "o", "lines": "l", "reservations": "r", "events": "e"}
_PG = postgresql.dialect()  # type: ignore[no-untyped-call]


def _insert_from(key: str, table: Table, source: str) -> str:
    """``INSERT INTO table (every column) SELECT CAST(:x_col AS type), ... FROM source``."""
    prefix = _PREFIX[key]
    columns = ", ".join(c.name for c in table.columns)
    values = ", ".join(
        f"CAST(:{prefix}_{c.name} AS {c.type.compile(dialect=_PG)})" for c in table.columns
    )
    # Names and types from our own table metadata; every value is a bound parameter.
    return f"INSERT INTO {table.name} ({columns}) SELECT {values} FROM {source}"  # noqa: S608


_TAKEN = (
    "(SELECT t.taken FROM flash_takes t WHERE t.sale_id = CAST(:sale AS uuid)"
    " AND t.member_id = CAST(:member AS uuid))"
)
# Only our own fragments are formatted in; every value is a bound parameter.
_RESERVE_PG = text(
    f"""
WITH sale AS (
    UPDATE flash_sales SET
        remaining = remaining - CAST(:q AS integer),
        status = CASE WHEN remaining = CAST(:q AS integer) THEN 'sold_out' ELSE status END,
        sold_out_at = CASE WHEN remaining = CAST(:q AS integer)
            THEN CAST(:at AS timestamptz) ELSE sold_out_at END
    WHERE id = CAST(:sale AS uuid) AND merchant_id = CAST(:m AS uuid) AND status = 'live'
        AND ends_at > CAST(:at AS timestamptz) AND remaining >= CAST(:q AS integer)
        AND COALESCE({_TAKEN}, 0) + CAST(:q AS integer) <= per_member_limit
    RETURNING remaining, per_member_limit
), take AS (
    INSERT INTO flash_takes (merchant_id, sale_id, member_id, taken, cap)
    SELECT CAST(:m AS uuid), CAST(:sale AS uuid), CAST(:member AS uuid), CAST(:q AS integer),
        sale.per_member_limit
    FROM sale
    ON CONFLICT (sale_id, member_id) DO UPDATE SET taken = flash_takes.taken + EXCLUDED.taken
    RETURNING taken
), new_order AS (
    {_insert_from("orders", _TABLES[0][1], "take")}
    RETURNING id
), new_line AS (
    {_insert_from("lines", _TABLES[1][1], "new_order")}
), new_reservation AS (
    {_insert_from("reservations", _TABLES[2][1], "new_order")}
), new_event AS (
    {_insert_from("events", _TABLES[3][1], "new_order")}
)
SELECT true AS won, sale.remaining AS remaining, NULL AS status, NULL AS ends_at,
    NULL AS taken
FROM sale
UNION ALL
SELECT false, f.remaining, f.status, f.ends_at, COALESCE({_TAKEN}, 0)
FROM flash_sales f
WHERE f.id = CAST(:sale AS uuid) AND NOT EXISTS (SELECT 1 FROM sale)
"""  # noqa: S608
)
_JSON_COLUMNS = {
    key: {c.name for c in table.columns if isinstance(c.type, JSON)} for key, table in _TABLES
}
#: The constraint a member's take breaks when their racing attempts would pass the limit.
_CAP_CONSTRAINT = "ck_flash_takes_within_cap"


def _pg_params(attempt: Attempt, rows: FlashRows) -> dict[str, Any]:
    params: dict[str, Any] = {
        "sale": attempt.sale.id,
        "m": attempt.sale.merchant_id,
        "member": attempt.member_id,
        "q": attempt.quantity,
        "at": attempt.at,
    }
    for key, _ in _TABLES:
        row = getattr(rows, key)[0]
        prefix, as_json = _PREFIX[key], _JSON_COLUMNS[key]
        for name, value in row.items():
            params[f"{prefix}_{name}"] = json.dumps(value) if name in as_json else value
    return params


def _lost(
    attempt: Attempt, status: str | None, remaining: int, ends_at: datetime | None, taken: int
) -> Refusal:
    """Why an attempt that took nothing lost, from the sale as the attempt saw it."""
    if status in (SaleStatus.ENDED, SaleStatus.CANCELLED) or (
        ends_at is not None and ends_at <= attempt.at
    ):
        return Refusal.ENDED
    if status == SaleStatus.SCHEDULED:
        return Refusal.NOT_STARTED
    if taken + attempt.quantity > attempt.sale.per_member_limit:
        return Refusal.LIMIT_REACHED
    return Refusal.SOLD_OUT


class SqlEngine:
    name = "sql"

    def __init__(self, db: Database) -> None:
        self.db = db
        self._postgresql = db.dialect == "postgresql"
        # Autocommit: the one statement is its own transaction (no BEGIN, no COMMIT).
        self._autocommit = db.engine.execution_options(isolation_level="AUTOCOMMIT")

    async def open(self, sale: LiveSale, allotted: int) -> None:
        """Nothing to do: the start's transaction set ``remaining``."""
        del sale, allotted

    async def reserve(self, attempt: Attempt) -> Reserved | Refusal:
        rows = rows_for([attempt])
        if self._postgresql:
            return await self._reserve_postgresql(attempt, rows)
        return await self._reserve_sqlite(attempt, rows)

    async def _reserve_postgresql(self, attempt: Attempt, rows: FlashRows) -> Reserved | Refusal:
        try:
            async with self._autocommit.connect() as conn:
                result = await conn.execute(_RESERVE_PG, _pg_params(attempt, rows))
                row = result.first()
        except IntegrityError as exc:
            if _CAP_CONSTRAINT in str(exc.orig):
                return Refusal.LIMIT_REACHED  # the member's own racing attempts won first
            raise
        if row is None:
            return Refusal.ENDED  # no such sale any more (deleted with its merchant)
        won, remaining, status, ends_at, taken = row
        if won:
            return self._won(attempt, int(remaining))
        return _lost(attempt, status, int(remaining), ends_at, int(taken))

    async def _reserve_sqlite(self, attempt: Attempt, rows: FlashRows) -> Reserved | Refusal:
        sale = attempt.sale
        async with self.db.unit_of_work() as session:  # BEGIN IMMEDIATE: the one writer
            conn = await session.connection()
            found = (
                await conn.execute(
                    select(FlashSale.status, FlashSale.remaining, FlashSale.ends_at).where(
                        FlashSale.id == sale.id, FlashSale.merchant_id == sale.merchant_id
                    )
                )
            ).first()
            if found is None:
                return Refusal.ENDED
            status, remaining, ends_at = found
            taken = await _taken(conn, sale.id, attempt.member_id)
            if not (
                status == SaleStatus.LIVE
                and ends_at > attempt.at
                and remaining >= attempt.quantity
                and taken + attempt.quantity <= sale.per_member_limit
            ):
                return _lost(attempt, status, int(remaining), ends_at, taken)
            await conn.execute(
                update(FlashSale)
                .where(FlashSale.id == sale.id, FlashSale.remaining >= attempt.quantity)
                .values(_take_values(attempt))
            )
            await conn.execute(
                sqlite.insert(FlashTake)
                .values(
                    merchant_id=sale.merchant_id,
                    sale_id=sale.id,
                    member_id=attempt.member_id,
                    taken=attempt.quantity,
                    cap=sale.per_member_limit,
                )
                .on_conflict_do_update(
                    index_elements=["sale_id", "member_id"],
                    set_={"taken": FlashTake.taken + attempt.quantity},
                )
            )
            await write_rows(conn, rows)
        return self._won(attempt, int(remaining) - attempt.quantity)

    def _won(self, attempt: Attempt, left: int) -> Reserved:
        return Reserved(
            reservation_id=attempt.reservation_id,
            quantity=attempt.quantity,
            expires_at=attempt.expires_at,
            left=left,
            order_id=attempt.reservation_id,
        )

    async def give_back(
        self,
        session: AsyncSession,
        sale: LiveSale,
        units: Mapping[uuid.UUID, int],
        *,
        reservation_ids: Sequence[uuid.UUID],
    ) -> None:
        del reservation_ids  # their conditional status updates made this call exactly once
        await give_back_units(session, sale.id, units)

    async def left(self, sale_id: uuid.UUID) -> int | None:
        async with self._autocommit.connect() as conn:
            found = await conn.scalar(select(FlashSale.remaining).where(FlashSale.id == sale_id))
        return None if found is None else int(found)

    async def close(self, sale: LiveSale) -> int | None:
        """Nothing to stop: the end's status update does (an attempt needs status live), and
        every reservation is a row already."""
        del sale
        return None


async def give_back_units(
    session: AsyncSession, sale_id: uuid.UUID, units: Mapping[uuid.UUID, int]
) -> None:
    """``units`` (member id -> units) back into the sale (its row locked by the caller): up
    in ``remaining``, down in the members' takes; a sold-out sale sells again."""
    total = sum(units.values())
    if total <= 0:
        return
    await session.execute(
        update(FlashSale)
        .where(FlashSale.id == sale_id)
        .values(
            remaining=FlashSale.remaining + total,
            status=case(
                (FlashSale.status == SaleStatus.SOLD_OUT.value, SaleStatus.LIVE.value),
                else_=FlashSale.status,
            ),
        )
        .execution_options(synchronize_session=False)
    )
    takes = _TAKES.c
    await session.execute(
        update(_TAKES)
        .where(takes.sale_id == bindparam("s"), takes.member_id == bindparam("u"))
        .values(taken=takes.taken - bindparam("q")),
        [{"s": sale_id, "u": member, "q": q} for member, q in sorted(units.items()) if q],
    )


def _take_values(attempt: Attempt) -> dict[str, Any]:
    sold_out = FlashSale.remaining == attempt.quantity
    return {
        "remaining": FlashSale.remaining - attempt.quantity,
        "status": case((sold_out, SaleStatus.SOLD_OUT.value), else_=FlashSale.status),
        "sold_out_at": case((sold_out, attempt.at), else_=FlashSale.sold_out_at),
    }


async def _taken(conn: AsyncConnection, sale_id: uuid.UUID, member_id: uuid.UUID) -> int:
    found = await conn.scalar(
        select(FlashTake.taken).where(
            FlashTake.sale_id == sale_id, FlashTake.member_id == member_id
        )
    )
    return int(found or 0)


async def write_rows(conn: AsyncConnection, rows: FlashRows) -> None:
    """Insert a batch of won attempts' rows (orders first: the others point at them)."""
    for key, table in _TABLES:
        batch = getattr(rows, key)
        if batch:
            await conn.execute(insert(table), batch)
