"""``X-Forwarded-For`` is believed only from a configured proxy: a real uvicorn server, started
with the options ``tribekit serve`` gives it, rate-limits the real peer address."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import uvicorn

from tests.conftest import test_settings
from tribekit.api.app import create_app
from tribekit.cli.server import proxy_options
from tribekit.kit.db import Database
from tribekit.kit.settings import Settings


@asynccontextmanager
async def _uvicorn(settings: Settings, db: Database) -> AsyncIterator[str]:
    app = create_app(settings, db=db)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_config=None, lifespan="on", **proxy_options(settings)
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "uvicorn did not start"
            await asyncio.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def _failed_logins(base_url: str, n: int) -> list[int]:
    """``n`` failed sign-ins, each claiming to come from another address."""
    async with httpx.AsyncClient(base_url=base_url) as http:
        statuses = []
        for i in range(n):
            response = await http.post(
                "/api/v1/auth/login",
                json={"email": f"guess{i}@x.example", "password": "wrong"},
                headers={"X-Forwarded-For": f"203.0.113.{i + 1}"},
            )
            statuses.append(response.status_code)
        return statuses


def test_no_proxy_is_trusted_by_default() -> None:
    assert Settings(secret_key="x" * 32).forwarded_allow_ips == ""
    assert proxy_options(Settings(secret_key="x" * 32)) == {"proxy_headers": False}
    configured = Settings(secret_key="x" * 32, forwarded_allow_ips=" 10.0.0.1, 10.1.0.0/16 ")
    assert proxy_options(configured) == {
        "proxy_headers": True,
        "forwarded_allow_ips": ["10.0.0.1", "10.1.0.0/16"],
    }


async def test_a_forwarded_header_does_not_dodge_the_per_address_limit(db: Database) -> None:
    settings = test_settings(db, failed_auth_rate_limit=3)
    async with _uvicorn(settings, db) as base_url:
        statuses = await _failed_logins(base_url, 4)
    assert statuses == [401, 401, 401, 429]


async def test_a_configured_proxy_is_believed(db: Database) -> None:
    settings = test_settings(db, failed_auth_rate_limit=3, forwarded_allow_ips="127.0.0.1")
    async with _uvicorn(settings, db) as base_url:
        statuses = await _failed_logins(base_url, 4)
    assert statuses == [401, 401, 401, 401]  # four clients behind the proxy, one try each
