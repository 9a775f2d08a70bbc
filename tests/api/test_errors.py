"""One problem+json envelope for every error, and clear 4xx for bad input."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import FastAPI
from httpx import AsyncClient

from tests.factories import Factory

PROBLEM_KEYS = {"type", "title", "status", "detail", "code", "errors", "request_id"}


async def test_unknown_route_is_a_404_envelope(client: AsyncClient) -> None:
    response = await client.get("/api/v1/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert set(body) == PROBLEM_KEYS
    assert body["code"] == "not_found"
    assert body["type"] == "urn:tribekit:problem:not_found"
    assert body["detail"] == "no such endpoint: GET /api/v1/nope"
    assert body["request_id"] == response.headers["x-request-id"]


async def test_wrong_method_is_a_405_envelope(client: AsyncClient) -> None:
    response = await client.put("/healthz")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


async def test_malformed_json_is_a_400(client: AsyncClient, factory: Factory) -> None:
    shop = await factory.shop()
    response = await client.post(
        "/api/v1/members",
        content=b'{"display_name": ',
        headers={**shop.headers, "content-type": "application/json"},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "malformed_body"
    assert "not valid JSON" in body["detail"]


async def test_wrong_types_and_unknown_fields_are_listed(
    client: AsyncClient, factory: Factory
) -> None:
    shop = await factory.shop()
    response = await client.post(
        "/api/v1/members",
        json={"display_name": 5, "blocked": "maybe", "favourite_fruit": "durian"},
        headers=shop.headers,
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_failed"
    problems = {tuple(e["loc"]): e["type"] for e in body["errors"]}
    assert problems == {
        ("body", "display_name"): "string_type",
        ("body", "blocked"): "bool_parsing",
        ("body", "favourite_fruit"): "extra_forbidden",
    }
    assert "favourite_fruit: unknown field" in body["detail"]


async def test_missing_field_says_it_is_required(client: AsyncClient, factory: Factory) -> None:
    shop = await factory.shop()
    response = await client.post("/api/v1/members", json={}, headers=shop.headers)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"loc": ["body", "display_name"], "message": "this field is required", "type": "missing"}
    ]


async def test_oversized_body_is_a_413_before_any_handler(
    client: AsyncClient, factory: Factory
) -> None:
    shop = await factory.shop()
    big = {"display_name": "x", "notes": "n" * (1024 * 1024 + 10)}
    response = await client.post("/api/v1/members", json=big, headers=shop.headers)
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert response.headers.get_list("x-request-id") == [response.json()["request_id"]]
    listing = await client.get("/api/v1/members", headers=shop.headers)
    assert listing.json()["items"] == []


async def test_oversized_chunked_body_is_a_413(client: AsyncClient, factory: Factory) -> None:
    shop = await factory.shop()

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 100_000

    response = await client.post(
        "/api/v1/members",
        content=chunks(),
        headers={**shop.headers, "content-type": "application/json"},
    )
    assert response.status_code == 413


async def test_unexpected_error_is_a_500_without_internals(
    app: FastAPI, client: AsyncClient
) -> None:
    async def explode() -> None:
        raise RuntimeError("secret internal detail")

    app.add_api_route("/boom", explode)
    response = await client.get("/boom", headers={"X-Request-ID": "req-42"})
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "internal_error"
    assert body["request_id"] == "req-42"
    assert "secret" not in response.text
    assert "req-42" in body["detail"]


async def test_openapi_documents_the_problem_envelope(client: AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "Problem" in spec["components"]["schemas"]
    operation = spec["paths"]["/api/v1/members"]["post"]
    for status in ("401", "403", "404", "409", "413", "422", "429"):
        content = operation["responses"][status]["content"]
        assert (
            content["application/problem+json"]["schema"]["$ref"] == "#/components/schemas/Problem"
        )
    assert "HTTPValidationError" not in spec["components"]["schemas"]


async def test_nul_characters_are_refused_in_bodies_and_queries(
    client: AsyncClient, factory: Factory
) -> None:
    shop = await factory.shop()
    body = await client.post(
        "/api/v1/members", json={"display_name": "a\x00b", "tags": ["x\x00"]}, headers=shop.headers
    )
    assert body.status_code == 422
    assert {tuple(e["loc"]) for e in body.json()["errors"]} == {
        ("body", "display_name"),
        ("body", "tags", 0),
    }
    query = await client.get("/api/v1/members", params={"q": "a\x00"}, headers=shop.headers)
    assert query.status_code == 422
    assert query.json()["errors"][0]["loc"] == ["query", "q"]
    assert (await client.get("/api/v1/members", headers=shop.headers)).json()["items"] == []


async def test_times_out_of_range_in_utc_are_422(client: AsyncClient, factory: Factory) -> None:
    shop = await factory.shop()
    query = await client.get(
        "/api/v1/members", params={"joined_to": "0001-01-01T00:01:02+03:04"}, headers=shop.headers
    )
    assert query.status_code == 422
    assert query.json()["errors"][0]["loc"] == ["query", "joined_to"]
    body = await client.post(
        "/api/v1/members",
        json={"display_name": "Old", "joined_at": "0001-01-01T00:00:00+05:00"},
        headers=shop.headers,
    )
    assert body.status_code == 422
    assert body.json()["errors"][0]["loc"] == ["body", "joined_at"]
