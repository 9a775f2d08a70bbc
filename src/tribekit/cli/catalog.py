"""``tribekit catalog``: products to and from CSV files."""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path
from typing import TextIO

import typer
from rich.table import Table

from tribekit import migrations
from tribekit.catalog.csv_format import CsvFileError
from tribekit.catalog.csv_io import ImportReport, check_file, export_rows, import_csv_file
from tribekit.kit.db import Database
from tribekit.tenancy.principal import Tenant

from .common import console, database, err_console, progress_bar, run, tenant_by_slug

app = typer.Typer(help="Catalog: import and export products as CSV.")


@app.command("import")
def import_(
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="CSV file, UTF-8, with a header row"
    ),
    merchant: str = typer.Option(..., help="Merchant slug"),
    dry_run: bool = typer.Option(False, help="Validate everything, write nothing"),
    all_or_nothing: bool = typer.Option(
        False, help="Write nothing at all if any row has a problem (one transaction)"
    ),
    report: Path = typer.Option(
        None, help="Write every problem to this CSV (row, column, problem)"
    ),
) -> None:
    """Create and update products from FILE, matched by SKU. A stock cell sets the stock.

    Rows with a problem are never written; the others are, in batches of 500 (with
    --all-or-nothing, nothing is written unless every row is fine)."""
    try:
        total_rows = check_file(file)
    except CsvFileError as exc:
        err_console.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(2) from exc

    async def work() -> ImportReport:
        async with database() as db:
            await migrations.upgrade(db)
            tenant = await tenant_by_slug(db, merchant)
            with progress_bar("importing", total_rows) as advance:
                return await import_csv_file(
                    db,
                    tenant,
                    file,
                    dry_run=dry_run,
                    all_or_nothing=all_or_nothing,
                    progress=advance,
                )

    started = time.perf_counter()
    result = run(work)
    elapsed = time.perf_counter() - started
    _summary(result, elapsed, dry_run=dry_run)
    if report is not None:
        with report.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["row", "column", "problem"])
            writer.writerows((p.row, p.column, p.message) for p in result.problems)
        console.print(f"all problems written to {report}")
    if result.failed:
        raise typer.Exit(1)


def _summary(result: ImportReport, elapsed: float, *, dry_run: bool) -> None:
    table = Table("created", "updated", "unchanged", "failed", title=f"{result.rows} rows")
    table.add_row(
        str(result.created), str(result.updated), str(result.unchanged), str(result.failed)
    )
    console.print(table)
    if result.saved:
        outcome = "saved, except the rows with problems" if result.failed else "saved"
    elif dry_run:
        outcome = "dry run: nothing written"
    else:
        outcome = "nothing written: some rows have problems (--all-or-nothing)"
    console.print(f"{result.rows} rows in {elapsed:.1f} s; {outcome}")
    if result.problems:
        problems = Table("row", "column", "problem", title="problems (first 20)")
        for problem in result.problems[:20]:
            problems.add_row(str(problem.row), problem.column, problem.message)
        console.print(problems)


@app.command("export")
def export(
    merchant: str = typer.Option(..., help="Merchant slug"),
    output: Path = typer.Option(
        None, "--output", "-o", dir_okay=False, help="Write to this file instead of stdout"
    ),
) -> None:
    """Write every product of the merchant as CSV (the format the import reads)."""

    async def work() -> int:
        async with database() as db:
            await migrations.upgrade(db)
            tenant = await tenant_by_slug(db, merchant)
            if output is None:
                return await _write(db, tenant, sys.stdout)
            with output.open("w", newline="", encoding="utf-8") as handle:
                return await _write(db, tenant, handle)

    products = run(work)
    if output is not None:
        console.print(f"{products} products written to {output}")


async def _write(db: Database, tenant: Tenant, out: TextIO) -> int:
    """Write the CSV to ``out``; the number of products written."""
    writer = csv.writer(out)
    products = -1  # the header is no product
    async for rows in export_rows(db, tenant):
        writer.writerows(rows)
        products += len(rows)
    out.flush()
    return products
