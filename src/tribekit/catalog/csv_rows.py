"""The rows of a product CSV import: each record read, validated against the product it would
change (locked), and written; the report of what happened.

``csv_io`` reads the file and decides the transactions; this module works on one batch of rows
inside the transaction it is given.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, cast
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import Table, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock
from tribekit.kit.errors import ValidationFailed
from tribekit.kit.ids import new_id
from tribekit.models.catalog import Product
from tribekit.tenancy.principal import Tenant

from .csv_format import COLUMNS, CellError, current_values, read_cell
from .repository import Products
from .schemas import ProductCreate
from .service import check_event_fields

_ORDER = {name: index for index, name in enumerate(("row", *COLUMNS))}  # of a row's problems


@dataclass(frozen=True)
class RowProblem:
    row: int  # line in the file; the header is line 1
    column: str
    message: str


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    #: Whether the changes counted above were saved: not on a dry run, and not when
    #: all-or-nothing met a failed row.
    saved: bool = False
    problems: list[RowProblem] = field(default_factory=list)


@dataclass
class Row:
    line: int
    sku: str | None
    values: dict[str, Any]
    problems: list[tuple[str, str]]
    unusable: bool = False  # not worth validating further (wrong width, SKU seen before)


class Importer:
    def __init__(self, tenant: Tenant, columns: list[str]) -> None:
        self.tenant = tenant
        self.columns = columns
        self.zone = ZoneInfo(tenant.timezone)
        self.report = ImportReport()
        self.seen: dict[str, int] = {}  # SKU -> the line it was first on

    def read(self, line: int, cells: list[str]) -> Row:
        """One record's cells read into values; problems with single cells noted."""
        texts = [cell.strip() for cell in cells]
        if len(texts) > len(self.columns) and not any(texts[len(self.columns) :]):
            texts = texts[: len(self.columns)]  # trailing empty cells, as spreadsheets write
        if len(texts) != len(self.columns):
            why = f"the row has {len(texts)} cells but the header has {len(self.columns)} columns"
            return Row(line, None, {}, [("row", why)], unusable=True)
        row = Row(line, None, {}, [])
        for column, text in zip(self.columns, texts, strict=True):
            if column == "kind" and not text:
                continue  # goods for a new product; an existing product keeps its kind
            try:
                row.values[column] = read_cell(column, text, self.tenant.currency, self.zone)
            except CellError as exc:
                row.problems.append((column, str(exc)))
        row.sku = texts[self.columns.index("sku")] or None
        if row.sku is not None:
            first = self.seen.setdefault(row.sku, line)
            if first != line:
                row.unusable = True
                why = f"SKU {row.sku!r} is on line {first} already; list each product once"
                row.problems.append(("sku", why))
        return row

    def _validate(self, row: Row, product: Product | None) -> dict[str, Any] | None:
        """The product's values after this row, fully validated; None if the row has problems
        (they are added to it)."""
        bad = {column for column, _ in row.problems}
        desired = current_values(product) if product is not None else {}
        desired.update(row.values)
        for column in bad:
            desired.pop(column, None)
        try:
            valid = ProductCreate.model_validate(desired)
        except ValidationError as exc:
            for error in exc.errors():
                column, message = _pydantic_problem(error)
                if column not in bad:
                    row.problems.append((column, message))
            return None
        if row.problems:
            return None
        if product is not None and valid.kind != product.kind:
            why = (
                f"SKU {row.sku!r} is {product.kind}; a product's kind cannot change (use a new SKU "
                f"for the {valid.kind})"
            )
            row.problems.append(("kind", why))
            return None
        try:
            check_event_fields(
                valid.kind, valid.starts_at, valid.ends_at, valid.signup_deadline, valid.place
            )
        except ValidationFailed as exc:
            problem = exc.errors[0]
            row.problems.append((str(problem.loc[-1]), problem.message))
            return None
        values = valid.model_dump()
        values["tags"] = sorted({tag.lower() for tag in valid.tags})
        return values

    async def batch(self, session: AsyncSession, rows: list[Row]) -> None:
        """Validate ``rows`` against the merchant's products (locked) and write the good ones."""
        skus = [row.sku for row in rows if row.sku is not None and not row.unusable]
        existing = await _lock_by_sku(session, self.tenant.id, skus)
        creates: list[tuple[Row, dict[str, Any]]] = []
        for row in rows:
            product = None if row.unusable or row.sku is None else existing.get(row.sku)
            values = None if row.unusable else self._validate(row, product)
            if values is None:
                continue
            if product is None:
                creates.append((row, values))
                continue
            before = current_values(product)
            changes = {name: value for name, value in values.items() if value != before[name]}
            for name, value in changes.items():
                setattr(product, name, value)
            if "stock" in changes and (before["stock"] is None or changes["stock"] is None):
                # Tracking starts or stops here, as through PUT .../stock-tracking.
                started = changes["stock"] is not None
                product.stock_tracked_since = clock.now() if started else None
            if changes:
                self.report.updated += 1
            else:
                self.report.unchanged += 1
        await session.flush()
        for row in await _insert(session, self.tenant, creates):
            why = f"another product with SKU {row.sku!r} was created while this file was imported"
            row.problems.append(("sku", why))
        self.report.created += sum(1 for row, _ in creates if not row.problems)
        for row in rows:
            self.report.rows += 1
            if row.problems:
                self.report.failed += 1
                for column, message in sorted(row.problems, key=lambda p: _ORDER[p[0]]):
                    self.report.problems.append(RowProblem(row.line, column, message))


def _pydantic_problem(error: Any) -> tuple[str, str]:
    loc = error.get("loc", ())
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if not loc:
        return "row", message
    column = str(loc[0])
    if len(loc) > 1 and isinstance(loc[1], int):
        detail = f" {loc[2]}" if len(loc) > 2 else ""
        message = f"item {loc[1] + 1}{detail}: {message}"
    return column, message


async def _lock_by_sku(
    session: AsyncSession, merchant_id: uuid.UUID, skus: list[str]
) -> dict[str, Product]:
    """The merchant's products with these SKUs, locked in primary-key order (no deadlock between
    two imports) and read fresh."""
    if not skus:
        return {}
    stmt = (
        Products(session, merchant_id)
        .select()
        .where(Product.sku.in_(set(skus)))
        .order_by(Product.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {row.sku: row for row in (await session.scalars(stmt)).all() if row.sku is not None}


async def _insert(
    session: AsyncSession, tenant: Tenant, creates: list[tuple[Row, dict[str, Any]]]
) -> list[Row]:
    """Insert the new products; the rows whose SKU somebody else took meanwhile."""
    if not creates:
        return []
    now = clock.now()
    table = cast(Table, Product.__table__)
    # Ids in file order (the products' creation order); inserts in SKU order, so that two imports
    # creating the same SKUs wait for each other instead of deadlocking.
    stamps = {"merchant_id": tenant.id, "created_at": now, "updated_at": now}
    records = sorted(
        ((row, {**values, **stamps, "id": new_id()}) for row, values in creates),
        key=lambda pair: pair[1]["sku"] or "",
    )
    try:
        async with session.begin_nested():
            await session.execute(insert(table), [record for _, record in records])
        return []
    except IntegrityError:
        # A concurrent request created one of these SKUs: find which, one row at a time.
        clashes: list[Row] = []
        for row, record in records:
            try:
                async with session.begin_nested():
                    await session.execute(insert(table), [record])
            except IntegrityError:
                clashes.append(row)
        return clashes
