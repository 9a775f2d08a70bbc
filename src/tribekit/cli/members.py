"""``tribekit members``: bulk work on members."""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path
from typing import TextIO

import typer
from rich.table import Table

from tribekit import migrations
from tribekit.kit.db import Database
from tribekit.members.csv_export import count_members, export_rows
from tribekit.members.importer import (
    CsvEncodingError,
    CsvFileError,
    ImportReport,
    MappingError,
    OnDuplicate,
    build_mapping,
    check_file,
    import_members,
    read_header,
)
from tribekit.tenancy.principal import Tenant

from .common import console, database, err_console, progress_bar, run, tenant_by_slug

app = typer.Typer(help="Members: import from and export to CSV.")

MAP_HELP = (
    "Map a CSV column to a member field: 'Column=field'. Fields: display_name, phone, email, "
    "birthday, tags (separated by ;), source, source_ref, marketing_consent, joined_at, blocked, "
    "notes, identity:telegram, identity:matrix, identity:wecom, identity:web. Columns named like a "
    "field are mapped without saying so. Repeat --map for several columns."
)


def _parse_map(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        column, sep, target = pair.partition("=")
        if not sep or not column or not target:
            raise typer.BadParameter(f"{pair!r}: write it as 'Column=field'", param_hint="--map")
        mapping[column] = target.strip()
    return mapping


@app.command("import")
def import_(
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="CSV file, UTF-8, with a header row"
    ),
    merchant: str = typer.Option(..., help="Merchant slug"),
    map_: list[str] = typer.Option([], "--map", help=MAP_HELP),
    on_duplicate: str = typer.Option(
        "skip", help="A row whose phone or identity exists already: 'skip' it or report an 'error'"
    ),
    dry_run: bool = typer.Option(False, help="Validate everything, write nothing"),
    report: Path = typer.Option(
        None, help="Write every problem to this CSV (row, column, problem)"
    ),
) -> None:
    """Import members from FILE. Bad rows are reported and never half-imported."""
    if on_duplicate not in ("skip", "error"):
        raise typer.BadParameter("use 'skip' or 'error'", param_hint="--on-duplicate")
    try:
        total_rows = check_file(file)
        header = read_header(file)
    except (CsvEncodingError, CsvFileError) as exc:
        err_console.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(2) from exc
    try:
        mapping = build_mapping(header, _parse_map(map_))
    except MappingError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    mode: OnDuplicate = "skip" if on_duplicate == "skip" else "error"

    async def work() -> ImportReport:
        async with database() as db:
            await migrations.upgrade(db)
            tenant = await tenant_by_slug(db, merchant)
            with progress_bar("importing", total_rows) as advance:
                return await import_members(
                    db,
                    tenant,
                    file,
                    mapping,
                    on_duplicate=mode,
                    dry_run=dry_run,
                    progress=advance,
                )

    started = time.perf_counter()
    result = run(work)
    elapsed = time.perf_counter() - started
    verb = "would import" if dry_run else "imported"
    console.print(
        f"{result.rows} rows in {elapsed:.1f} s: {verb} {result.imported}, "
        f"skipped {result.skipped} duplicates, {result.failed_rows} rows with problems"
    )
    if result.problems:
        table = Table("row", "column", "problem", title="problems (first 20)")
        for problem in result.problems[:20]:
            table.add_row(str(problem.row), problem.field, problem.problem)
        console.print(table)
    if report is not None:
        with report.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["row", "column", "problem"])
            writer.writerows((p.row, p.field, p.problem) for p in result.problems)
        console.print(f"all problems written to {report}")
    if result.problems:
        raise typer.Exit(1)


@app.command("export")
def export(
    merchant: str = typer.Option(..., help="Merchant slug"),
    output: Path = typer.Option(
        None, "--output", "-o", dir_okay=False, help="Write to this file instead of stdout"
    ),
) -> None:
    """Write every member of the merchant as CSV, in the columns the import reads (so the file
    imports as it is). Erased and merged members are left out."""

    async def work() -> int:
        async with database() as db:
            await migrations.upgrade(db)
            tenant = await tenant_by_slug(db, merchant)
            total = await count_members(db, tenant)
            if output is None:
                return await _write(db, tenant, sys.stdout, total)
            with output.open("w", newline="", encoding="utf-8") as handle:
                return await _write(db, tenant, handle, total)

    written = run(work)
    if output is not None:
        console.print(f"{written} members written to {output}")


async def _write(db: Database, tenant: Tenant, out: TextIO, total: int) -> int:
    writer = csv.writer(out)
    written = -1  # the header is no member
    # The bar goes to stderr when the CSV goes to stdout.
    with progress_bar("exporting", total, on=err_console if out is sys.stdout else None) as advance:
        async for rows in export_rows(db, tenant):
            writer.writerows(rows)
            if written >= 0:
                advance(len(rows))
            written += len(rows)
    out.flush()
    return written
