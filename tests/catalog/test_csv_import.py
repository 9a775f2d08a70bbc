"""CSV import and export of products: validation of every row, upsert by SKU, dry runs,
all-or-nothing, batches, round trips, and each merchant seeing only its own products."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.catalog.csvfiles import csv_text, problems, products, snapshot, totals
from tests.concurrency import fire
from tests.factories import Factory, Shop, count_rows
from tribekit.catalog.csv_format import COLUMNS, CsvEncodingError, CsvFileError, CsvHeaderError
from tribekit.catalog.csv_format import decode as decode_csv
from tribekit.catalog.csv_io import (
    ImportReport,
    check_file,
    export_csv,
    import_csv,
    import_csv_file,
)
from tribekit.catalog.repository import ProductFilters
from tribekit.catalog.schemas import MAX_AMOUNT
from tribekit.kit.db import Database
from tribekit.kit.money import Money
from tribekit.models.catalog import Product

HEADER = ",".join(COLUMNS)
COLUMN_LIST = ", ".join(COLUMNS)
MOST = Money(MAX_AMOUNT, "CNY").to_decimal()  # 10000000.00
TOO_MUCH = str(MOST + Decimal("0.01"))
CLASH = "another product with SKU {sku!r} was created while this file was imported"


async def _import(db: Database, shop: Shop, text: str, **options: Any) -> ImportReport:
    async with db.unit_of_work() as session:
        return await import_csv(session, shop.tenant, text, **options)


async def _export(db: Database, shop: Shop, **options: Any) -> str:
    return "".join([chunk async for chunk in export_csv(db, shop.tenant, **options)])


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "products.csv"
    path.write_text(text, encoding="utf-8", newline="")
    return path


async def _existing(factory: Factory, shop: Shop) -> None:
    await factory.product(shop, sku="MANGO", name="Mango box", price=5900, stock=10, tags=["fruit"])
    await factory.product(shop, sku="KIWI", name="Kiwi", price=1200)


MIXED = csv_text(
    {"sku": "MANGO", "name": "Mango box 3 kg", "price": "59.00", "stock": "12", "tags": "fruit"},
    {"sku": "KIWI", "name": "Kiwi", "price": "12"},
    {"sku": "", "name": "Gift card", "price": "100.00"},
    {
        "sku": "PEAR",
        "name": "Pear",
        "price": "8.50",
        "role": "Traffic",
        "tags": "Fruit; fresh ;fruit",
        "ladder": "5:8.00; 10:7.50",
    },
    {"sku": "BAD-PRICE", "name": "Bad price", "price": "45.001"},
    {"sku": "BAD-KIND", "name": "Unknown kind", "price": "10.00", "kind": "ticket"},
    {"sku": "EVT", "name": "Concert", "price": "80.00", "kind": "event", "place": "Hall 1"},
    {"sku": "APPLE", "name": "Apples", "price": "5.00", "place": "Hall 1"},
    {"sku": "LADDER", "name": "Pears", "price": "5.00", "ladder": "10:4.00;5:4.50"},
    {"sku": "PEAR", "name": "Pear again", "price": "9.00"},
    {"sku": "MULTI", "name": "", "price": "-1.00", "stock": "many", "active": "maybe"},
)
MIXED_PROBLEMS = [
    (6, "price", "'45.001' has more decimals than CNY allows"),
    (7, "kind", "Input should be 'goods', 'event' or 'bundle'"),
    (8, "starts_at", "an event needs a start time"),
    (9, "place", "only events have a time, place or sign-up deadline"),
    (10, "ladder", "tiers must be listed by strictly increasing min_quantity"),
    (11, "sku", "SKU 'PEAR' is on line 5 already; list each product once"),
    (12, "name", "required: this cell may not be empty"),
    (12, "price", "-1.00 is negative; amounts are 0 or more"),
    (12, "stock", "'many' is not a whole number"),
    (12, "active", "'maybe' is not yes or no"),
]


# ------------------------------------------------------------------------------------- the rows


async def test_rows_are_created_updated_left_unchanged_or_refused_with_their_problems(
    db: Database, factory: Factory
) -> None:
    shop = await factory.shop()
    await _existing(factory, shop)
    before = await products(db, shop)

    report = await _import(db, shop, MIXED)

    assert totals(report) == (11, 2, 1, 1, 7)
    assert report.saved is True
    assert problems(report) == MIXED_PROBLEMS
    found = await products(db, shop)
    assert sorted(found) == ["Gift card", "KIWI", "MANGO", "PEAR"]
    mango = found["MANGO"]
    assert (mango.name, mango.price, mango.stock, mango.tags) == (
        "Mango box 3 kg",
        5900,
        12,
        ["fruit"],
    )
    assert mango.id == before["MANGO"].id
    assert mango.updated_at > before["MANGO"].updated_at
    assert snapshot({"KIWI": found["KIWI"]}) == snapshot({"KIWI": before["KIWI"]})
    pear = found["PEAR"]
    assert (pear.name, pear.price, pear.role, pear.kind, pear.active) == (
        "Pear",
        850,
        "traffic",
        "goods",
        True,
    )
    assert pear.tags == ["fresh", "fruit"]
    assert pear.ladder == [
        {"min_quantity": 5, "unit_price": 800},
        {"min_quantity": 10, "unit_price": 750},
    ]
    assert (pear.stock, pear.cost_price, pear.category, pear.images) == (None, None, None, [])
    gift = found["Gift card"]
    assert (gift.sku, gift.price) == (None, 10000)


async def test_an_event_row_reads_times_in_the_merchants_timezone_unless_they_say_theirs(
    db: Database, factory: Factory
) -> None:
    shop = await factory.shop()
    assert shop.tenant.timezone == "Asia/Shanghai"
    text = csv_text(
        {
            "sku": "JAZZ",
            "name": "Jazz night",
            "kind": "event",
            "price": "80",
            "stock": "120",
            "starts_at": "2025-06-01 19:30",
            "ends_at": "2025-06-01T22:00:00+08:00",
            "signup_deadline": "2025-05-31",
            "place": "Blue Note, Shanghai",
        },
        {
            "sku": "WORKSHOP",
            "name": "Calligraphy workshop",
            "kind": "event",
            "price": "0",
            "starts_at": "2025-07-01T02:00:00Z",
        },
    )
    report = await _import(db, shop, text)
    assert totals(report) == (2, 2, 0, 0, 0)
    jazz = (await products(db, shop))["JAZZ"]
    assert (jazz.starts_at, jazz.ends_at, jazz.signup_deadline) == (
        datetime(2025, 6, 1, 11, 30, tzinfo=UTC),
        datetime(2025, 6, 1, 14, 0, tzinfo=UTC),
        datetime(2025, 5, 30, 16, 0, tzinfo=UTC),
    )
    assert (jazz.place, jazz.stock, jazz.price) == ("Blue Note, Shanghai", 120, 8000)
    workshop = (await products(db, shop))["WORKSHOP"]
    assert (workshop.starts_at, workshop.ends_at, workshop.price) == (
        datetime(2025, 7, 1, 2, 0, tzinfo=UTC),
        None,
        0,
    )


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            {"kind": "event", "starts_at": "2025-06-01T20:00Z", "ends_at": "2025-06-01T19:00Z"},
            [("ends_at", "an event ends after it starts")],
        ),
        (
            {
                "kind": "event",
                "starts_at": "2025-06-01T20:00Z",
                "ends_at": "2025-06-01T22:00Z",
                "signup_deadline": "2025-06-01T23:00Z",
            },
            [("signup_deadline", "sign-up must close before the event ends")],
        ),
        (
            {"kind": "event", "starts_at": "next friday"},
            [
                (
                    "starts_at",
                    "'next friday' is not a date and time; write it like 2025-06-01T18:00:00Z, "
                    "or without a zone in the merchant's timezone",
                )
            ],
        ),
        ({"ends_at": "2025-06-01T22:00Z"}, [("ends_at", MIXED_PROBLEMS[3][2])]),
        ({"price": "1,000.00"}, [("price", "'1,000.00' is not an amount; write it like 45.00")]),
        ({"price": "Infinity"}, [("price", "'Infinity' is not an amount; write it like 45.00")]),
        ({"price": TOO_MUCH}, [("price", f"{TOO_MUCH} is too large; at most {MOST}")]),
        (
            {"cost_price": "1.5.0"},
            [("cost_price", "'1.5.0' is not an amount; write it like 45.00")],
        ),
        ({"stock": "-3"}, [("stock", "Input should be greater than or equal to 0")]),
        ({"stock": "2.5"}, [("stock", "'2.5' is not a whole number")]),
        ({"role": "vip"}, [("role", "Input should be 'traffic', 'profit' or 'regular'")]),
        (
            {"ladder": "5-45"},
            [
                (
                    "ladder",
                    "tier '5-45' is not quantity:unit price; write tiers like 5:45.00;10:40.00",
                )
            ],
        ),
        (
            {"ladder": "0:1.00"},
            [("ladder", "tier '0:1.00': Input should be greater than or equal to 1")],
        ),
        ({"ladder": "5:1.001"}, [("ladder", "'1.001' has more decimals than CNY allows")]),
        ({"name": "x" * 201}, [("name", "String should have at most 200 characters")]),
        ({"sku": "S" * 65}, [("sku", "String should have at most 64 characters")]),
        (
            {"tags": ";".join(f"t{i}" for i in range(31))},
            [("tags", "List should have at most 30 items after validation, not 31")],
        ),
    ],
    ids=[
        "ends-before-start",
        "deadline-after-end",
        "bad-time",
        "goods-with-end",
        "thousands-separator",
        "infinity",
        "too-large",
        "bad-cost",
        "negative-stock",
        "fractional-stock",
        "unknown-role",
        "ladder-syntax",
        "ladder-zero-quantity",
        "ladder-decimals",
        "long-name",
        "long-sku",
        "too-many-tags",
    ],
)
async def test_each_bad_cell_is_reported_on_its_column_and_the_row_is_not_written(
    db: Database, factory: Factory, row: dict[str, str], expected: list[tuple[str, str]]
) -> None:
    shop = await factory.shop()
    cells = {"sku": "ITEM", "name": "Item", "price": "10.00", **row}
    report = await _import(db, shop, csv_text(cells))
    assert totals(report) == (1, 0, 0, 0, 1)
    assert problems(report) == [(2, column, message) for column, message in expected]
    assert await count_rows(db, Product) == 0


async def test_an_existing_products_kind_cannot_change_and_an_empty_kind_keeps_it(
    db: Database, factory: Factory
) -> None:
    shop = await factory.shop()
    await factory.product(shop, sku="MANGO", name="Mango", price=1000)
    starts = datetime(2025, 6, 1, 11, 30, tzinfo=UTC)
    await factory.product(shop, sku="JAZZ", name="Jazz", kind="event", price=0, starts_at=starts)
    text = csv_text(
        {
            "sku": "MANGO",
            "name": "Mango",
            "price": "10",
            "kind": "event",
            "starts_at": "2025-06-01",
        },
        {"sku": "JAZZ", "name": "Jazz", "price": "0", "kind": "", "starts_at": "2025-06-01T11:30Z"},
        {"sku": "JAZZ-2", "name": "Jazz 2", "price": "0", "kind": "", "starts_at": "2025-06-01"},
    )
    report = await _import(db, shop, text)
    assert totals(report) == (3, 0, 0, 1, 2)
    assert problems(report) == [
        (
            2,
            "kind",
            "SKU 'MANGO' is goods; a product's kind cannot change (use a new SKU for the event)",
        ),
        (4, "starts_at", "only events have a time, place or sign-up deadline"),
    ]
    found = await products(db, shop)
    assert {sku: p.kind for sku, p in found.items()} == {"MANGO": "goods", "JAZZ": "event"}


async def test_a_stock_cell_sets_the_stock_and_an_empty_one_stops_tracking_it(
    db: Database, factory: Factory
) -> None:
    shop = await factory.shop()
    await factory.product(shop, sku="A", name="A", price=100, stock=10)
    await factory.product(shop, sku="B", name="B", price=100, stock=10)
    await factory.product(shop, sku="C", name="C", price=100)
    text = csv_text(
        {"sku": "A", "name": "A", "price": "1", "stock": "3"},
        {"sku": "B", "name": "B", "price": "1", "stock": ""},
        {"sku": "C", "name": "C", "price": "1", "stock": "0"},
    )
    report = await _import(db, shop, text)
    assert totals(report) == (3, 0, 3, 0, 0)
    found = await products(db, shop)
    assert {sku: p.stock for sku, p in found.items()} == {"A": 3, "B": None, "C": 0}


async def test_columns_left_out_of_the_file_keep_their_values_and_empty_cells_clear_them(
    db: Database, factory: Factory
) -> None:
    shop = await factory.shop()
    await factory.product(
        shop,
        sku="MANGO",
        name="Mango",
        price=1000,
        stock=7,
        category="fruit",
        role="profit",
        description="sweet",
        images=["https://cdn.example/m.png"],
    )
    text = csv_text(
        {"SKU ": "MANGO", "Name": "Mango", "price": "11.00", "category": ""},
        columns=["SKU ", "Name", "price", "category"],
    )
    report = await _import(db, shop, "\ufeff" + text)
    assert totals(report) == (1, 0, 1, 0, 0)
    mango = (await products(db, shop))["MANGO"]
    assert (mango.price, mango.category, mango.stock, mango.role, mango.description) == (
        1100,
        None,
        7,
        "profit",
        "sweet",
    )
    assert mango.images == ["https://cdn.example/m.png"]


async def test_rows_of_the_wrong_width_fail_and_blank_lines_are_skipped(
    db: Database, factory: Factory
) -> None:
    shop = await factory.shop()
    text = "sku,name,price\n\nA,Apple,1.00\nB,Banana\n,,\nC,Cherry,2.00,,,\nD,Date,1,extra\n"
    report = await _import(db, shop, text)
    assert totals(report) == (4, 2, 0, 0, 2)
    assert problems(report) == [
        (4, "row", "the row has 2 cells but the header has 3 columns"),
        (7, "row", "the row has 4 cells but the header has 3 columns"),
    ]
    assert sorted(await products(db, shop)) == ["A", "C"]


# ------------------------------------------------------------------------------- the whole file


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "sku,name,price,Colour,size\n",
            f"unknown columns 'Colour', 'size'; the columns are: {COLUMN_LIST}",
        ),
        ("sku,name,weight\n", f"unknown column 'weight'; the columns are: {COLUMN_LIST}"),
        ("sku,name,stock\nA,Apple,3\n", "missing required column price"),
        ("name,stock\n", "missing required columns sku, price"),
        ("sku,name,price,Name\n", "column name twice"),
        ("", f"the file is empty; its first line must be a header such as {COLUMN_LIST}"),
        ("\n\n", f"the file is empty; its first line must be a header such as {COLUMN_LIST}"),
    ],
    ids=["unknown-columns", "unknown-column", "missing", "missing-two", "twice", "empty", "blank"],
)
async def test_a_bad_header_refuses_the_whole_file(
    db: Database, factory: Factory, text: str, message: str
) -> None:
    shop = await factory.shop()
    with pytest.raises(CsvHeaderError) as raised:
        await _import(db, shop, text)
    assert raised.value.detail == message
    assert raised.value.code == "csv_header"
    assert await count_rows(db, Product) == 0


def test_a_file_that_is_not_utf8_or_not_csv_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CsvEncodingError) as raised:
        decode_csv("sku,name,price\nA,Pomme à,1\n".encode("latin-1"))
    assert raised.value.detail == (
        "the file is not UTF-8 (byte b'\\xe0' at offset 23); save it as 'CSV UTF-8' and try again"
    )
    assert decode_csv(b"\xef\xbb\xbfsku,name,price\n") == "sku,name,price\n"

    latin = tmp_path / "latin.csv"
    latin.write_bytes(
        ("sku,name,price\n" + "A,Apple,1\n" * 5000 + "B,Pomme à,1\n").encode("latin-1")
    )
    with pytest.raises(CsvEncodingError):
        check_file(latin)
    huge = tmp_path / "huge.csv"
    huge.write_text('sku,name,price\nA,"Apple,1\n' + "x" * 200_000 + "\n", encoding="utf-8")
    with pytest.raises(CsvFileError) as raised_huge:
        check_file(huge)
    assert raised_huge.value.detail == (
        "line 2 cannot be read as CSV (field larger than field limit (131072)); check the quoting"
    )
    good = _write(tmp_path, 'sku,name,price\n\nA,Apple,1\n"B","Multi\nline",2\n')
    assert check_file(good) == 2


# --------------------------------------------------------------------- dry run and all or nothing


async def test_a_dry_run_reports_what_a_real_run_does_and_writes_nothing(
    db: Database, factory: Factory
) -> None:
    shop = await factory.shop()
    await _existing(factory, shop)
    before = snapshot(await products(db, shop))

    dry = await _import(db, shop, MIXED, dry_run=True)
    assert totals(dry) == (11, 2, 1, 1, 7)
    assert dry.saved is False
    assert problems(dry) == MIXED_PROBLEMS
    assert snapshot(await products(db, shop)) == before

    real = await _import(db, shop, MIXED)
    assert (totals(real), problems(real), real.saved) == (totals(dry), problems(dry), True)
    assert await count_rows(db, Product, Product.merchant_id == shop.tenant.id) == 4


async def test_all_or_nothing_writes_nothing_when_a_row_fails_and_everything_otherwise(
    db: Database, factory: Factory
) -> None:
    shop = await factory.shop()
    await _existing(factory, shop)
    before = snapshot(await products(db, shop))

    refused = await _import(db, shop, MIXED, all_or_nothing=True)
    assert totals(refused) == (11, 2, 1, 1, 7)
    assert refused.saved is False
    assert snapshot(await products(db, shop)) == before

    good = csv_text(
        {"sku": "MANGO", "name": "Mango box", "price": "60.00", "stock": "10", "tags": "fruit"},
        {"sku": "FIG", "name": "Figs", "price": "30.00"},
    )
    accepted = await _import(db, shop, good, all_or_nothing=True)
    assert totals(accepted) == (2, 1, 1, 0, 0)
    assert accepted.saved is True
    found = await products(db, shop)
    assert (found["MANGO"].price, found["FIG"].price) == (6000, 3000)


async def test_a_file_is_imported_in_batches_and_all_or_nothing_spans_them(
    db: Database, factory: Factory, tmp_path: Path
) -> None:
    shop = await factory.shop()
    rows = [{"sku": f"P{i:02}", "name": f"Product {i}", "price": f"{i}.00"} for i in range(1, 8)]
    rows[5]["price"] = "free"
    path = _write(tmp_path, csv_text(*rows))
    assert check_file(path) == 7
    advanced: list[int] = []

    strict = await import_csv_file(
        db, shop.tenant, path, all_or_nothing=True, batch_size=3, progress=advanced.append
    )
    assert totals(strict) == (7, 6, 0, 0, 1)
    assert (strict.saved, advanced) == (False, [3, 3, 1])
    assert await count_rows(db, Product) == 0

    dry = await import_csv_file(db, shop.tenant, path, dry_run=True, batch_size=3)
    assert (totals(dry), dry.saved) == ((7, 6, 0, 0, 1), False)
    assert await count_rows(db, Product) == 0

    advanced.clear()
    batched = await import_csv_file(db, shop.tenant, path, batch_size=3, progress=advanced.append)
    assert totals(batched) == (7, 6, 0, 0, 1)
    assert problems(batched) == [(7, "price", "'free' is not an amount; write it like 45.00")]
    assert (batched.saved, advanced) == (True, [3, 3, 1])
    assert sorted(await products(db, shop)) == ["P01", "P02", "P03", "P04", "P05", "P07"]

    again = await import_csv_file(db, shop.tenant, path, batch_size=3)
    assert totals(again) == (7, 0, 0, 6, 1)


# ------------------------------------------------------------------------------ export, round trip


async def test_export_writes_every_column_in_the_merchants_currency_and_utc(
    db: Database, factory: Factory
) -> None:
    shop = await factory.shop()
    await factory.product(
        shop,
        sku="CHERRY",
        name='Cherries "Queen", 1 kg',
        price=5000,
        cost_price=2500,
        stock=40,
        role="profit",
        category="fruit",
        tags=["Red", "summer"],
        images=["/media/a.png", "/media/b.webp"],
        ladder=[{"min_quantity": 5, "unit_price": 4500}, {"min_quantity": 10, "unit_price": 4000}],
        description="Sweet.\nFrom Yantai.",
    )
    await factory.product(
        shop,
        sku="JAZZ",
        name="Jazz night",
        kind="event",
        price=8005,
        active=False,
        starts_at=datetime(2025, 6, 1, 11, 30, tzinfo=UTC),
        ends_at=datetime(2025, 6, 1, 14, 0, 0, 500, tzinfo=UTC),
        place="Blue Note",
        signup_deadline=datetime(2025, 5, 30, 16, 0, tzinfo=UTC),
    )
    assert await _export(db, shop) == (
        f"{HEADER}\r\n"
        'CHERRY,"Cherries ""Queen"", 1 kg",goods,profit,50.00,25.00,40,yes,fruit,red;summer,'
        '/media/a.png;/media/b.webp,5:45.00;10:40.00,"Sweet.\nFrom Yantai.",,,,\r\n'
        "JAZZ,Jazz night,event,regular,80.05,,,no,,,,,,2025-06-01T11:30:00Z,"
        "2025-06-01T14:00:00.000500Z,Blue Note,2025-05-30T16:00:00Z\r\n"
    )


async def test_export_then_import_of_the_same_file_changes_nothing(
    db: Database, factory: Factory
) -> None:
    shop = await factory.shop()
    await factory.product(
        shop,
        sku="CHERRY",
        name="樱桃 1 kg, 'Queen'",
        price=5000,
        cost_price=2500,
        stock=0,
        role="traffic",
        category="水果",
        tags=["red", "summer"],
        images=["/media/a.png"],
        ladder=[{"min_quantity": 5, "unit_price": 4500}],
        description='Line one,\n"line" two\r\n',
    )
    await factory.product(
        shop,
        sku="JAZZ",
        name="Jazz night",
        kind="event",
        price=0,
        stock=100,
        active=False,
        starts_at=datetime(2025, 6, 1, 11, 30, 5, 123456, tzinfo=UTC),
        ends_at=datetime(2025, 6, 1, 14, 0, tzinfo=UTC),
        place="Blue Note",
        signup_deadline=datetime(2025, 5, 30, 16, 0, tzinfo=UTC),
    )
    for i in range(5):
        await factory.product(shop, sku=f"PLAIN-{i}", name=f"Plain {i}", price=i * 101)
    before = snapshot(await products(db, shop))

    exported = await _export(db, shop, page_size=3)
    report = await _import(db, shop, exported)

    assert totals(report) == (7, 0, 0, 7, 0)
    assert snapshot(await products(db, shop)) == before


async def test_export_reads_in_pages_and_applies_the_filters(
    db: Database, factory: Factory
) -> None:
    shop = await factory.shop()
    for i in range(5):
        await factory.product(
            shop, sku=f"G{i}", name=f"Goods {i}", price=100, tags=["a"] if i % 2 else []
        )
    await factory.product(
        shop,
        sku="E",
        name="Event",
        kind="event",
        price=100,
        starts_at=datetime(2025, 1, 1, tzinfo=UTC),
    )
    chunks = [chunk async for chunk in export_csv(db, shop.tenant, page_size=2)]
    assert [chunk.count("\r\n") for chunk in chunks] == [1, 2, 2, 2]
    assert [line.split(",")[0] for line in "".join(chunks).splitlines()[1:]] == [
        "G0",
        "G1",
        "G2",
        "G3",
        "G4",
        "E",
    ]

    async def skus(filters: ProductFilters) -> list[str]:
        text = await _export(db, shop, filters=filters, page_size=2)
        return [line.split(",")[0] for line in text.splitlines()[1:]]

    assert await skus(ProductFilters(kind="event")) == ["E"]
    assert await skus(ProductFilters(tag="A")) == ["G1", "G3"]
    assert await skus(ProductFilters(q="goods 4")) == ["G4"]


# ------------------------------------------------------------------------------------- tenancy


async def test_each_merchant_imports_and_exports_its_own_products_only(
    db: Database, factory: Factory
) -> None:
    mine, theirs = await factory.shop(), await factory.shop()
    await factory.product(theirs, sku="MANGO", name="Their mango", price=5900, stock=3)
    theirs_before = snapshot(await products(db, theirs))

    report = await _import(db, mine, csv_text({"sku": "MANGO", "name": "My mango", "price": "10"}))

    assert totals(report) == (1, 1, 0, 0, 0)
    assert snapshot(await products(db, theirs)) == theirs_before
    assert (await products(db, mine))["MANGO"].name == "My mango"
    mine_export = await _export(db, mine)
    assert mine_export == f"{HEADER}\r\nMANGO,My mango,goods,regular,10.00,,,yes,,,,,,,,,\r\n"
    assert "Their mango" not in mine_export
    assert "My mango" not in await _export(db, theirs)


# --------------------------------------------------------------------------------- concurrency


async def test_concurrent_imports_of_new_skus_create_each_product_once(
    db: Database, factory: Factory
) -> None:
    shop = await factory.shop()
    skus = [f"NEW-{i}" for i in range(20)]
    text = csv_text(*({"sku": sku, "name": sku, "price": "1.00"} for sku in skus))

    reports = await fire(4, lambda _: _import(db, shop, text))

    assert await count_rows(db, Product) == 20
    assert sum(report.created for report in reports) == 20
    for report in reports:
        assert report.rows == report.created + report.unchanged + report.failed == 20
        assert report.updated == 0
        assert {message for _, _, message in problems(report)} <= {
            CLASH.format(sku=sku) for sku in skus
        }
