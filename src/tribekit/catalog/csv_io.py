"""CSV export and import of a merchant's products (the format is in ``csv_format``).

Export streams: products are read a page at a time, each page in its own short read, and
handed out as CSV text chunks.

Import upserts by SKU: a row whose SKU the merchant has updates that product, a row with a new SKU
or none creates one. Every row is validated completely (cells, ``ProductCreate``, the event rules)
against the product it would change, locked for the rest of the batch's transaction, so nothing
is decided on a stale read. A row with a problem is never written. Rows go in batches; the caller
decides the transactions:

The rows themselves are read, validated and written by ``csv_rows``.

* ``import_csv`` (the API) runs in the caller's transaction, inside one savepoint;
* ``import_csv_file`` (the CLI) commits one transaction per batch, or one for the whole file with
  ``all_or_nothing``.

``dry_run`` runs the same code and rolls it back, so it finds everything a real run would.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit.db import Database
from tribekit.kit.errors import Conflict
from tribekit.models.catalog import Product
from tribekit.models.enums import ProductKind
from tribekit.tenancy.principal import Tenant

from .csv_format import COLUMNS, CsvFileError, encoding_error, parse_header, to_cells
from .csv_rows import Importer, ImportReport, Row, RowProblem
from .repository import ProductFilters, Products

BATCH_SIZE = 500  # rows per transaction (CLI) and per lookup
EXPORT_PAGE_SIZE = 500
DEADLOCK_DETECTED = "40P01"  # PostgreSQL's SQLSTATE
Progress = Callable[[int], None]
__all__ = [
    "ImportConflict",
    "ImportReport",
    "RowProblem",
    "check_file",
    "export_csv",
    "export_rows",
    "import_csv",
    "import_csv_file",
]


# ----------------------------------------------------------------------------------------- export


async def export_rows(
    db: Database,
    tenant: Tenant,
    filters: ProductFilters | None = None,
    *,
    page_size: int = EXPORT_PAGE_SIZE,
) -> AsyncIterator[list[list[str]]]:
    """The header, then the merchant's products (oldest first) as rows of CSV cells, a page at a
    time, each page read on its own (no transaction stays open between pages). Plans' products
    are left out: they follow their plan and are changed through it, not through a file."""
    filters = filters or ProductFilters()
    yield [list(COLUMNS)]
    after: uuid.UUID | None = None
    while True:
        async with db.unit_of_work(read_only=True) as session:
            stmt = Products(session, tenant.id).filtered(filters)
            stmt = stmt.where(Product.kind != ProductKind.PLAN)
            if after is not None:
                stmt = stmt.where(Product.id > after)
            page = list((await session.scalars(stmt.order_by(Product.id).limit(page_size))).all())
        if not page:
            return
        after = page[-1].id
        if filters.tag:  # a short JSON list: filtered here, portable across databases
            page = [product for product in page if filters.tag.lower() in product.tags]
        if page:
            yield [to_cells(product, tenant.currency) for product in page]


async def export_csv(
    db: Database,
    tenant: Tenant,
    filters: ProductFilters | None = None,
    *,
    page_size: int = EXPORT_PAGE_SIZE,
) -> AsyncIterator[str]:
    """``export_rows`` as CSV text chunks, one per page."""
    async for rows in export_rows(db, tenant, filters, page_size=page_size):
        yield _csv_text(rows)


def _csv_text(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()


# ----------------------------------------------------------------------------------------- import


def _records(lines: Iterable[str]) -> Iterator[tuple[int, list[str]]]:
    """``(first line, cells)`` of every record; blank records are skipped."""
    reader = csv.reader(lines)
    previous = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:
            raise encoding_error(exc) from exc
        except csv.Error as exc:
            raise CsvFileError(
                f"line {previous + 1} cannot be read as CSV ({exc}); check the quoting"
            ) from exc
        line, previous = previous + 1, reader.line_num
        if any(cell.strip() for cell in cells):
            yield line, cells


def _start(tenant: Tenant, records: Iterator[tuple[int, list[str]]]) -> Importer:
    first = next(records, None)
    return Importer(tenant, parse_header(first[1] if first is not None else None))


def _batches(
    importer: Importer, records: Iterator[tuple[int, list[str]]], size: int
) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for line, cells in records:
        batch.append(importer.read(line, cells))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


async def import_csv(
    session: AsyncSession,
    tenant: Tenant,
    text: str,
    *,
    dry_run: bool = False,
    all_or_nothing: bool = False,
    batch_size: int = BATCH_SIZE,
) -> ImportReport:
    """Import ``text`` in the caller's transaction. A file-level problem (header, CSV syntax)
    raises a ``CsvFileError`` before or instead of any change."""
    records = _records(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    importer = _start(tenant, records)
    savepoint = await session.begin_nested()
    try:
        async with _deadlock_as_conflict():
            for batch in _batches(importer, records, batch_size):
                await importer.batch(session, batch)
    except BaseException:
        await savepoint.rollback()
        raise
    report = importer.report
    report.saved = not dry_run and not (all_or_nothing and report.failed)
    if report.saved:
        await savepoint.commit()
    else:
        await savepoint.rollback()
    return report


class ImportConflict(Conflict):
    code = "import_conflict"
    title = "Another change to the same products got in the way"


@asynccontextmanager
async def _deadlock_as_conflict() -> AsyncIterator[None]:
    """PostgreSQL breaks a deadlock (two imports, or an import and checkouts, locking the same
    products in different orders across batches) by failing one transaction: a 409 to retry."""
    try:
        yield
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != DEADLOCK_DETECTED:
            raise
        raise ImportConflict(
            "another import or order locked the same products at the same time, so the import "
            "stopped; send the file again (rows saved already come back unchanged)"
        ) from exc


class _Rollback(Exception):
    pass


@asynccontextmanager
async def _transaction(db: Database, keep: Callable[[], bool]) -> AsyncIterator[AsyncSession]:
    """A unit of work that is rolled back unless ``keep()`` says otherwise at its end."""
    try:
        async with db.unit_of_work() as session:
            yield session
            if not keep():
                raise _Rollback
    except _Rollback:
        pass


def check_file(path: Path) -> int:
    """Read the whole file once: the number of data rows (blank lines not counted). A file that
    is not UTF-8, not CSV or has a bad header raises ``CsvFileError`` here, before anything is
    written."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        records = _records(handle)
        first = next(records, None)
        parse_header(first[1] if first is not None else None)
        return sum(1 for _ in records)


async def import_csv_file(
    db: Database,
    tenant: Tenant,
    path: Path,
    *,
    dry_run: bool = False,
    all_or_nothing: bool = False,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
) -> ImportReport:
    """Import a file: one transaction per batch, or one for everything with ``all_or_nothing``.
    ``progress(n)`` is called after each batch with its number of rows."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        records = _records(handle)
        importer = _start(tenant, records)
        report = importer.report
        batches = _batches(importer, records, batch_size)
        async with _deadlock_as_conflict():
            await _run_batches(db, importer, batches, dry_run, all_or_nothing, progress)
    report.saved = not dry_run and not (all_or_nothing and report.failed)
    return report


async def _run_batches(
    db: Database,
    importer: Importer,
    batches: Iterator[list[Row]],
    dry_run: bool,
    all_or_nothing: bool,
    progress: Progress | None,
) -> None:
    report = importer.report
    if all_or_nothing:
        async with _transaction(db, lambda: not dry_run and not report.failed) as session:
            for batch in batches:
                await importer.batch(session, batch)
                if progress is not None:
                    progress(len(batch))
    else:
        for batch in batches:
            async with _transaction(db, lambda: not dry_run) as session:
                await importer.batch(session, batch)
            if progress is not None:
                progress(len(batch))
