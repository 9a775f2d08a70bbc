"""A checked credential is reused by the process for a few seconds, and forgotten as soon as
this process commits a change to credentials, staff, roles or merchants."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import event, text

from tests.conftest import serve, test_settings
from tests.factories import PASSWORD, Factory, bearer
from tribekit.api.app import create_app
from tribekit.kit.db import Database
from tribekit.models.enums import Role


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """The SQL statements sent while the block runs."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


def _token_lookups(seen: list[str]) -> int:
    return sum("FROM api_tokens" in statement for statement in seen)


@asynccontextmanager
async def _client(db: Database, seconds: float) -> AsyncIterator[AsyncClient]:
    app: FastAPI = create_app(test_settings(db, principal_cache_seconds=seconds), db=db)
    async with serve(app) as http:
        yield http


async def test_a_checked_token_is_not_looked_up_again(db: Database, factory: Factory) -> None:
    shop = await factory.shop()
    async with _client(db, 5) as http:
        first = await http.get("/api/v1/auth/me", headers=shop.headers)
        with statements(db) as seen:
            again = await http.get("/api/v1/auth/me", headers=shop.headers)
        assert (first.status_code, again.status_code) == (200, 200)
        assert again.json() == first.json()
        assert _token_lookups(seen) == 0
        assert len(seen) == 1  # the route's own read of the merchant, nothing else


async def test_without_the_cache_every_request_checks_the_token(
    db: Database, factory: Factory
) -> None:
    shop = await factory.shop()
    async with _client(db, 0) as http:
        await http.get("/api/v1/auth/me", headers=shop.headers)
        with statements(db) as seen:
            again = await http.get("/api/v1/auth/me", headers=shop.headers)
        assert again.status_code == 200
        assert _token_lookups(seen) == 1


async def test_a_revoked_token_is_refused_at_once_in_this_process(
    db: Database, factory: Factory
) -> None:
    shop = await factory.shop()
    async with _client(db, 60) as http:
        created = await http.post("/api/v1/tokens", json={"name": "ci"}, headers=shop.headers)
        second = bearer(created.json()["token"])
        assert (await http.get("/api/v1/auth/me", headers=second)).status_code == 200  # cached
        revoked = await http.delete(f"/api/v1/tokens/{created.json()['id']}", headers=shop.headers)
        assert revoked.status_code == 200
        refused = await http.get("/api/v1/auth/me", headers=second)
        assert refused.status_code == 401
        assert refused.json()["detail"] == "this API token was revoked"
        assert (await http.get("/api/v1/auth/me", headers=shop.headers)).status_code == 200


async def test_a_role_change_applies_at_once_in_this_process(
    db: Database, factory: Factory
) -> None:
    shop = await factory.shop()
    admin = bearer(await factory.staff_token(shop, Role.ADMIN))
    async with _client(db, 60) as http:
        me = await http.get("/api/v1/auth/me", headers=admin)
        assert me.json()["role"] == "admin"
        assert (await http.get("/api/v1/staff", headers=admin)).status_code == 200
        changed = await http.patch(
            f"/api/v1/staff/{me.json()['user_id']}", json={"role": "analyst"}, headers=shop.headers
        )
        assert changed.status_code == 200
        assert (await http.get("/api/v1/auth/me", headers=admin)).json()["role"] == "analyst"
        denied = await http.post("/api/v1/members", json={"display_name": "Nobody"}, headers=admin)
        assert denied.status_code == 403


async def test_a_change_made_elsewhere_applies_once_the_cache_seconds_pass(
    db: Database, factory: Factory
) -> None:
    shop = await factory.shop()
    async with _client(db, 0.5) as http:
        assert (await http.get("/api/v1/auth/me", headers=shop.headers)).status_code == 200
        # Another process revokes the token: raw SQL, which this process's cache does not see.
        async with db.engine.begin() as conn:
            await conn.execute(text("UPDATE api_tokens SET revoked_at = CURRENT_TIMESTAMP"))
        still = await http.get("/api/v1/auth/me", headers=shop.headers)
        assert still.status_code == 200  # the documented window
        await asyncio.sleep(0.6)
        refused = await http.get("/api/v1/auth/me", headers=shop.headers)
        assert refused.status_code == 401
        assert refused.json()["detail"] == "this API token was revoked"


async def test_a_logged_out_session_is_refused_at_once(db: Database, factory: Factory) -> None:
    shop = await factory.shop()
    async with _client(db, 60) as http:
        login = await http.post(
            "/api/v1/auth/login", json={"email": shop.owner_email, "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        assert (await http.get("/api/v1/auth/me")).status_code == 200
        cookie = dict(http.cookies)
        assert (await http.post("/api/v1/auth/logout")).status_code == 204
        for name, value in cookie.items():
            http.cookies.set(name, value)
        refused = await http.get("/api/v1/auth/me")
        assert refused.status_code == 401
        assert refused.json()["detail"] == "your session has ended; sign in again"


async def test_an_address_over_the_failure_limit_keeps_a_cached_token_and_looks_up_no_other(
    db: Database, factory: Factory
) -> None:
    shop = await factory.shop()
    admin = bearer(await factory.staff_token(shop, Role.ADMIN))
    app = create_app(test_settings(db, principal_cache_seconds=60, failed_auth_rate_limit=3), db=db)
    async with serve(app) as http:
        assert (await http.get("/api/v1/auth/me", headers=shop.headers)).status_code == 200
        guess = bearer("tkt_0badc0de_not-a-token-of-this-shop")
        failures = [
            (await http.get("/api/v1/auth/me", headers=guess)).status_code for _ in range(4)
        ]
        assert failures == [401, 401, 401, 429]
        with statements(db) as seen:
            refused = await http.get("/api/v1/auth/me", headers=admin)
        assert refused.status_code == 429
        assert refused.json()["code"] == "rate_limited"
        assert seen == []  # refused before any look-up
        # The token this process checked a moment ago is known good: the failure limit, which
        # gates attempts that may fail, is not asked for it.
        again = await http.get("/api/v1/auth/me", headers=shop.headers)
        assert again.status_code == 200
        assert again.json()["role"] == "owner"
