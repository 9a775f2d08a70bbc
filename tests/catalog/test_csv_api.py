"""CSV import and export of products through the HTTP API."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient

from tests.catalog.csvfiles import csv_text, products, snapshot
from tests.conftest import serve, test_settings
from tests.factories import Factory, bearer
from tribekit.api.app import create_app
from tribekit.catalog.csv_format import COLUMNS
from tribekit.kit.db import Database
from tribekit.models.enums import Role

API = "/api/v1/products"
CSV = {"Content-Type": "text/csv"}
HEADER = ",".join(COLUMNS)


def _report(**counts: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "rows": 0,
        "created": 0,
        "updated": 0,
        "unchanged": 0,
        "failed": 0,
        "saved": True,
        "problems": [],
    }
    report.update(counts)
    return report


async def test_export_streams_a_csv_attachment_with_the_list_filters(
    client: AsyncClient, factory: Factory
) -> None:
    shop = await factory.shop("greenwood")
    await factory.product(shop, sku="MANGO", name="Mango", price=5900, stock=3, role="traffic")
    await factory.product(shop, sku="KIWI", name="Kiwi", price=1250, active=False)

    response = await client.get(f"{API}/export", headers=shop.headers)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        "attachment; filename=products-greenwood.csv"
    )
    assert response.text == (
        f"{HEADER}\r\n"
        "MANGO,Mango,goods,traffic,59.00,,3,yes,,,,,,,,,\r\n"
        "KIWI,Kiwi,goods,regular,12.50,,,no,,,,,,,,,\r\n"
    )
    inactive = await client.get(f"{API}/export?active=false", headers=shop.headers)
    assert inactive.text == f"{HEADER}\r\nKIWI,Kiwi,goods,regular,12.50,,,no,,,,,,,,,\r\n"
    bad = await client.get(f"{API}/export?kind=ticket", headers=shop.headers)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["loc"] == ["query", "kind"]


async def test_import_answers_with_the_report_and_writes_the_good_rows(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    await factory.product(shop, sku="MANGO", name="Mango", price=5900)
    text = csv_text(
        {"sku": "MANGO", "name": "Mango", "price": "59.00"},
        {"sku": "KIWI", "name": "Kiwi", "price": "12.50", "stock": "40"},
        {"sku": "FIG", "name": "Figs", "price": "12.5.0"},
    )

    response = await client.post(f"{API}/import", content=text, headers={**shop.headers, **CSV})

    assert response.status_code == 200, response.text
    assert response.json() == _report(
        rows=3,
        created=1,
        unchanged=1,
        failed=1,
        problems=[
            {
                "row": 4,
                "column": "price",
                "message": "'12.5.0' is not an amount; write it like 45.00",
            }
        ],
    )
    found = await products(db, shop)
    assert sorted(found) == ["KIWI", "MANGO"]
    assert (found["KIWI"].price, found["KIWI"].stock) == (1250, 40)


async def test_dry_run_and_all_or_nothing_write_nothing(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    text = csv_text(
        {"sku": "KIWI", "name": "Kiwi", "price": "12.50"},
        {"sku": "EVT", "name": "Concert", "price": "80", "kind": "event"},
    )
    headers = {**shop.headers, **CSV}
    problem = {"row": 3, "column": "starts_at", "message": "an event needs a start time"}

    for query in ("dry_run=true", "all_or_nothing=true", "dry_run=true&all_or_nothing=true"):
        response = await client.post(f"{API}/import?{query}", content=text, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json() == _report(
            rows=2, created=1, failed=1, saved=False, problems=[problem]
        ), query
        assert await products(db, shop) == {}, query

    good = csv_text({"sku": "KIWI", "name": "Kiwi", "price": "12.50"})
    dry = await client.post(f"{API}/import?dry_run=true", content=good, headers=headers)
    assert dry.json() == _report(rows=1, created=1, saved=False)
    assert await products(db, shop) == {}
    real = await client.post(f"{API}/import?all_or_nothing=true", content=good, headers=headers)
    assert real.json() == _report(rows=1, created=1)
    assert sorted(await products(db, shop)) == ["KIWI"]


async def test_a_file_that_cannot_be_read_is_a_422_with_a_code_and_nothing_changes(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    headers = {**shop.headers, **CSV}

    latin = await client.post(
        f"{API}/import", content="sku,name,price\nA,Crème,1\n".encode("latin-1"), headers=headers
    )
    assert latin.status_code == 422
    assert latin.headers["content-type"] == "application/problem+json"
    assert (latin.json()["code"], latin.json()["detail"]) == (
        "csv_encoding",
        "the file is not UTF-8 (byte b'\\xe8' at offset 19); save it as 'CSV UTF-8' and try again",
    )

    header = await client.post(
        f"{API}/import", content="sku,name,price,colour\nA,Apple,1,red\n", headers=headers
    )
    assert header.status_code == 422
    assert (header.json()["code"], header.json()["detail"]) == (
        "csv_header",
        f"unknown column 'colour'; the columns are: {', '.join(COLUMNS)}",
    )

    missing = await client.post(f"{API}/import", content="sku,name\nA,Apple\n", headers=headers)
    assert (missing.status_code, missing.json()["code"]) == (422, "csv_header")
    assert missing.json()["detail"] == "missing required column price"

    json_body = await client.post(f"{API}/import", json={"sku": "A"}, headers=shop.headers)
    assert json_body.status_code == 415
    assert (json_body.json()["code"], json_body.json()["detail"]) == (
        "unsupported_media_type",
        "send the file as the request body with 'Content-Type: text/csv' (got 'application/json')",
    )
    assert await products(db, shop) == {}

    bom = await client.post(
        f"{API}/import",
        content=b"\xef\xbb\xbfsku,name,price\r\nA,Apple,1\r\n",
        headers={**shop.headers, "Content-Type": "text/csv; charset=utf-8"},
    )
    assert bom.json() == _report(rows=1, created=1)
    assert sorted(await products(db, shop)) == ["A"]


async def test_the_upload_body_limit_applies_to_imports(db: Database, factory: Factory) -> None:
    shop = await factory.shop()
    app = create_app(test_settings(db, max_upload_bytes=2000), db=db)
    rows = [{"sku": f"P{i}", "name": f"Product {i}", "price": "1.00"} for i in range(100)]
    async with serve(app) as http:
        response = await http.post(
            f"{API}/import", content=csv_text(*rows), headers={**shop.headers, **CSV}
        )
        assert response.status_code == 413
        assert response.json()["code"] == "payload_too_large"
    assert await products(db, shop) == {}


async def test_an_analyst_may_export_but_not_import(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    await factory.product(shop, sku="MANGO", name="Mango", price=5900)
    before = snapshot(await products(db, shop))
    analyst = bearer(await factory.staff_token(shop, Role.ANALYST))

    exported = await client.get(f"{API}/export", headers=analyst)
    assert exported.status_code == 200
    assert exported.text.count("\r\n") == 2

    text = csv_text(
        {"sku": "MANGO", "name": "Mango", "price": "1.00"},
        {"sku": "NEW", "name": "N", "price": "1"},
    )
    refused = await client.post(f"{API}/import", content=text, headers={**analyst, **CSV})
    assert refused.status_code == 403
    assert refused.json()["code"] == "permission_denied"
    assert refused.json()["detail"] == "the analyst role may not do this (needs catalog:write)"
    assert snapshot(await products(db, shop)) == before

    anonymous = await client.post(f"{API}/import", content=text, headers=CSV)
    assert anonymous.status_code == 401
    assert (await client.get(f"{API}/export")).status_code == 401
    assert snapshot(await products(db, shop)) == before


async def test_imports_and_exports_stay_inside_the_callers_merchant(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    mine, theirs = await factory.shop(), await factory.shop()
    await factory.product(theirs, sku="MANGO", name="Their mango", price=5900)
    theirs_before = snapshot(await products(db, theirs))

    text = csv_text({"sku": "MANGO", "name": "My mango", "price": "10"})
    response = await client.post(f"{API}/import", content=text, headers={**mine.headers, **CSV})

    assert response.json() == _report(rows=1, created=1)
    assert snapshot(await products(db, theirs)) == theirs_before
    exported = await client.get(f"{API}/export", headers=mine.headers)
    assert exported.text == f"{HEADER}\r\nMANGO,My mango,goods,regular,10.00,,,yes,,,,,,,,,\r\n"


async def test_export_then_import_through_the_api_changes_nothing(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    await factory.product(
        shop,
        sku="CHERRY",
        name="Cherries",
        price=5000,
        cost_price=2500,
        stock=9,
        tags=["red"],
        ladder=[{"min_quantity": 5, "unit_price": 4500}],
        description="Sweet, from Yantai",
    )
    await factory.product(
        shop,
        sku="TALK",
        name="Talk",
        kind="event",
        price=0,
        starts_at="2025-09-01T10:00:00+08:00",
        place="Library",
    )
    before = snapshot(await products(db, shop))
    exported = await client.get(f"{API}/export", headers=shop.headers)
    response = await client.post(
        f"{API}/import", content=exported.content, headers={**shop.headers, **CSV}
    )
    assert response.json() == _report(rows=2, unchanged=2)
    assert snapshot(await products(db, shop)) == before
