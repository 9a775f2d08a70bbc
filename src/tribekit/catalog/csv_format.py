"""The product CSV format: the columns, and each cell to and from the product's values.

One row is one product. Money is decimal text in the merchant's currency (``45.00``), times are
ISO 8601 (written in UTC with ``Z``; read without a zone in the merchant's timezone), lists are
``;``-separated, a ladder is ``min_quantity:unit_price`` tiers (``5:45.00;10:40.00``), booleans
are ``yes``/``no``. An empty cell is "no value": null for optional fields, the default for
``role`` (regular) and ``active`` (yes), an empty list for lists; an empty ``kind`` is goods for a
new product and leaves an existing product's kind as it is.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from tribekit.kit.errors import ValidationFailed
from tribekit.kit.money import Money
from tribekit.models.catalog import Product

from .schemas import MAX_AMOUNT, LadderTier, check_ladder

COLUMNS = (
    "sku",
    "name",
    "kind",
    "role",
    "price",
    "cost_price",
    "stock",
    "active",
    "category",
    "tags",
    "images",
    "ladder",
    "description",
    "starts_at",
    "ends_at",
    "place",
    "signup_deadline",
)
REQUIRED = ("sku", "name", "price")
SEPARATOR = ";"
TRUE = frozenset({"yes", "y", "true", "1", "on"})
FALSE = frozenset({"no", "n", "false", "0", "off"})
_AMOUNT = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,10})?")
_WHOLE = re.compile(r"-?[0-9]{1,12}")
TIME_HINT = "write it like 2025-06-01T18:00:00Z, or without a zone in the merchant's timezone"


class CsvFileError(ValidationFailed):
    """The file as a whole cannot be read; no row of it is imported."""

    code = "csv_invalid"
    title = "The CSV file cannot be read"


class CsvEncodingError(CsvFileError):
    code = "csv_encoding"
    title = "The CSV file is not UTF-8"


class CsvHeaderError(CsvFileError):
    code = "csv_header"
    title = "The CSV header is not valid"


def decode(data: bytes) -> str:
    """The text of a UTF-8 file (a byte-order mark is dropped)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise encoding_error(exc) from exc


def encoding_error(exc: UnicodeDecodeError) -> CsvEncodingError:
    return CsvEncodingError(
        f"the file is not UTF-8 (byte {exc.object[exc.start : exc.start + 1]!r} at offset "
        f"{exc.start}); save it as 'CSV UTF-8' and try again"
    )


def parse_header(cells: list[str] | None) -> list[str]:
    """The column names of a header row (case and surrounding spaces do not matter)."""
    expected = ", ".join(COLUMNS)
    if not cells or not any(cell.strip() for cell in cells):
        raise CsvHeaderError(
            f"the file is empty; its first line must be a header such as {expected}"
        )
    columns = [cell.strip().lower() for cell in cells]
    unknown = [
        cell.strip() for cell, name in zip(cells, columns, strict=True) if name not in COLUMNS
    ]
    if unknown:
        raise CsvHeaderError(
            f"unknown column{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(u) for u in unknown)}; the columns are: {expected}"
        )
    twice = sorted({name for name in columns if columns.count(name) > 1})
    if twice:
        raise CsvHeaderError(f"column{'s' if len(twice) > 1 else ''} {', '.join(twice)} twice")
    missing = [name for name in REQUIRED if name not in columns]
    if missing:
        raise CsvHeaderError(
            f"missing required column{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
        )
    return columns


# ------------------------------------------------------------------------------------------ write


def _money(amount: int | None, currency: str) -> str:
    return "" if amount is None else str(Money(amount, currency).to_decimal())


def _time(at: datetime | None) -> str:
    return "" if at is None else at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def to_cells(product: Product, currency: str) -> list[str]:
    """The product as one CSV row, in ``COLUMNS`` order."""
    ladder = SEPARATOR.join(
        f"{tier['min_quantity']}:{_money(tier['unit_price'], currency)}" for tier in product.ladder
    )
    values: dict[str, str] = {
        "sku": product.sku or "",
        "name": product.name,
        "kind": product.kind,
        "role": product.role,
        "price": _money(product.price, currency),
        "cost_price": _money(product.cost_price, currency),
        "stock": "" if product.stock is None else str(product.stock),
        "active": "yes" if product.active else "no",
        "category": product.category or "",
        "tags": SEPARATOR.join(product.tags),
        "images": SEPARATOR.join(product.images),
        "ladder": ladder,
        "description": product.description or "",
        "starts_at": _time(product.starts_at),
        "ends_at": _time(product.ends_at),
        "place": product.place or "",
        "signup_deadline": _time(product.signup_deadline),
    }
    return [values[column] for column in COLUMNS]


# ------------------------------------------------------------------------------------------- read


class CellError(ValueError):
    """A cell that cannot be read; the message says what to write instead."""


def parse_amount(text: str, currency: str) -> int:
    if not _AMOUNT.fullmatch(text):
        raise CellError(f"{text!r} is not an amount; write it like 45.00")
    try:
        amount = Money.parse(text, currency).amount
    except ValueError as exc:
        raise CellError(str(exc)) from exc
    if amount < 0:
        raise CellError(f"{text} is negative; amounts are 0 or more")
    if amount > MAX_AMOUNT:
        raise CellError(f"{text} is too large; at most {Money(MAX_AMOUNT, currency).to_decimal()}")
    return amount


def _whole(text: str) -> int:
    if not _WHOLE.fullmatch(text):
        raise CellError(f"{text!r} is not a whole number")
    return int(text)


def _ladder(text: str, currency: str) -> list[dict[str, int]]:
    tiers: list[LadderTier] = []
    for part in filter(None, (part.strip() for part in text.split(SEPARATOR))):
        quantity, colon, price = part.partition(":")
        if not colon:
            raise CellError(
                f"tier {part!r} is not quantity:unit price; write tiers like 5:45.00;10:40.00"
            )
        min_quantity = _whole(quantity.strip())
        unit_price = parse_amount(price.strip(), currency)
        try:
            tiers.append(LadderTier(min_quantity=min_quantity, unit_price=unit_price))
        except ValidationError as exc:
            raise CellError(f"tier {part!r}: {exc.errors()[0]['msg']}") from exc
    try:
        check_ladder(tiers)
    except ValueError as exc:
        raise CellError(str(exc).removeprefix("ladder: ")) from exc
    return [tier.model_dump() for tier in tiers]


def _datetime(text: str, zone: ZoneInfo) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CellError(f"{text!r} is not a date and time; {TIME_HINT}") from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in TRUE:
        return True
    if lowered in FALSE:
        return False
    raise CellError(f"{text!r} is not yes or no")


def _list(text: str) -> list[str]:
    return [item.strip() for item in text.split(SEPARATOR) if item.strip()]


def read_cell(column: str, text: str, currency: str, zone: ZoneInfo) -> Any:
    """The value of one cell (already stripped) for the product field ``column``."""
    if column in ("tags", "images"):
        return _list(text)
    if column == "ladder":
        return _ladder(text, currency)
    if not text and column in ("name", "price"):
        raise CellError("required: this cell may not be empty")
    if not text:
        return {"role": "regular", "active": True}.get(column)
    if column in ("price", "cost_price"):
        return parse_amount(text, currency)
    if column == "stock":
        return _whole(text)
    if column == "active":
        return _bool(text)
    if column in ("starts_at", "ends_at", "signup_deadline"):
        return _datetime(text, zone)
    if column == "kind" or column == "role":
        return text.lower()
    return text


def current_values(product: Product) -> dict[str, Any]:
    """The product's values of every CSV column, as the import compares them."""
    return {column: getattr(product, column) for column in COLUMNS}
