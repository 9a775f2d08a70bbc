"""Everything that moves stock and points at once, on the same products and the same member:
checkouts with points, payments, restocking refunds, cancellations and expiry workers released
together from a barrier. No 5xx, no deadlock, stock + sold = initial, the points balance is the
sum of the entries and never negative, every order in a state its history explains."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from httpx import AsyncClient, Response
from sqlalchemy import event, select

from tests.concurrency import fire
from tests.factories import Factory
from tests.membership.test_points_api import ledger_totals
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.kit.worker import WorkerLoop
from tribekit.models.membership import PointsEntry
from tribekit.models.orders import Order, OrderLine, Payment
from tribekit.orders import tasks

from .store import give_points, open_store, pay, place
from .test_checkout_api import stock_of

STOCK = 60
POINTS = 5000


def outcome(response: Response) -> str:
    if response.status_code >= 500:
        return f"5xx {response.status_code}: {response.text}"
    return "ok" if response.status_code in (200, 201) else str(response.json()["code"])


async def test_checkout_payment_refund_cancel_and_expiry_race_on_one_member(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    k, checkouts, workers = (8, 16, 3) if db.dialect == "postgresql" else (3, 4, 2)
    store = await open_store(db, factory)
    apples = await factory.product(store.shop, name="Apples", price=800, stock=STOCK)
    pears = await factory.product(store.shop, name="Pears", price=600, stock=STOCK)
    member = (await factory.member(store.shop)).member
    await give_points(db, store, member.id, POINTS)

    async def placed(*lines: tuple[Any, int], points: int = 0) -> str:
        response = await place(client, store, member.id, *lines, points_to_redeem=points)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    to_refund = []
    for _ in range(k):
        order_id = await placed((apples, 1), (pears, 1))
        assert (await pay(client, store, order_id)).status_code == 201
        to_refund.append(order_id)
    # Orders placed an hour ago are due for the expiry workers: all of to_expire, and every
    # other one of to_pay and to_cancel, which the workers race for.
    earlier = clock.now() - timedelta(hours=1)
    to_pay, to_cancel, to_expire = [], [], []
    for i in range(k):
        with clock.frozen_at(earlier if i % 2 else clock.now()):
            to_pay.append(await placed((apples, 1), points=100))
            to_cancel.append(await placed((pears, 2), points=100))
        with clock.frozen_at(earlier):
            to_expire.append(await placed((apples, 1), (pears, 1), points=100))
    deadlocks: list[str] = []

    def on_error(context: Any) -> None:
        if "deadlock detected" in str(context.original_exception):
            deadlocks.append(str(context.statement))

    async def refund(order_id: str) -> str:
        response = await client.post(
            f"/api/v1/orders/{order_id}/refunds",
            json={"reason": "returned", "restock": True},
            headers=store.headers(),
        )
        return outcome(response)

    async def cancel(order_id: str) -> str:
        response = await client.post(
            f"/api/v1/orders/{order_id}/cancel",
            json={"reason": "changed mind"},
            headers=store.headers(),
        )
        return outcome(response)

    async def buy() -> str:
        response = await place(
            client, store, member.id, (apples, 1), (pears, 1), points_to_redeem=50
        )
        return outcome(response)

    async def paid(order_id: str) -> str:
        return outcome(await pay(client, store, order_id))

    async def expiry_worker() -> str:
        await WorkerLoop(db, tasks.SWEEPS).run_sweep(tasks.SWEEPS[0])
        return "swept"

    calls: list[tuple[str, Callable[[], Awaitable[str]]]] = [
        *((f"refund {o}", lambda o=o: refund(o)) for o in to_refund),
        *((f"pay {o}", lambda o=o: paid(o)) for o in to_pay),
        *((f"cancel {o}", lambda o=o: cancel(o)) for o in to_cancel),
        *(("checkout", buy) for _ in range(checkouts)),
        *(("expiry", expiry_worker) for _ in range(workers)),
    ]
    event.listen(db.engine.sync_engine, "handle_error", on_error)
    try:
        results = await fire(len(calls), lambda i: calls[i][1]())
    finally:
        event.remove(db.engine.sync_engine, "handle_error", on_error)

    by_call = Counter(
        (name.split()[0], result) for (name, _), result in zip(calls, results, strict=True)
    )
    assert not [r for r in results if r.startswith("5xx")]
    assert deadlocks == []
    assert by_call[("refund", "ok")] == k
    assert by_call[("expiry", "swept")] == workers
    assert by_call[("checkout", "ok")] == checkouts
    assert set(by_call) <= {
        ("refund", "ok"),
        ("pay", "ok"),
        ("pay", "order_state"),  # the order expired first
        ("cancel", "ok"),
        ("cancel", "order_state"),
        ("checkout", "ok"),
        ("expiry", "swept"),
    }

    async with db.unit_of_work() as session:
        orders = {str(o.id): o for o in await session.scalars(select(Order))}
        lines = list(await session.scalars(select(OrderLine)))
        payments = list(await session.scalars(select(Payment)))
        entries = list(await session.scalars(select(PointsEntry)))
    status = {order_id: order.status for order_id, order in orders.items()}
    # Every order in a state its history explains.
    assert {status[o] for o in to_refund} == {"refunded"}
    assert all(orders[o].refunded_amount == orders[o].total for o in to_refund)
    assert {status[o] for o in to_expire} == {"expired"}
    assert {status[o] for o in to_pay} <= {"paid", "expired"}
    assert {status[o] for o in to_cancel} <= {"cancelled", "expired"}
    assert by_call[("pay", "ok")] == sum(status[o] == "paid" for o in to_pay)
    assert by_call[("cancel", "ok")] == sum(status[o] == "cancelled" for o in to_cancel)
    new = set(orders) - set(to_refund) - set(to_pay) - set(to_cancel) - set(to_expire)
    assert len(new) == checkouts
    assert {status[o] for o in new} == {"placed"}
    succeeded = {str(p.order_id) for p in payments if p.status == "succeeded"}
    assert succeeded == {o for o, s in status.items() if s in ("paid", "refunded")}
    # Stock + sold = initial: closed orders gave everything back, refunds restocked.
    for product in (apples, pears):
        sold = sum(
            line.quantity - line.refunded_quantity
            for line in lines
            if line.product_id == product.id
            and status[str(line.order_id)] not in ("cancelled", "expired")
        )
        stock = await stock_of(db, product)
        assert stock is not None
        assert stock + sold == STOCK, product.name
    # Points: the balance is the sum of the entries (and of the lots), never negative; every
    # closed order gave its held points back exactly once, the others still hold them.
    balance, summed, lots = await ledger_totals(db, member.id)
    assert balance == summed == lots
    assert balance >= 0
    back = Counter(e.idempotency_key for e in entries if e.idempotency_key.endswith(":points-back"))
    for order_id, order in orders.items():
        if order.points_hold_entry_id is None:
            continue
        returned = back[f"order:{uuid.UUID(order_id)}:points-back"]
        assert returned == (1 if order.status in ("cancelled", "expired") else 0), order.status
    held = sum(
        o.points_redeemed for o in orders.values() if o.status not in ("cancelled", "expired")
    )
    earned = sum(e.points for e in entries if e.kind == "earn" and e.source != "manual")
    taken_back = sum(e.points for e in entries if e.idempotency_key.endswith(":points-earned"))
    assert balance == POINTS - held + earned + taken_back
