"""Helpers shared by the catalog tests: CSV text built from rows, the merchant's products."""

from __future__ import annotations

import csv
import io
from typing import Any

from sqlalchemy import select

from tests.factories import Shop
from tribekit.catalog.csv_format import COLUMNS
from tribekit.catalog.csv_io import ImportReport
from tribekit.kit.db import Database
from tribekit.models.catalog import Product


def csv_text(*rows: dict[str, str], columns: tuple[str, ...] | list[str] = COLUMNS) -> str:
    """A CSV file with ``columns`` as its header; cells a row does not give are empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    writer.writerows([row.get(column, "") for column in columns] for row in rows)
    return buffer.getvalue()


def totals(report: ImportReport) -> tuple[int, int, int, int, int]:
    """rows, created, updated, unchanged, failed."""
    return report.rows, report.created, report.updated, report.unchanged, report.failed


def problems(report: ImportReport) -> list[tuple[int, str, str]]:
    return [(p.row, p.column, p.message) for p in report.problems]


async def products(db: Database, shop: Shop) -> dict[str, Product]:
    """The shop's products by SKU (by name for those without one)."""
    async with db.unit_of_work() as session:
        rows = await session.scalars(select(Product).where(Product.merchant_id == shop.tenant.id))
        return {p.sku or p.name: p for p in rows.all()}


def snapshot(found: dict[str, Product]) -> dict[str, dict[str, Any]]:
    """Every column of every product, to show that nothing changed."""
    return {
        key: {c.key: getattr(p, c.key) for c in Product.__table__.columns}
        for key, p in found.items()
    }
