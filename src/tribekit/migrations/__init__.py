"""Schema migrations (Alembic), shipped inside the package and run with ``tribekit db upgrade``."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from tribekit.kit.db import Database

# Any fixed number: PostgreSQL advisory lock that makes concurrent upgrades (N API processes
# starting at once) run one after the other instead of racing.
_UPGRADE_LOCK = 0x7B1BE417


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", "tribekit:migrations")
    return config


def _with_connection(connection: Connection, /, action: str, **kwargs: Any) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    getattr(command, action)(config, **kwargs)


async def upgrade(db: Database, revision: str = "head") -> None:
    async with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK})
        await conn.run_sync(_with_connection, "upgrade", revision=revision)


async def downgrade(db: Database, revision: str) -> None:
    async with db.engine.begin() as conn:
        await conn.run_sync(_with_connection, "downgrade", revision=revision)


async def make_revision(db: Database, message: str) -> None:
    """Autogenerate a new migration from the difference between the models and the database."""
    async with db.engine.begin() as conn:
        await conn.run_sync(_with_connection, "revision", message=message, autogenerate=True)


def _current(connection: Connection, /) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(db: Database) -> str | None:
    async with db.engine.connect() as conn:
        return await conn.run_sync(_current)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
