"""The migrations build exactly the schema the models describe, and go down and up again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect

from tribekit import migrations
from tribekit.kit.db import Base, Database

from .conftest import DATABASES, _fresh_postgres, _worker


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


@pytest.mark.parametrize("backend", DATABASES)
async def test_migrations_match_models_and_round_trip(backend: str, tmp_path: Path) -> None:
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
    else:
        url = await _fresh_postgres(f"tribekit_migrations_{_worker()}")
    db = Database(url)
    try:
        await migrations.upgrade(db)
        assert await migrations.current_revision(db) == migrations.head_revision()
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
        await migrations.downgrade(db, "base")
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_tables) == {"alembic_version"}
        await migrations.upgrade(db)
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_tables) == {*Base.metadata.tables, "alembic_version"}
    finally:
        await db.dispose()
