"""Database access: engine, sessions, the unit of work, and column types shared by all models.

SQLite (embedded mode) runs every transaction as ``BEGIN IMMEDIATE``: writers are serialised by
the database itself, so a read-then-write inside one transaction can never race another process.
PostgreSQL (production) relies on conditional updates, row locks and unique constraints instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, MetaData, Uuid, event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

from . import outbox
from .errors import Conflict
from .ids import new_id

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite stores no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use tribekit.kit.clock.now()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, uuid.UUID: Uuid}


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)


class TenantMixin:
    """A row that belongs to exactly one merchant. Repositories filter on it by construction."""

    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so that we can say BEGIN IMMEDIATE ourselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


async def add_unique(
    session: AsyncSession,
    conflict_message: str,
    *rows: object,
    error: type[Conflict] = Conflict,
) -> None:
    """Insert ``rows`` now, inside a savepoint; a unique-constraint violation becomes a 409
    (``error``, a kind of Conflict) with ``conflict_message`` and leaves the surrounding
    transaction usable. The database decides, so two concurrent requests cannot both pass a
    check and both insert."""
    try:
        async with session.begin_nested():
            session.add_all(rows)
            await session.flush()
    except IntegrityError as exc:
        raise error(conflict_message) from exc


class TenantRow(IdMixin, TenantMixin, Base):
    """Base of every table whose rows belong to one merchant and have a UUID id."""

    __abstract__ = True


class Database:
    """One engine and its session factory. Create one per process."""

    def __init__(
        self, url: str, *, pool_size: int = 10, max_overflow: int = 20, pool_timeout: float = 30
    ) -> None:
        self.url = url
        if url.startswith("sqlite"):
            # One connection per checkout: SQLite connections are cheap, and NullPool lets
            # file locks go away as soon as a unit of work ends.
            self.engine = create_async_engine(url, poolclass=NullPool)
            _configure_sqlite(self.engine)
        else:
            self.engine = create_async_engine(
                url,
                pool_size=pool_size,
                max_overflow=max_overflow,
                pool_timeout=pool_timeout,
                pool_pre_ping=True,
            )
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite takes one writer at a time. Units of work of this process queue for it here, in
        # arrival order, instead of polling the file lock until busy_timeout runs out.
        self._sqlite_turn = asyncio.Lock() if url.startswith("sqlite") else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """A session whose work is committed once at the end, or rolled back on any error.

        After a successful commit the session's outbox is flushed; on rollback it is dropped.
        """
        async with contextlib.AsyncExitStack() as stack:
            if self._sqlite_turn is not None:
                await stack.enter_async_context(self._sqlite_turn)
            session = await stack.enter_async_context(self.sessionmaker())
            try:
                yield session
                await session.commit()
            except BaseException:
                outbox.discard(session)
                await session.rollback()
                raise
        await outbox.flush(session)

    async def dispose(self) -> None:
        await self.engine.dispose()
