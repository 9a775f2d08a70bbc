"""Fixtures: every database test runs on SQLite and on PostgreSQL.

Each pytest-xdist worker gets its own databases, built from scratch by the migrations at session
start (so the migrations are tested). Tests commit for real; the tables are emptied afterwards.
In CI (``CI=true``) a missing PostgreSQL or Redis is a failure, never a skip.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type hints
import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from redis.asyncio import Redis
from sqlalchemy import text

from tribekit import migrations
from tribekit.api.app import create_app
from tribekit.kit.db import Base, Database
from tribekit.kit.settings import Settings

from .factories import Factory

PG_HOST = os.environ.get("TRIBEKIT_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("TRIBEKIT_TEST_REDIS", "redis://127.0.0.1:6379")
DATABASES = [
    d for d in os.environ.get("TRIBEKIT_TEST_DATABASES", "sqlite,postgresql").split(",") if d
]
SECRET = "test-secret-key-that-is-long-enough"


def _worker() -> str:
    """This test process's name: the xdist worker, prefixed by ``TRIBEKIT_TEST_RUN`` when set, so
    that several suites can run side by side on one machine without sharing databases."""
    run = os.environ.get("TRIBEKIT_TEST_RUN", "")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"{run}_{worker}" if run else worker


def _unavailable(what: str, exc: Exception) -> None:
    message = (
        f"{what} is not reachable ({exc}). Start it (see docs/contributing.md) or, outside CI, "
        "run with TRIBEKIT_TEST_DATABASES=sqlite."
    )
    pytest.fail(message, pytrace=False)


async def _fresh_postgres(name: str) -> str:
    try:
        conn = await asyncpg.connect(f"{PG_HOST}/postgres")
    except (OSError, asyncpg.PostgresError) as exc:
        _unavailable("PostgreSQL", exc)
        raise
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"{PG_HOST.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"


class Databases:
    """One migrated database per backend, created on first use."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.open: dict[str, Database] = {}

    async def get(self, backend: str) -> Database:
        if backend not in self.open:
            if backend == "sqlite":
                url = f"sqlite+aiosqlite:///{self.tmp / 'tribekit.db'}"
            else:
                url = await _fresh_postgres(f"tribekit_test_{_worker()}")
            # Two xdist workers at 40 connections each stay under PostgreSQL's default 100.
            # Races of thousands of requests queue for a connection longer than production's 30 s.
            db = Database(url, pool_size=20, max_overflow=20, pool_timeout=300)
            await migrations.upgrade(db)
            self.open[backend] = db
        return self.open[backend]

    async def close(self) -> None:
        for db in self.open.values():
            await db.dispose()


@pytest.fixture(scope="session")
async def databases(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Databases]:
    dbs = Databases(tmp_path_factory.mktemp("db"))
    yield dbs
    await dbs.close()


async def _empty_tables(db: Database) -> None:
    tables = list(reversed(Base.metadata.sorted_tables))
    async with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            await conn.execute(text(f"TRUNCATE {names}"))
        else:
            for table in tables:
                await conn.execute(table.delete())


@pytest.fixture(params=DATABASES)
async def db(request: pytest.FixtureRequest, databases: Databases) -> AsyncIterator[Database]:
    database = await databases.get(request.param)
    yield database
    await _empty_tables(database)


@pytest.fixture(scope="session")
async def redis_server() -> AsyncIterator[Redis]:
    # Each xdist worker has its own Redis database; TRIBEKIT_TEST_REDIS_DB moves the first one.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    first = int(os.environ.get("TRIBEKIT_TEST_REDIS_DB", "1"))
    index = first + (int(worker.removeprefix("gw")) if worker.startswith("gw") else 0)
    client = Redis.from_url(f"{REDIS_URL}/{index}")
    try:
        await client.ping()
    except Exception as exc:
        _unavailable("Redis", exc)
    yield client
    await client.aclose()


@pytest.fixture
async def redis(redis_server: Redis) -> AsyncIterator[Redis]:
    await redis_server.flushdb()
    yield redis_server
    await redis_server.flushdb()


def test_settings(db: Database, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": db.url,
        "secret_key": SECRET,
        "token_rate_limit": 100_000,
        "login_rate_limit": 1000,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]  # values typed loosely to allow overrides


test_settings.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


@pytest.fixture
async def app(db: Database) -> AsyncIterator[FastAPI]:
    application = create_app(test_settings(db), db=db)
    async with application.router.lifespan_context(application):
        yield application


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[AsyncClient]:
    """Start ``app`` (its lifespan) and give a client that talks to it in-process."""
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=transport, base_url="http://tribekit.test") as http,
    ):
        yield http


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://tribekit.test") as http:
        yield http


@pytest.fixture
def factory(db: Database) -> Factory:
    return Factory(db, SECRET)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up the developer's own TRIBEKIT_* settings."""
    for key in list(os.environ):
        if key.startswith("TRIBEKIT_") and not key.startswith("TRIBEKIT_TEST_"):
            monkeypatch.delenv(key)
