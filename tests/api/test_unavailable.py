"""When no database or Redis connection can be had in time, a request answers 503 ``unavailable``
with ``Retry-After``, and the next request once one is free succeeds."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from httpx import Response
from redis.asyncio import Redis
from sqlalchemy import text

from tests.conftest import (
    DATABASES,
    REDIS_URL,
    SECRET,
    Databases,
    _empty_tables,
    serve,
    test_settings,
)
from tests.factories import Factory
from tribekit.api.app import create_app
from tribekit.kit.db import Database
from tribekit.kit.ratelimit import redis_client


@pytest.fixture(params=[d for d in DATABASES if d == "postgresql"])
async def pg(request: pytest.FixtureRequest, databases: Databases) -> AsyncIterator[Database]:
    database = await databases.get(request.param)
    yield database
    await _empty_tables(database)


def _assert_unavailable(response: Response, detail: str) -> None:
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "unavailable"
    assert problem["status"] == 503
    assert problem["detail"] == detail


async def test_a_request_that_gets_no_database_connection_in_time_is_a_503(
    pg: Database,
) -> None:
    shop = await Factory(pg, SECRET).shop()
    small = Database(pg.url, pool_size=1, max_overflow=0, pool_timeout=0.3)
    app = create_app(test_settings(pg, principal_cache_seconds=0), db=small)
    try:
        async with serve(app) as http:
            async with small.unit_of_work() as holder:  # the only connection is taken
                await holder.execute(text("SELECT 1"))
                refused = await http.get("/api/v1/merchant", headers=shop.headers)
            _assert_unavailable(refused, "all database connections are busy; retry in a moment")
            again = await http.get("/api/v1/merchant", headers=shop.headers)
            assert again.status_code == 200
    finally:
        await small.dispose()


async def test_a_database_that_refuses_connections_is_a_503(pg: Database) -> None:
    shop = await Factory(pg, SECRET).shop()
    role = f"tribekit_no_connections_{os.environ.get('TRIBEKIT_TEST_RUN', 'main')}"
    async with pg.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        exists = await conn.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
        if not exists:
            await conn.execute(text(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 0'))
    # PostgreSQL answers "too many connections for role" (53300), as it says "too many clients".
    refusing = Database(pg.url.replace("postgres@", f"{role}@"), pool_size=1)
    app = create_app(test_settings(pg), db=refusing)
    try:
        async with serve(app) as http:
            refused = await http.get("/api/v1/merchant", headers=shop.headers)
        _assert_unavailable(refused, "the database refuses new connections; retry in a moment")
    finally:
        await refusing.dispose()


async def test_a_request_that_gets_no_redis_connection_in_time_is_a_503(
    db: Database, factory: Factory, redis: Redis
) -> None:
    shop = await factory.shop()
    index = redis.connection_pool.connection_kwargs.get("db", 0)
    client = redis_client(f"{REDIS_URL}/{index}", max_connections=1, timeout=0.3)
    app = create_app(test_settings(db, principal_cache_seconds=0), db=db, redis=client)
    try:
        async with serve(app) as http:
            pool = client.connection_pool
            held = await pool.get_connection()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            refused = await http.get("/api/v1/merchant", headers=shop.headers)
            await pool.release(held)
            _assert_unavailable(refused, "the rate-limit store is unavailable; retry in a moment")
            again = await http.get("/api/v1/merchant", headers=shop.headers)
            assert again.status_code == 200
    finally:
        await client.aclose()
