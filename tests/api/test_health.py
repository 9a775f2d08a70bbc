"""Liveness, readiness and metrics."""

from __future__ import annotations

from httpx import AsyncClient
from redis.asyncio import Redis

from tests.conftest import serve, test_settings
from tribekit.api.app import create_app
from tribekit.kit.db import Database


async def test_healthz(client: AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_checks_database_and_redis(db: Database, redis: Redis) -> None:
    app = create_app(test_settings(db), db=db, redis=redis)
    async with serve(app) as http:
        response = await http.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}


async def test_readyz_is_503_when_redis_is_down(db: Database) -> None:
    down = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    app = create_app(test_settings(db), db=db, redis=down)
    async with serve(app) as http:
        response = await http.get("/readyz")
    await down.aclose()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error")


async def test_metrics_count_requests_by_route_template(client: AsyncClient) -> None:
    await client.get("/api/v1/members/00000000-0000-0000-0000-000000000000")
    text = (await client.get("/metrics")).text
    assert 'route="/api/v1/members/{member_id}"' in text
    assert "tribekit_http_request_duration_seconds_bucket" in text
