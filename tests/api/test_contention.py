"""A request whose unit of work PostgreSQL aborts for a deadlock runs again as a whole, with the
same body and a fresh transaction; one that is aborted every time answers 503 ``contention``
with ``Retry-After``. Never a 500.

The routes here are test-only, added to a real app: two requests that lock two merchant rows in
opposite order from a barrier deadlock by design."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import BaseModel
from sqlalchemy import select, text, update

from tests.conftest import DATABASES, SECRET, Databases, _empty_tables, test_settings
from tests.factories import Factory
from tribekit.api.app import create_app
from tribekit.api.deps import DbSession
from tribekit.kit.db import Database
from tribekit.models.tenancy import Merchant


class Rename(BaseModel):
    first: uuid.UUID
    second: uuid.UUID
    name: str


@pytest.fixture(params=[d for d in DATABASES if d == "postgresql"])
async def pg(request: pytest.FixtureRequest, databases: Databases) -> AsyncIterator[Database]:
    database = await databases.get(request.param)
    yield database
    await _empty_tables(database)


_FAIL_AT_COMMIT = [
    "CREATE TEMP TABLE fail_at_commit (x int)",
    "CREATE FUNCTION pg_temp.fail() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION USING ERRCODE = '40001'; END $$",
    "CREATE CONSTRAINT TRIGGER fail AFTER INSERT ON fail_at_commit DEFERRABLE INITIALLY DEFERRED "
    "FOR EACH ROW EXECUTE FUNCTION pg_temp.fail()",
    "INSERT INTO fail_at_commit VALUES (1)",
]


def _app(db: Database, runs: dict[str, int], barrier: asyncio.Barrier) -> FastAPI:
    app = create_app(test_settings(db), db=db)

    async def rename_both(data: Rename, session: DbSession) -> dict[str, int]:
        runs[data.name] += 1
        stmt = update(Merchant).values(name=data.name)
        await session.execute(stmt.where(Merchant.id == data.first))
        if runs[data.name] == 1:  # first runs wait for each other: a sure deadlock
            await barrier.wait()
        await session.execute(stmt.where(Merchant.id == data.second))
        return {"runs": runs[data.name]}

    async def always_deadlocks(session: DbSession) -> None:
        runs["always"] += 1
        await session.execute(update(Merchant).values(name="never"))
        await session.execute(text("DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '40P01'; END $$"))

    async def fails_at_commit(session: DbSession) -> dict[str, int]:
        # The first run's COMMIT fails with a serialization failure (a deferred trigger raises
        # it, as SERIALIZABLE's checks at commit do): the retry covers the commit too.
        runs["commit"] += 1
        await session.execute(update(Merchant).values(name=f"run {runs['commit']}"))
        if runs["commit"] == 1:
            for statement in _FAIL_AT_COMMIT:
                await session.execute(text(statement))
        return {"runs": runs["commit"]}

    app.add_api_route("/test/rename-both", rename_both, methods=["POST"])
    app.add_api_route("/test/always-deadlocks", always_deadlocks, methods=["POST"])
    app.add_api_route("/test/fails-at-commit", fails_at_commit, methods=["POST"])
    return app


async def _names(db: Database) -> list[str]:
    async with db.unit_of_work(read_only=True) as session:
        stmt = select(Merchant.name).order_by(Merchant.slug)
        return list((await session.scalars(stmt)).all())


async def test_two_requests_that_deadlock_both_succeed_one_after_a_retry(pg: Database) -> None:
    factory = Factory(pg, SECRET)
    a, b = (await factory.shop("aa")).tenant.id, (await factory.shop("bb")).tenant.id
    runs = {"ab": 0, "ba": 0}
    app = _app(pg, runs, asyncio.Barrier(2))
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=transport, base_url="http://tribekit.test") as http,
    ):
        ab, ba = await asyncio.gather(
            http.post("/test/rename-both", json={"first": str(a), "second": str(b), "name": "ab"}),
            http.post("/test/rename-both", json={"first": str(b), "second": str(a), "name": "ba"}),
        )
    assert (ab.status_code, ba.status_code) == (200, 200)
    # PostgreSQL aborted one of them once; it ran again, with the same body, and won last.
    assert sorted([ab.json()["runs"], ba.json()["runs"]]) == [1, 2]
    assert sorted(runs.values()) == [1, 2]
    retried = "ab" if runs["ab"] == 2 else "ba"
    assert await _names(pg) == [retried, retried]


async def test_a_request_that_always_deadlocks_is_a_503_contention(pg: Database) -> None:
    factory = Factory(pg, SECRET)
    await factory.shop("aa")
    runs = {"always": 0}
    app = _app(pg, runs, asyncio.Barrier(2))
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=transport, base_url="http://tribekit.test") as http,
    ):
        response = await http.post("/test/always-deadlocks", headers={"X-Request-ID": "dl-1"})
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "1"
    problem = response.json()
    assert problem["code"] == "contention"
    assert problem["status"] == 503
    assert problem["request_id"] == "dl-1"
    assert "40P01" in problem["detail"]
    assert runs == {"always": 3}  # TRIBEKIT_DB_RETRY_ATTEMPTS
    assert await _names(pg) == ["Aa"]  # no run committed anything


async def test_a_commit_that_fails_with_a_serialization_failure_is_retried(pg: Database) -> None:
    factory = Factory(pg, SECRET)
    await factory.shop("aa")
    runs = {"commit": 0}
    app = _app(pg, runs, asyncio.Barrier(2))
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=transport, base_url="http://tribekit.test") as http,
    ):
        response = await http.post("/test/fails-at-commit")
    assert response.status_code == 200
    assert response.json() == {"runs": 2}
    assert await _names(pg) == ["run 2"]  # the first run's write was rolled back


async def test_real_routes_still_answer_after_the_retry_layer(pg: Database) -> None:
    factory = Factory(pg, SECRET)
    shop = await factory.shop("aa")
    app = _app(pg, {}, asyncio.Barrier(2))
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=transport, base_url="http://tribekit.test") as http,
    ):
        merchant = await http.get("/api/v1/merchant", headers=shop.headers)
        created = await http.post(
            "/api/v1/members", json={"display_name": "Ann"}, headers=shop.headers
        )
    assert merchant.status_code == 200
    assert merchant.json()["slug"] == "aa"
    assert created.status_code == 201
    assert created.json()["display_name"] == "Ann"
