"""The order event stream: positions follow commits, not ids, so a consumer polling while
writers commit late never misses or repeats an event; any number of workers share a consumer
and handle each event once; payloads are typed and versioned."""

from __future__ import annotations

import asyncio
import random
import uuid

import pytest
from httpx import AsyncClient
from pydantic import ValidationError
from sqlalchemy import select

from tests.concurrency import fire
from tests.factories import Factory
from tribekit.kit.db import Database
from tribekit.kit.worker import WorkerLoop
from tribekit.models.orders import Order, OrderEvent
from tribekit.orders import events
from tribekit.orders.events import StreamEvent

from .store import Store, give_points, open_store, pay, place


async def _poll(db: Database, consumer: str, seen: list[StreamEvent], batch: int = 10) -> int:
    """One worker turn: sequence what committed, then handle one batch for ``consumer``. Only
    batches whose unit of work committed are added to ``seen``."""
    async with db.unit_of_work() as session:
        await events.sequence(session)
    got: list[StreamEvent] = []

    async def handle(_session: object, event: StreamEvent) -> None:
        got.append(event)

    async with db.unit_of_work() as session:
        handled = await events.consume(session, consumer, handle, batch)
    seen.extend(got)
    return handled


async def _drain(db: Database, consumer: str, seen: list[StreamEvent]) -> None:
    while await _poll(db, consumer, seen):
        pass


async def _orders(client: AsyncClient, store: Store, member_id: uuid.UUID, n: int) -> list[str]:
    ids = []
    for _ in range(n):
        response = await place(client, store, member_id, (store.cherries, 1))
        assert response.status_code == 201
        ids.append(response.json()["id"])
    return ids


async def _emit(db: Database, store: Store, order_id: str, member_id: uuid.UUID) -> uuid.UUID:
    async with db.unit_of_work() as session:
        emitted = await events.emit(
            session,
            store.shop.tenant,
            uuid.UUID(order_id),
            events.OrderFulfilled(member_id=member_id),
            actor="test",
        )
        await session.flush()
    return emitted.event.id


async def test_an_event_committed_late_is_neither_skipped_nor_repeated(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    member = (await factory.member(store.shop)).member
    first, second = await _orders(client, store, member.id, 2)
    seen: list[StreamEvent] = []
    await _drain(db, "robot", seen)
    placed = [e.id for e in seen]
    assert [e.payload.kind for e in seen] == ["placed", "placed"]
    ids: dict[str, uuid.UUID] = {}
    if db.dialect == "postgresql":
        a_written, b_committed = asyncio.Event(), asyncio.Event()

        async def writer_a() -> None:
            async with db.unit_of_work() as session:
                emitted = await events.emit(
                    session,
                    store.shop.tenant,
                    uuid.UUID(first),
                    events.OrderFulfilled(member_id=member.id),
                    actor="a",
                )
                await session.flush()
                ids["a"] = emitted.event.id  # taken first
                a_written.set()
                await b_committed.wait()
                # B committed after A's event got its id; the consumer polls meanwhile.
                await _drain(db, "robot", seen)
                assert [e.id for e in seen] == [*placed, ids["b"]]
            # A commits now, last.

        async def writer_b() -> None:
            await a_written.wait()
            ids["b"] = await _emit(db, store, second, member.id)
            b_committed.set()

        await asyncio.gather(writer_a(), writer_b())
        assert ids["a"] < ids["b"]  # a cursor on ids, already past B, would skip A
        await _drain(db, "robot", seen)
        assert [e.id for e in seen] == [*placed, ids["b"], ids["a"]]
    else:
        # One writer at a time: A's transaction ends before B's begins.
        ids["a"] = await _emit(db, store, first, member.id)
        ids["b"] = await _emit(db, store, second, member.id)
        await _drain(db, "robot", seen)
        assert [e.id for e in seen] == [*placed, ids["a"], ids["b"]]
    positions = [e.position for e in seen]
    assert positions == [1, 2, 3, 4]
    await _drain(db, "robot", seen)
    assert len(seen) == 4  # nothing again
    async with db.unit_of_work() as session:
        assert await events.consumer_position(session, "robot") == 4


async def test_workers_sharing_consumers_handle_every_event_exactly_once(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    member = (await factory.member(store.shop)).member
    order_ids = await _orders(client, store, member.id, 3)
    writers_done = asyncio.Event()
    seen: dict[str, list[StreamEvent]] = {"fission": [], "analytics": []}
    rng = random.Random(9)
    delays = [rng.uniform(0, 0.03) for _ in range(30)]

    async def writer(i: int) -> uuid.UUID:
        async with db.unit_of_work() as session:
            emitted = await events.emit(
                session,
                store.shop.tenant,
                uuid.UUID(order_ids[i % 3]),
                events.OrderCompleted(member_id=member.id),
                actor=f"writer-{i}",
            )
            await session.flush()
            await asyncio.sleep(delays[i])  # commit late, in another order than the ids
        return emitted.event.id

    async def worker(consumer: str) -> None:
        idle = 0
        while idle < 2:
            handled = await _poll(db, consumer, seen[consumer], batch=4)
            idle = idle + 1 if writers_done.is_set() and not handled else 0
            await asyncio.sleep(0)

    async def write_all() -> list[uuid.UUID]:
        written = await fire(30, writer)
        writers_done.set()
        return written

    names = ["fission"] * 3 + ["analytics"] * 2
    workers = [asyncio.create_task(worker(name)) for name in names]
    written = await write_all()
    await asyncio.gather(*workers)
    async with db.unit_of_work() as session:
        every = {row.id: row.position for row in (await session.scalars(select(OrderEvent))).all()}
        fission_at = await events.consumer_position(session, "fission")
    assert len(every) == 33  # 3 placed + 30 written
    assert set(written) < set(every)
    assert sorted(every.values()) == list(range(1, 34))  # type: ignore[type-var]  # all sequenced
    for consumer, handled in seen.items():
        assert len(handled) == 33, consumer  # none twice
        assert {e.id for e in handled} == set(every), consumer  # none missed
        assert sorted(e.position for e in handled) == list(range(1, 34)), consumer
    # One worker at a time holds a consumer, so its batches come in position order.
    assert [e.position for e in seen["fission"]] == list(range(1, 34))
    assert fission_at == 33


async def test_a_failing_handler_leaves_its_events_to_be_handled_again(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    member = (await factory.member(store.shop)).member
    await _orders(client, store, member.id, 3)
    async with db.unit_of_work() as session:
        assert await events.sequence(session) == 3
    handled: list[int] = []

    async def fails_on_second(_session: object, event: StreamEvent) -> None:
        if event.position == 2:
            raise RuntimeError("handler failed")
        handled.append(event.position)

    with pytest.raises(RuntimeError, match="handler failed"):
        async with db.unit_of_work() as session:
            await events.consume(session, "robot", fails_on_second, 10)
    async with db.unit_of_work() as session:
        assert await events.consumer_position(session, "robot") == 0
    again: list[StreamEvent] = []
    await _drain(db, "robot", again)
    assert [e.position for e in again] == [1, 2, 3]


async def test_payloads_are_typed_versioned_and_decoded_from_storage(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    member = (await factory.member(store.shop)).member
    (order_id,) = await _orders(client, store, member.id, 1)
    assert (await pay(client, store, order_id)).status_code == 201
    seen: list[StreamEvent] = []
    await _drain(db, "robot", seen)
    placed, paid = (e.payload for e in seen)
    assert isinstance(placed, events.OrderPlaced)
    assert (placed.member_id, placed.total) == (member.id, 5000)
    assert isinstance(paid, events.OrderPaid)
    assert (paid.total, paid.goods, paid.amount) == (5000, 5000, 5000)
    async with db.unit_of_work() as session:
        rows = (await session.scalars(select(OrderEvent).order_by(OrderEvent.position))).all()
        assert [(r.kind, r.version, r.amount) for r in rows] == [
            ("placed", 1, 5000),
            ("paid", 1, 5000),
        ]
    assert sorted(events.KINDS) == [
        "cancelled",
        "completed",
        "expired",
        "fulfilled",
        "paid",
        "paid_when_closed",
        "placed",
        "refunded",
    ]
    with pytest.raises(events.UnknownEventVersion, match="has no version 7"):
        events.decode("paid", 7, {})
    with pytest.raises(events.UnknownEventVersion, match="unknown order event kind"):
        events.decode("teleported", 1, {})
    with pytest.raises(ValidationError):
        events.OrderPlaced(member_id=member.id, total=1, note="free-form")  # type: ignore[call-arg]  # refused: no such field


async def test_a_refund_is_one_typed_event_whose_subscriber_moved_the_points(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    member = (await factory.member(store.shop)).member
    await give_points(db, store, member.id, 1000)  # Silver: 5 % off
    order = (await place(client, store, member.id, (store.mango, 3), points_to_redeem=1000)).json()
    assert (await pay(client, store, order["id"])).status_code == 201
    line = order["lines"][0]["id"]
    response = await client.post(
        f"/api/v1/orders/{order['id']}/refunds",
        json={"reason": "bruised", "lines": [{"line_id": line, "quantity": 1}]},
        headers=store.headers(),
    )
    assert response.status_code == 201
    shown = response.json()
    assert (shown["amount"], shown["points_returned"], shown["points_reversed"]) == (616, 333, 5)
    async with db.unit_of_work() as session:
        hold = await session.scalar(
            select(Order.points_hold_entry_id).where(Order.id == uuid.UUID(order["id"]))
        )
    seen: list[StreamEvent] = []
    await _drain(db, "fission", seen)
    assert [e.payload.kind for e in seen] == ["placed", "paid", "refunded"]
    refunded = seen[-1].payload
    assert isinstance(refunded, events.OrderRefunded)
    assert refunded.model_dump(mode="json") == {
        "member_id": str(member.id),
        "refund_id": shown["id"],
        "order_number": order["number"],
        "refunded": 616,
        "goods": 616,
        "full": False,
        "lines": {line: 1},
        "goods_paid": 1850,
        "goods_refunded": 616,
        "points_hold_entry_id": str(hold),
        "points_redeemed": 1000,
        "points_discount": 1000,
        "points_discount_refunded": 333,
        "points_returned_before": 0,
        "points_reversed_before": 0,
    }
    assert refunded.amount == 616


async def test_a_consumer_sweep_feeds_its_handler_through_the_worker_loop(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    member = (await factory.member(store.shop)).member
    await _orders(client, store, member.id, 5)
    handled: list[int] = []

    async def note(_session: object, event: StreamEvent) -> None:
        handled.append(event.position)

    loop = WorkerLoop(db, [*events.SWEEPS, events.consumer_sweep("analytics", note, batch=2)])
    assert await loop.run_due_sweeps() == {
        "sequence_order_events": 5,
        "consume_order_events:analytics": 5,
    }
    assert handled == [1, 2, 3, 4, 5]
    assert await loop.run_sweep(events.consumer_sweep("analytics", note)) == 0
