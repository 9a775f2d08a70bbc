"""The order event stream: typed, versioned payloads; subscribers run in the emitting
transaction; a commit-ordered stream that any number of workers consume exactly once.

**Emitting.** ``emit(session, tenant, order_id, payload, actor=...)`` appends one
``order_events`` row and runs the in-transaction subscribers of the payload's kind (listed
explicitly in ``tribekit/subscribers.py``). Work that must happen atomically with the order
(membership's points on payment and refund) is a subscriber: it commits or rolls back with the
order, and orders never names membership.

**Positions.** An event's uuid7 ``id`` is taken before its transaction commits, so a reader
using ``id > last`` skips an event whose transaction commits after a later one. Events are
therefore written with ``position`` NULL, and ``sequence`` (a worker sweep) gives committed
events their positions: one sequencer at a time (a transaction-level advisory lock on
PostgreSQL, the single writer on SQLite), each run numbering what it sees after the last
position, in id order. A run's positions become visible together when it commits, and the next
run starts only after that, so the positions a reader sees always form a gap-free prefix: a
reader using ``position > last`` never misses an event. The emitting transaction pays nothing
for this (no lock, no extra statement).

**Consuming.** ``consume(session, consumer, handler, batch)`` claims the consumer's row in
``event_consumers`` (``FOR UPDATE SKIP LOCKED``: another worker holding it means this one does
nothing now), hands the next events after its position to ``handler`` in position order, and
moves the position, all in the caller's unit of work: the handler's writes and the new position
commit together, so an event is handled exactly once, and a failure rolls both back to be
retried.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock
from tribekit.kit.worker import Sweep
from tribekit.models.orders import EventConsumer, OrderEvent
from tribekit.tenancy.principal import Tenant

# ---- payloads --------------------------------------------------------------------------------


class EventPayload(BaseModel):
    """The typed body of one kind of order event. A change to a kind's fields raises its
    ``version``; ``upcast`` turns a stored older version into the current one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ClassVar[str]
    version: ClassVar[int] = 1

    member_id: uuid.UUID

    @property
    def amount(self) -> int:
        """Money moved by the event (paid or refunded), minor units; 0 for the others."""
        return 0

    @classmethod
    def upcast(cls, version: int, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` stored at an older ``version``, as the current version's fields."""
        raise UnknownEventVersion(f"order event {cls.kind!r} has no version {version}")


class UnknownEventVersion(ValueError):
    pass


class OrderPlaced(EventPayload):
    kind = "placed"
    total: int

    @property
    def amount(self) -> int:
        return self.total


class OrderPaid(EventPayload):
    kind = "paid"
    payment_id: uuid.UUID
    total: int
    goods: int  # the total without shipping: what counts toward levels and earns points
    paid_at: datetime

    @property
    def amount(self) -> int:
        return self.total


class OrderFulfilled(EventPayload):
    kind = "fulfilled"


class OrderCompleted(EventPayload):
    kind = "completed"


class OrderCancelled(EventPayload):
    kind = "cancelled"
    reason: str


class OrderExpired(EventPayload):
    kind = "expired"
    reason: str


class OrderRefunded(EventPayload):
    """Money given back. Besides the refund itself, what a points subscriber needs to make the
    points follow the money (cumulative figures include this refund)."""

    kind = "refunded"
    refund_id: uuid.UUID
    order_number: str
    refunded: int  # this refund's amount, shipping included when it is the last one
    goods: int  # ``refunded`` without shipping: the spend no longer counted toward levels
    full: bool  # nothing is left to refund on the order
    lines: dict[str, int]  # order line id -> units refunded now
    goods_paid: int  # what the order's lines cost after discounts
    goods_refunded: int  # of which refunded so far
    points_hold_entry_id: uuid.UUID | None  # the points redeemed at checkout, if any
    points_redeemed: int
    points_discount: int  # what the redeemed points paid
    points_discount_refunded: int  # of which refunded so far
    points_returned_before: int  # redeemed points given back by earlier refunds
    points_reversed_before: int  # earned points taken back by earlier refunds

    @property
    def amount(self) -> int:
        return self.refunded


class PaidWhenClosed(EventPayload):
    """A payment arrived for an order that was already cancelled or expired: it needs refunding."""

    kind = "paid_when_closed"
    payment_id: uuid.UUID
    paid: int

    @property
    def amount(self) -> int:
        return self.paid


#: Every kind of order event, by the name stored in ``order_events.kind``.
KINDS: Mapping[str, type[EventPayload]] = {
    cls.kind: cls
    for cls in (
        OrderPlaced,
        OrderPaid,
        OrderFulfilled,
        OrderCompleted,
        OrderCancelled,
        OrderExpired,
        OrderRefunded,
        PaidWhenClosed,
    )
}


def decode(kind: str, version: int, data: dict[str, Any]) -> EventPayload:
    """The typed payload of a stored event."""
    cls = KINDS.get(kind)
    if cls is None:
        raise UnknownEventVersion(f"unknown order event kind {kind!r}")
    if version != cls.version:
        data = cls.upcast(version, data)
    return cls.model_validate(data)


# ---- in-transaction subscribers ---------------------------------------------------------------

P = TypeVar("P", bound=EventPayload)


@dataclass(frozen=True)
class Emitted(Generic[P]):
    """What a subscriber receives: the event just appended, in the emitting transaction."""

    event_id: uuid.UUID
    order_id: uuid.UUID
    payload: P
    actor: str


#: A subscriber may answer with a typed reply the emitter reads (``Emission.reply``).
Subscriber = Callable[[AsyncSession, Tenant, Emitted[P]], Awaitable[object]]
R = TypeVar("R")


@dataclass(frozen=True)
class RefundPoints:
    """A subscriber's reply to ``OrderRefunded``: the points its refund moved, shown on it."""

    returned: int  # redeemed points given back
    reversed: int  # earned points taken back (shortfalls included)


@dataclass(frozen=True)
class Emission:
    event: OrderEvent
    replies: tuple[object, ...] = ()

    def reply(self, kind: type[R]) -> R | None:
        """The subscribers' reply of type ``kind``, if one gave it."""
        return next((r for r in self.replies if isinstance(r, kind)), None)


class Subscribers:
    """Handlers by payload kind, run in order in the emitting transaction."""

    def __init__(self) -> None:
        self._by_kind: dict[type[EventPayload], list[Subscriber[Any]]] = {}

    def on(self, kind: type[P], handler: Subscriber[P]) -> Subscribers:
        self._by_kind.setdefault(kind, []).append(handler)
        return self

    def of(self, kind: type[EventPayload]) -> Sequence[Subscriber[Any]]:
        return self._by_kind.get(kind, ())


@functools.cache
def subscribers() -> Subscribers:
    """The process's subscribers, read once from the composition root (``tribekit/subscribers.py``,
    which imports the subscribing domains; orders itself imports none of them)."""
    from tribekit.subscribers import order_subscribers  # the composition root

    return order_subscribers()


async def emit(
    session: AsyncSession, tenant: Tenant, order_id: uuid.UUID, payload: EventPayload, *, actor: str
) -> Emission:
    """Append an event to the order's history and the stream, and run its subscribers now."""
    event = OrderEvent(
        merchant_id=tenant.id,
        order_id=order_id,
        kind=payload.kind,
        version=payload.version,
        amount=payload.amount,
        data=payload.model_dump(mode="json"),
        actor=actor,
        at=clock.now(),
    )
    session.add(event)
    handlers = subscribers().of(type(payload))
    if not handlers:
        return Emission(event)
    await session.flush()  # the event's id exists for the subscribers
    emitted = Emitted(event.id, order_id, payload, actor)
    replies = [await handler(session, tenant, emitted) for handler in handlers]
    return Emission(event, tuple(r for r in replies if r is not None))


# ---- the stream ------------------------------------------------------------------------------

#: The PostgreSQL advisory lock of the one sequencer (any fixed 64-bit number, ours alone).
SEQUENCER_LOCK = 0x7472_6962_6576_0001

# Number the committed events that have no position yet, after the last position, in id order.
# One statement on both databases (UPDATE ... FROM and window functions).
_SEQUENCE = text(
    "UPDATE order_events SET position = s.base + s.n"
    " FROM (SELECT id, row_number() OVER (ORDER BY id) AS n,"
    " (SELECT coalesce(max(position), 0) FROM order_events) AS base"
    " FROM order_events WHERE position IS NULL ORDER BY id LIMIT :batch) AS s"
    " WHERE order_events.id = s.id"
)


async def sequence(session: AsyncSession, batch_size: int = 1000) -> int:
    """Give up to ``batch_size`` committed events their stream positions; how many got one.
    Another sequencer running now means this one does nothing (its events are numbered by that
    one or the next run)."""
    if _dialect(session) == "postgresql":
        taken = await session.scalar(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": SEQUENCER_LOCK}
        )
        if not taken:
            return 0
    result = await session.execute(_SEQUENCE, {"batch": batch_size})
    return int(result.rowcount)  # type: ignore[attr-defined]  # a DML result has a rowcount


@dataclass(frozen=True)
class StreamEvent:
    """One event as a consumer receives it."""

    position: int
    id: uuid.UUID
    merchant_id: uuid.UUID
    order_id: uuid.UUID
    actor: str
    at: datetime
    payload: EventPayload


Handler = Callable[[AsyncSession, StreamEvent], Awaitable[None]]


async def _claim(session: AsyncSession, consumer: str) -> EventConsumer | None:
    stmt = (
        select(EventConsumer)
        .where(EventConsumer.name == consumer)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    row: EventConsumer | None = await session.scalar(stmt)
    if row is not None:
        return row
    upsert = postgresql.insert if _dialect(session) == "postgresql" else sqlite.insert
    await session.execute(
        upsert(EventConsumer)
        .values(name=consumer, position=0, updated_at=clock.now())
        .on_conflict_do_nothing()
    )
    row = await session.scalar(stmt)
    return row


async def consume(session: AsyncSession, consumer: str, handler: Handler, batch: int = 100) -> int:
    """Hand the next ``batch`` events after ``consumer``'s position to ``handler``, in position
    order, and move the position past them; how many were handled (0 also when another worker
    holds the consumer now). Run it in a unit of work: the handler's writes and the new position
    commit together."""
    claimed = await _claim(session, consumer)
    if claimed is None:
        return 0
    stmt = (
        select(OrderEvent)
        .where(OrderEvent.position > claimed.position)
        .order_by(OrderEvent.position)
        .limit(batch)
    )
    rows = list((await session.scalars(stmt)).all())
    for row in rows:
        assert row.position is not None  # selected by position
        await handler(
            session,
            StreamEvent(
                position=row.position,
                id=row.id,
                merchant_id=row.merchant_id,
                order_id=row.order_id,
                actor=row.actor,
                at=row.at,
                payload=decode(row.kind, row.version, row.data),
            ),
        )
    if rows:
        last = rows[-1].position
        await session.execute(
            update(EventConsumer)
            .where(EventConsumer.name == consumer)
            .values(position=last, updated_at=clock.now())
            .execution_options(synchronize_session=False)
        )
    return len(rows)


async def consumer_position(session: AsyncSession, consumer: str) -> int:
    """How far ``consumer`` got (0 before its first event)."""
    position = await session.scalar(
        select(EventConsumer.position).where(EventConsumer.name == consumer)
    )
    return int(position or 0)


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def _sequence_sweep(session: AsyncSession, batch_size: int) -> int:
    return await sequence(session, batch_size)


def consumer_sweep(
    consumer: str, handler: Handler, *, every_seconds: float = 1.0, batch: int = 100
) -> Sweep:
    """The worker sweep that feeds ``consumer``: a domain that consumes the stream (fission, the
    robot's notifications, analytics) lists ``consumer_sweep("fission", on_order_event)`` among
    its ``SWEEPS``. Any number of workers may run it."""

    async def run(session: AsyncSession, batch_size: int) -> int:
        return await consume(session, consumer, handler, batch_size)

    return Sweep(f"consume_order_events:{consumer}", run, every_seconds, batch)


SWEEPS = [Sweep("sequence_order_events", _sequence_sweep, every_seconds=1.0, batch_size=1000)]
