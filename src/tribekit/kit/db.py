"""Database access: engine, sessions, the unit of work, and column types shared by all models.

SQLite (embedded mode) runs every writing transaction as ``BEGIN IMMEDIATE``: writers are
serialised by the database itself, so a read-then-write inside one transaction can never race
another process. PostgreSQL (production) relies on conditional updates, row locks and unique
constraints instead.

A *read* unit of work (``unit_of_work(read_only=True)``, used by GET routes) opens no transaction
at all: each statement commits on its own (PostgreSQL ``AUTOCOMMIT``; SQLite without ``BEGIN``,
outside the writers' queue). It may still run a single self-contained write, such as recording a
token's last use, which commits by itself.

A unit of work that PostgreSQL aborts with a deadlock (40P01) or a serialization failure (40001)
is retried as a whole by ``Database.run`` (and by the API's routes, ``api/routing.py``) a bounded
number of times, then answers ``Contention`` (503 with ``Retry-After``). "No connection could be
had" (pool timeout, too many clients, database gone) is ``ServiceUnavailable`` (503).

Nothing that leaves the process is called inside a transaction. The rare service that must call
out in the middle of its unit of work (starting a payment at the provider) does it in
``outside_transaction(session)``: what the unit of work wrote so far is committed first, and the
next statement begins a new transaction that the boundary commits as usual.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import DateTime, ForeignKey, MetaData, String, Uuid, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

from . import outbox
from .errors import Conflict, Contention, ServiceUnavailable
from .ids import new_id

log = logging.getLogger(__name__)
T = TypeVar("T")

#: PostgreSQL aborts one of two transactions that wait for each other (deadlock_detected), or
#: one that cannot be serialised (serialization_failure). Running the whole unit of work again
#: is then correct: nothing of it was committed.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
#: SQLSTATEs meaning "no connection could be had": too many connections (53300), insufficient
#: resources (53xxx), the server starting up or shutting down (57P01..57P03), connection
#: exceptions (08xxx).
_UNAVAILABLE_SQLSTATE_PREFIXES = ("53", "57P0", "08")

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


E = TypeVar("E", bound=StrEnum)


class StrEnumText(TypeDecorator[E]):
    """A closed vocabulary (a ``StrEnum``) stored as plain text of ``length``: rows read back as
    the enum, a value outside it is refused before it is written, and adding a value needs no
    migration (the column stays a ``VARCHAR``)."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        return None if value is None else str(self.enum(value).value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        return None if value is None else self.enum(value)


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
        # A read unit of work (AUTOCOMMIT) says no BEGIN: each statement is its own transaction,
        # and a read takes no write lock. Every other transaction takes the write lock at once.
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def sqlstate(exc: BaseException) -> str | None:
    """The PostgreSQL SQLSTATE behind a SQLAlchemy error (asyncpg's, through the adapter)."""
    orig = getattr(exc, "orig", None)
    for candidate in (orig, getattr(orig, "__cause__", None)):
        code = getattr(candidate, "sqlstate", None)
        if isinstance(code, str):
            return code
    return None


def is_retryable(exc: BaseException) -> bool:
    """A deadlock or serialization failure: the unit of work may simply run again."""
    return isinstance(exc, sa_exc.DBAPIError) and sqlstate(exc) in RETRYABLE_SQLSTATES


def unavailable(exc: BaseException) -> ServiceUnavailable | None:
    """The 503 for an error that means "no database connection could be had", else None.

    The pool's own timeout, PostgreSQL refusing connections ("too many clients", starting up),
    a connection that broke (the client may retry: writes carry idempotency keys), and SQLite's
    file lock still held after ``busy_timeout``."""
    if isinstance(exc, sa_exc.TimeoutError):
        return ServiceUnavailable("all database connections are busy; retry in a moment")
    if isinstance(exc, sa_exc.DBAPIError):
        code = sqlstate(exc)
        if code is not None and code.startswith(_UNAVAILABLE_SQLSTATE_PREFIXES):
            return ServiceUnavailable("the database refuses new connections; retry in a moment")
        if exc.connection_invalidated:
            return ServiceUnavailable("the database connection was lost; retry in a moment")
        if isinstance(exc, sa_exc.OperationalError) and "database is locked" in str(exc.orig):
            return ServiceUnavailable("the database is busy; retry in a moment")
    if isinstance(exc, (ConnectionError, TimeoutError)):
        # asyncpg raises these unwrapped while connecting (refused, reset, connect timeout).
        return ServiceUnavailable("the database cannot be reached; retry in a moment")
    return None


def retry_delay(attempt: int) -> float:
    """Jittered backoff before retry ``attempt`` (1, 2, ...): about 10, 20, 40 ms."""
    return 0.01 * (1 << (attempt - 1)) * (0.5 + random.random())  # noqa: S311  # jitter, not secrets


def contention(exc: BaseException, attempts: int) -> Contention:
    return Contention(
        f"the database aborted this work {attempts} times for concurrent changes to the same "
        f"data ({sqlstate(exc)}); retry in a moment",
    )


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


class ReadWithoutTransaction(RuntimeError):
    """A read unit of work (a GET route) tried to write rows through the ORM: without a
    transaction those writes would commit one by one. A programming error, never the caller's."""


class ReadSession(Session):
    """The session of a read unit of work: it refuses to flush ORM changes (see
    ``ReadWithoutTransaction``). A single Core statement, such as recording a token's last use,
    still runs and commits by itself."""


@event.listens_for(ReadSession, "before_flush")
def _refuse_writes(session: Session, _context: Any, _instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        raise ReadWithoutTransaction(
            "a read unit of work (GET or HEAD) changed rows through the ORM; make the route a "
            "POST/PUT/PATCH/DELETE or open a writing unit of work"
        )


_TURN = "tribekit.db.turn"
_MIDWAY = "tribekit.db.midway_commits"


class _Turn:
    """SQLite's writer turn held by one unit of work, which ``outside_transaction`` gives back
    and takes again. ``held`` says whether it is held now, so that a unit of work cancelled
    while waiting to take it back never releases a turn another one holds."""

    def __init__(self, lock: asyncio.Lock) -> None:
        self.lock = lock
        self.held = False

    async def take(self) -> None:
        await self.lock.acquire()
        self.held = True

    def give_back(self) -> None:
        if self.held:
            self.held = False
            self.lock.release()


@asynccontextmanager
async def outside_transaction(session: AsyncSession) -> AsyncIterator[None]:
    """Run the block with no transaction of this unit of work open, for a call that leaves the
    process (a payment provider) in the middle of the work.

    What the unit of work wrote so far is committed (its outbox flushed), the connection goes
    back to the pool and, on SQLite, the writer's turn goes to the next unit of work. After the
    block the turn is taken again; the next statement begins a new transaction, which the
    boundary commits (or rolls back) as usual. An error in the block leaves the first part
    committed: the work must be safe to run again from the start (it finds what it committed).
    Locks of the first part are gone too: re-check after the block, with conditional updates.
    ``midway_commits`` tells callers (``idempotency.service.run_once``) that it happened."""
    if isinstance(session.sync_session, ReadSession):
        raise RuntimeError("a read unit of work has no transaction to commit part-way")
    if session.in_nested_transaction():
        raise RuntimeError(
            "outside_transaction inside a savepoint would commit work its caller may roll back"
        )
    await session.commit()
    session.info[_MIDWAY] = session.info.get(_MIDWAY, 0) + 1
    turn: _Turn | None = session.info.get(_TURN)
    if turn is not None:
        turn.give_back()
    try:
        await outbox.flush(session)
        yield
    finally:
        if turn is not None:
            await turn.take()


def midway_commits(session: AsyncSession) -> int:
    """How many times this unit of work committed part-way (``outside_transaction``)."""
    count: int = session.info.get(_MIDWAY, 0)
    return count


class Database:
    """One engine and its session factory. Create one per process.

    PostgreSQL: a fixed pool of ``pool_size`` connections (plus ``max_overflow``, default none:
    overflow connections are opened and closed again under load, which costs a new PostgreSQL
    backend each time). A unit of work waits at most ``pool_timeout`` seconds for a connection,
    then fails with a pool ``TimeoutError`` that the API answers with a 503. No pre-ping by
    default: a ping costs a round trip (three outside autocommit) on every checkout; a
    connection found broken answers a 503 once and the pool replaces it."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 20,
        max_overflow: int = 0,
        pool_timeout: float = 10,
        pre_ping: bool = False,
        retry_attempts: int = 3,
    ) -> None:
        self.url = url
        self.retry_attempts = retry_attempts
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
                pool_pre_ping=pre_ping,
                pool_recycle=3600,
            )
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        # The same pool, each connection checked out in autocommit: no BEGIN, no COMMIT.
        self.read_sessionmaker = async_sessionmaker(
            self.engine.execution_options(isolation_level="AUTOCOMMIT"),
            expire_on_commit=False,
            sync_session_class=ReadSession,
        )
        # SQLite takes one writer at a time. Units of work of this process queue for it here, in
        # arrival order, instead of polling the file lock until busy_timeout runs out.
        self._sqlite_turn = asyncio.Lock() if url.startswith("sqlite") else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def unit_of_work(self, *, read_only: bool = False) -> AsyncIterator[AsyncSession]:
        """A session whose work is committed once at the end, or rolled back on any error.

        After a successful commit the session's outbox is flushed; on rollback it is dropped.
        A service may commit part-way to call out (``outside_transaction``); on SQLite the
        unit of work then gives its writer's turn back for the call.

        ``read_only``: no transaction (see the module's docstring). Each statement commits on
        its own, so use it only for work that reads, or writes one self-contained statement.
        It does not queue for SQLite's writer and takes no write lock to read.
        """
        turn = None if read_only or self._sqlite_turn is None else _Turn(self._sqlite_turn)
        if turn is not None:
            await turn.take()
        try:
            session = (self.read_sessionmaker if read_only else self.sessionmaker)()
            if turn is not None:
                session.info[_TURN] = turn  # for outside_transaction
            try:
                yield session
                await session.commit()
            except BaseException:
                outbox.discard(session)
                await session.rollback()
                raise
            finally:
                await session.close()
        finally:
            if turn is not None:
                turn.give_back()
        await outbox.flush(session)

    async def run(
        self,
        work: Callable[[AsyncSession], Awaitable[T]],
        *,
        read_only: bool = False,
        attempts: int | None = None,
    ) -> T:
        """``work(session)`` in a unit of work; run again, in a fresh unit of work, when
        PostgreSQL aborts it for a deadlock or a serialization failure (at most ``attempts``
        runs, default ``retry_attempts``), then ``Contention`` (a 503). For worker sweeps, CLI
        commands and anything else outside a request; ``work`` must not have effects outside
        the database (those go into the outbox, which a failed attempt drops); one that commits
        part-way (``outside_transaction``) must find what an earlier attempt committed."""
        limit = attempts or self.retry_attempts
        attempt = 1
        while True:
            try:
                async with self.unit_of_work(read_only=read_only) as session:
                    return await work(session)
            except sa_exc.DBAPIError as exc:
                if not is_retryable(exc):
                    raise
                if attempt >= limit:
                    raise contention(exc, attempt) from exc
                log.info(
                    "unit of work retried", extra={"sqlstate": sqlstate(exc), "attempt": attempt}
                )
                await asyncio.sleep(retry_delay(attempt))
                attempt += 1

    async def dispose(self) -> None:
        await self.engine.dispose()
