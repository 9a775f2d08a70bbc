"""400 concurrent connections at a real ``tribekit serve`` on PostgreSQL and Redis, with small
pools: requests wait for a connection for a bounded time, and an answer that cannot get one is
a 503 with ``Retry-After``, never a 500."""

from __future__ import annotations

import asyncio
import collections
import os
import time
from collections.abc import Iterator

import aiohttp
import httpx
import pytest

from tests.conftest import DATABASES, REDIS_URL, _fresh_postgres, _worker
from tests.live_server import LiveServer, live_server

CONNECTIONS = 400


def _redis_url() -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    first = int(os.environ.get("TRIBEKIT_TEST_REDIS_DB", "1"))
    index = first + (int(worker.removeprefix("gw")) if worker.startswith("gw") else 0)
    return f"{REDIS_URL}/{index}"


@pytest.fixture(scope="module", params=[d for d in DATABASES if d == "postgresql"])
def server(request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    env = {
        **os.environ,
        "TRIBEKIT_DATABASE_URL": asyncio.run(_fresh_postgres(f"tribekit_load_{_worker()}")),
        "TRIBEKIT_REDIS_URL": _redis_url(),
        "TRIBEKIT_SECRET_KEY": "load-secret-key",
        "TRIBEKIT_ENV": "production",
        "TRIBEKIT_LOG_LEVEL": "warning",
        "TRIBEKIT_TOKEN_RATE_LIMIT": "1000000",
        "TRIBEKIT_FAILED_AUTH_RATE_LIMIT": "1000000",
        # Small pools, so that 400 connections queue for them; the default waits (10 s for a
        # database connection, 5 s for Redis) are what a request may wait before a 503.
        "TRIBEKIT_DB_POOL_SIZE": "4",
        "TRIBEKIT_REDIS_MAX_CONNECTIONS": "4",
    }
    with live_server(env, "load") as running:
        yield running


async def _burst(server: LiveServer, n: int) -> list[tuple[int, str | None, str | None]]:
    """``n`` requests at once, each on its own connection: (status, Retry-After, code)."""
    connector = aiohttp.TCPConnector(limit=n, force_close=True)
    timeout = aiohttp.ClientTimeout(total=45)
    headers = {"Authorization": f"Bearer {server.token}"}
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        barrier = asyncio.Barrier(n)

        async def one(_: int) -> tuple[int, str | None, str | None]:
            await barrier.wait()
            async with http.get(f"{server.url}/api/v1/merchant", headers=headers) as response:
                body = await response.json(content_type=None)
                code = body.get("code") if response.status != 200 else None
                return response.status, response.headers.get("Retry-After"), code

        return list(await asyncio.gather(*(one(i) for i in range(n))))


def test_400_connections_get_200_or_503_with_retry_after(server: LiveServer) -> None:
    started = time.monotonic()
    answers = asyncio.run(_burst(server, CONNECTIONS))
    elapsed = time.monotonic() - started
    statuses = collections.Counter(status for status, _, _ in answers)
    assert set(statuses) <= {200, 503}, statuses
    for status, retry_after, code in answers:
        if status == 503:
            assert retry_after is not None
            assert int(retry_after) >= 1
            assert code == "unavailable"
    assert statuses[200] > CONNECTIONS // 2, statuses
    assert elapsed < 60
    # The server is still healthy and serves the next request at once.
    assert (
        httpx.get(
            f"{server.url}/api/v1/merchant", headers={"Authorization": f"Bearer {server.token}"}
        ).status_code
        == 200
    )
