"""The interface every flash-sale engine implements, the values that cross it, and the explicit
registry that picks the engine from the settings (``flash_engine``).

An engine counts a live sale's units: it decides, atomically, whether one attempt wins (units
left, the member's own limit) and records the win. Everything else — the sale's rows, its
start and end, a reservation's expiry and payment — is the service's and the sweeps' (in the
database, the truth for orders), the same for every engine.

**What both engines guarantee**

* ``reserve`` is the whole hot path of one purchase attempt. It never raises for a losing
  attempt: it answers a :class:`Refusal`. It does no ORM work. Sale status, window and
  eligibility are checked by the caller (``live.py``) before ``reserve``; the engine checks
  them again only where its own state says so (a sale it has closed answers ``ENDED``).
* No unit is sold twice, none is lost: ``sold + left == allotted`` at every commit, where
  ``sold`` counts the units of reservations ``reserved`` or ``paid`` in the database (plus, on
  the Redis engine, the stream entries not drained yet) and ``left`` the engine's counter.
* A reservation's units come back exactly once, decided by the database's conditional update
  of ``flash_reservations.status`` (``reserved -> expired | cancelled``); whoever wins it calls
  ``give_back`` in that same transaction.

**The SQL engine** (``sql_engine.py``) counts in ``flash_sales.remaining`` and
``flash_takes.taken``: ``reserve`` runs one conditional statement (PostgreSQL) or one short
transaction (SQLite) that takes the units, counts the member's take, and writes the
``flash_reservations`` row and its order (``Reserved.order_id`` is set).

**The Redis engine** (``redis_engine.py``) must do, for ``reserve``: one Lua script that checks
the sale is open in Redis, ``left >= quantity`` and ``member_taken + quantity <= limit``, and
then, atomically, decrements ``left``, increments the member's count and appends the
reservation (``reservation_id``, sale, member, quantity, unit price, community, reserved and
expiry times) to the reservation stream; no database work at all in the request
(``Reserved.order_id`` is None). The stream's drain (``stream.py``) writes, in batches, each
entry as a ``flash_reservations`` row (id = ``reservation_id``, ``stream_id`` = the entry id)
and its order, built by :func:`tribekit.campaigns.flash.orders.rows_for` (the very rows the
SQL engine writes: pure dicts, for INSERT or COPY), idempotently: the order's id IS the
reservation's id, so a replayed entry conflicts on both primary keys and writes nothing. An
entry drained after its expiry is written and then expires like any other (its unit comes
back through ``give_back``). The member's pay link names the reservation; paying waits briefly
for the drained order (``service.order_of_reservation``), so the drain must keep up within a
second or two. The reconciliation sweep makes Redis agree with the database after a crash:
``left = allotted - sold`` with ``sold`` as above, member counts likewise.

The sale's lifecycle, as the sweeps call the engine:

1. start (``tasks.py``): one transaction takes ``allotted`` units from product stock, sets
   ``remaining = allotted`` and the status live; after commit, ``open(sale, allotted)`` (Redis:
   set ``left`` and the sale's fields the script checks; idempotent: an open sale is left as it
   is). An engine that may have missed ``open`` (a crash after the commit) is opened again by
   the reconciliation sweep.
2. reservations expire or are cancelled (their order expired or was cancelled: the order's
   expiry is the reservation's, ``orders`` closes it and calls ``settle.py``): ``give_back``
   inside the transaction that moved the reservations, while the sale is live or sold out
   (after the end, the units go back into product stock instead, without the engine).
3. end (``tasks.py``): ``close(sale)`` first, outside any transaction: from its return on, the
   engine refuses every attempt of the sale with ``ENDED`` and every reservation it made is a
   row in the database (Redis: the sale closed in Redis, its stream entries drained). Then one
   transaction moves the status to ended and returns ``allotted - sold`` to product stock
   (recorded in ``returned``), computed from the database alone.

Redis side effects of a transaction go after its commit (``kit.outbox.on_commit``); nothing
that leaves the process runs inside a transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit.db import Database
from tribekit.kit.errors import ServiceUnavailable
from tribekit.kit.settings import Settings


class Refusal(StrEnum):
    """Why an attempt lost; each is answered as a 409 with this code (``service.py``)."""

    NOT_STARTED = "not_started"
    ENDED = "ended"
    NOT_ELIGIBLE = "not_eligible"
    SOLD_OUT = "sold_out"
    LIMIT_REACHED = "limit_reached"


class SaleStatus(StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    SOLD_OUT = "sold_out"
    ENDED = "ended"
    CANCELLED = "cancelled"


#: Statuses in which a sale's units are the engine's (reservations give back to it).
SELLING = (SaleStatus.LIVE, SaleStatus.SOLD_OUT)


@dataclass(frozen=True)
class LiveSale:
    """What an attempt needs to know of a sale, read from ``flash_sales`` (``live.py`` keeps
    them per process). ``community_ids``/``level_ids`` empty: every community / level."""

    id: uuid.UUID
    merchant_id: uuid.UUID
    product_id: uuid.UUID
    name: str
    product_name: str  # the order line's name
    regular_price: int  # the product's own price (the order shows what the sale saved)
    unit_cost: int | None  # the product's cost price (margin)
    price: int  # per unit, minor units
    currency: str
    timezone: str  # the merchant's (order numbers carry the shop's date)
    per_member_limit: int
    reservation_ttl_seconds: int
    starts_at: datetime
    ends_at: datetime
    status: SaleStatus
    allotted: int
    community_ids: frozenset[uuid.UUID]
    level_ids: frozenset[uuid.UUID]
    engine: str  # sql | redis: the engine the sale started on, kept for its whole life
    quantity: int = 0  # the units asked for (allotted is what the stock gave at the start)


@dataclass(frozen=True)
class Attempt:
    """One purchase attempt, already authenticated and checked against the sale's window and
    targets. ``reservation_id`` (a uuid7 made by the caller, ``kit.ids.new_id``) is the id of
    the reservation row if the attempt wins; ``at`` is when it was made (reservation time)."""

    sale: LiveSale
    member_id: uuid.UUID
    quantity: int
    reservation_id: uuid.UUID
    community_id: uuid.UUID | None
    at: datetime
    channel: str = "web"  # the order's attribution channel (web, telegram, matrix, api)

    @property
    def expires_at(self) -> datetime:
        return self.at + timedelta(seconds=self.sale.reservation_ttl_seconds)


@dataclass(frozen=True)
class Reserved:
    """A won attempt. ``left``: units left right after it (approximate under load).
    ``order_id``: the order written with it (its id is ``reservation_id``), or None when the
    engine writes it later (Redis: the stream's drain)."""

    reservation_id: uuid.UUID
    quantity: int
    expires_at: datetime
    left: int
    order_id: uuid.UUID | None


class FlashEngine(Protocol):
    #: ``sql`` or ``redis``: stored on the sale as it starts (``flash_sales.engine``).
    name: str

    async def open(self, sale: LiveSale, allotted: int) -> None:
        """Start counting ``allotted`` units of a sale just made live (called after the
        start's commit, outside any transaction; idempotent)."""
        ...

    async def reserve(self, attempt: Attempt) -> Reserved | Refusal:
        """Take ``attempt.quantity`` units for the member if that many are left and the
        member's total stays within the sale's limit, all or nothing, atomically; otherwise
        ``SOLD_OUT`` (too few left) or ``LIMIT_REACHED``. Never raises for a losing attempt."""
        ...

    async def give_back(
        self,
        session: AsyncSession,
        sale: LiveSale,
        units: Mapping[uuid.UUID, int],
        *,
        reservation_ids: Sequence[uuid.UUID],
    ) -> None:
        """Units of reservations that expired or were cancelled while the sale is selling
        (``units``: member id -> units; ``reservation_ids``: those reservations), given back
        once: called in the transaction whose conditional status updates of those reservations
        won, with the sale's row locked (rank CAMPAIGN). SQL: statements in ``session``
        (``remaining`` up, the members' ``flash_takes`` down, a sold-out sale live again).
        Redis: ``kit.outbox.on_commit`` callbacks that add the units back to ``left`` and take
        them off the members' counts, each reservation at most once (Redis remembers the ids
        given back), so that a callback and the reconciliation sweep, which repairs callbacks
        lost to a crash, never both give the same units back."""
        ...

    async def left(self, sale_id: uuid.UUID) -> int | None:
        """Units left (approximate), or None if the engine does not count this sale."""
        ...

    async def close(self, sale: LiveSale) -> int | None:
        """Stop selling (outside any transaction, before the end's transaction): afterwards
        every attempt of the sale is refused ``ENDED`` and every reservation the engine made is
        in the database. Returns the units the engine still held (for the log; the end itself
        counts from the database), None if it held none."""
        ...


def engine_name(settings: Settings, redis: Redis | None) -> str:
    """The engine new sales start on: ``flash_engine``, where ``auto`` is Redis when a Redis
    client is configured and SQL otherwise."""
    if settings.flash_engine == "auto":
        return "redis" if redis is not None else "sql"
    return settings.flash_engine


def build_engines(db: Database, redis: Redis | None) -> dict[str, FlashEngine]:
    """Every engine this process can run, by name. The SQL engine is always there (sales that
    started on it end on it); the Redis engine when a Redis client is configured."""
    from .sql_engine import SqlEngine

    engines: dict[str, FlashEngine] = {"sql": SqlEngine(db)}
    if redis is not None:
        from .redis_engine import RedisEngine

        engines["redis"] = RedisEngine(db, redis)
    return engines


class EngineUnavailable(ServiceUnavailable):
    """A sale started on an engine this process was not given (Redis not configured here):
    the operator's to fix, answered as a 503 that says how."""

    code = "flash_engine_unavailable"
    title = "This flash sale's engine is not configured on this server"


def engine_for(engines: dict[str, FlashEngine], name: str) -> FlashEngine:
    found = engines.get(name)
    if found is None:
        raise EngineUnavailable(
            f"flash sale engine {name!r} is not configured here; set TRIBEKIT_REDIS_URL"
        )
    return found
