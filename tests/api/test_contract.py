"""Contract details the fuzzer found: every allowed method in ``Allow``, a literal route is not
read as an id, and times in input are ISO 8601 text with a zone (never unix seconds)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from pydantic import BaseModel, ValidationError

from tests.factories import Factory
from tribekit.kit.schemas import ISO_DATETIME_MESSAGE, Input


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("OPTIONS", "/api/v1/members", "GET, POST"),
        ("PUT", "/api/v1/members", "GET, POST"),
        ("POST", "/api/v1/members/0191a4c4-0000-7000-8000-000000000002", "GET, PATCH, DELETE"),
        ("GET", "/api/v1/orders/quote", "POST"),
        ("DELETE", "/api/v1/orders/quote", "POST"),
        ("GET", "/api/v1/products/import", "POST"),
        ("PATCH", "/api/v1/products/export", "GET"),
        ("PUT", "/healthz", "GET"),
    ],
)
async def test_a_405_lists_every_allowed_method(
    client: AsyncClient, factory: Factory, method: str, path: str, allow: str
) -> None:
    shop = await factory.shop()
    response = await client.request(method, path, headers=shop.headers)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "method_not_allowed"
    uses = " or ".join(allow.split(", "))
    assert body["detail"] == f"{method} is not allowed on {path}; use {uses}"


async def test_an_order_id_route_still_reads_ids(client: AsyncClient, factory: Factory) -> None:
    shop = await factory.shop()
    missing = "0191a4c4-0000-7000-8000-000000000002"
    response = await client.get(f"/api/v1/orders/{missing}", headers=shop.headers)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert "no such endpoint" not in response.json()["detail"]


NOT_ISO = [0, 1_760_000_000, 0.5, "0", "1760000000", True, "2026-03-01"]


@pytest.mark.parametrize("starts_at", NOT_ISO)
async def test_a_coupon_refuses_a_start_time_that_is_not_iso_text(
    client: AsyncClient, factory: Factory, starts_at: Any
) -> None:
    shop = await factory.shop()
    response = await client.post(
        "/api/v1/coupons",
        json={"code": "EPOCH", "kind": "amount", "value": 100, "starts_at": starts_at},
        headers=shop.headers,
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_failed"
    errors = response.json()["errors"]
    assert [e["loc"] for e in errors] == [["body", "starts_at"]]
    assert errors[0]["message"] == f"Value error, {ISO_DATETIME_MESSAGE}"
    listed = await client.get("/api/v1/coupons", headers=shop.headers)
    assert listed.json()["items"] == []


async def test_a_coupon_takes_iso_text_with_a_zone(client: AsyncClient, factory: Factory) -> None:
    shop = await factory.shop()
    response = await client.post(
        "/api/v1/coupons",
        json={
            "code": "ISO",
            "kind": "amount",
            "value": 100,
            "starts_at": "2026-03-01T09:00:00+08:00",
        },
        headers=shop.headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["starts_at"] == "2026-03-01T01:00:00Z"
    naive = await client.post(
        "/api/v1/coupons",
        json={"code": "NAIVE", "kind": "amount", "value": 1, "starts_at": "2026-03-01T09:00:00"},
        headers=shop.headers,
    )
    assert naive.status_code == 422
    assert naive.json()["errors"][0]["type"] == "timezone_aware"


async def test_query_times_refuse_unix_seconds(client: AsyncClient, factory: Factory) -> None:
    shop = await factory.shop()
    response = await client.get(
        "/api/v1/members", params={"joined_from": "1760000000"}, headers=shop.headers
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["query", "joined_from"]


def _input_models() -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    todo: list[type[BaseModel]] = [Input]
    while todo:
        model = todo.pop()
        found.append(model)
        todo.extend(model.__subclasses__())
    return found


def test_every_input_time_field_refuses_numbers(app: FastAPI) -> None:
    """``app`` imports every router and so every input schema. A field that reads a time must be
    ``kit.schemas.UtcDatetime``: it alone refuses numbers."""
    checked = []
    for model in _input_models():
        schema = model.model_json_schema()
        for name, prop in schema.get("properties", {}).items():
            options = prop.get("anyOf", [prop])
            if not any(o.get("format") == "date-time" for o in options):
                continue
            with pytest.raises(ValidationError) as caught:
                model.model_validate({name: 0})
            mine = [e for e in caught.value.errors() if e["loc"] == (name,)]
            assert [e["msg"] for e in mine] == [f"Value error, {ISO_DATETIME_MESSAGE}"], (
                model.__name__,
                name,
            )
            checked.append(f"{model.__name__}.{name}")
    assert "CouponCreate.starts_at" in checked
    assert len(checked) >= 8
