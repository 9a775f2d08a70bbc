"""A payment that arrives after its reservation expired (a provider's late webhook) is either
honoured from the units still there, or refunded in full at once through the refunds."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from datetime import timedelta

from httpx import AsyncClient
from sqlalchemy import select

from tests.factories import Factory
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.models.enums import PaymentStatus, RefundProviderStatus
from tribekit.models.orders import Order, Payment, Refund
from tribekit.orders.payments import (
    PaymentRequest,
    PaymentStarted,
    RefundDone,
    RefundRequest,
    WebhookEvent,
    WebhookEventKind,
)
from tribekit.orders.service import paying

from .world import (
    buy,
    end_sales,
    expire_reservations,
    flash_headers,
    flash_shop,
    live_sale,
    reservations,
    runtime_of,
    sale_row,
    stock,
    takes,
)


class LateProvider:
    """An online provider whose webhook says what the test tells it."""

    name = "late"
    external = True

    def __init__(self) -> None:
        self.event: WebhookEvent | None = None

    async def start(self, request: PaymentRequest) -> PaymentStarted:
        return PaymentStarted(provider_ref=f"ref-{request.payment_id}", redirect_url="https://x")

    async def refund(self, request: RefundRequest) -> RefundDone:
        return RefundDone(provider_ref=None)

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        assert self.event is not None
        return self.event


async def _pending_payment(db: Database, order_id: uuid.UUID) -> Payment:
    async with db.unit_of_work() as session:
        order = await session.get(Order, order_id)
        assert order is not None
        payment = Payment(
            merchant_id=order.merchant_id,
            order_id=order.id,
            provider="late",
            amount=order.total,
            currency=order.currency,
            status=PaymentStatus.PENDING,
            provider_ref=f"ref-{order.id}",
        )
        session.add(payment)
        await session.flush()
        return payment


async def _paid_at_provider(db: Database, payment: Payment) -> str:
    provider = LateProvider()
    provider.event = WebhookEvent(
        event_id=f"evt-{payment.id}",
        kind=WebhookEventKind.PAYMENT_SUCCEEDED,
        provider_ref=payment.provider_ref,
        payment_id=payment.id,
        captured_ref="pi_1",
        amount=payment.amount,
        currency=payment.currency,
    )
    async with db.unit_of_work() as session:
        return await paying.handle_webhook(session, {"late": provider}, "late", b"{}", {})


async def _order(db: Database, order_id: uuid.UUID) -> Order:
    async with db.unit_of_work(read_only=True) as session:
        found = await session.get(Order, order_id)
    assert found is not None
    return found


async def _expire(db: Database, sale_id: str) -> None:
    [held] = [r for r in await reservations(db, sale_id) if r.status == "reserved"]
    with clock.frozen_at(held.expires_at + timedelta(seconds=1)):
        assert await expire_reservations(db) == 1


async def test_a_late_payment_takes_the_units_again_while_they_are_left(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    world = await flash_shop(db, factory, stock=10)
    sale_id = await live_sale(client, db, world, quantity=3, reservation_ttl_seconds=60)
    member = (await factory.member(world.shop)).member.id
    bought = await buy(client, sale_id, flash_headers(world.shop, member), quantity=2)
    order_id = uuid.UUID(bought.json()["order_id"])
    payment = await _pending_payment(db, order_id)
    await _expire(db, sale_id)
    assert (await sale_row(db, sale_id)).remaining == 3
    outcome = await _paid_at_provider(db, payment)
    assert outcome == "order paid late: its units were still there"
    order = await _order(db, order_id)
    assert (order.status, order.closed_at) == ("paid", None)
    [reservation] = await reservations(db, sale_id)
    assert reservation.status == "paid"
    assert (await sale_row(db, sale_id)).remaining == 1
    assert await takes(db, sale_id) == {member: 2}
    assert await _paid_at_provider(db, payment) == "already processed"  # a replay: nothing
    assert (await sale_row(db, sale_id)).remaining == 1


async def test_a_late_payment_is_refunded_when_the_units_are_gone(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    world = await flash_shop(db, factory, stock=10)
    sale_id = await live_sale(
        client, db, world, quantity=1, per_member_limit=1, reservation_ttl_seconds=60
    )
    late = (await factory.member(world.shop)).member.id
    bought = await buy(client, sale_id, flash_headers(world.shop, late))
    order_id = uuid.UUID(bought.json()["order_id"])
    payment = await _pending_payment(db, order_id)
    await _expire(db, sale_id)
    quick = (await factory.member(world.shop)).member.id
    await asyncio.sleep(runtime_of(db).live.sold_out_hold)  # the sold-out flag lapses
    assert (await buy(client, sale_id, flash_headers(world.shop, quick))).status_code == 201
    outcome = await _paid_at_provider(db, payment)
    assert outcome == "order paid late and refunded: its units were gone"
    order = await _order(db, order_id)
    assert (order.status, order.refunded_amount) == ("refunded", order.total)
    async with db.unit_of_work(read_only=True) as session:
        [refund] = (await session.scalars(select(Refund).where(Refund.order_id == order_id))).all()
    assert (refund.amount, refund.provider_status) == (order.total, RefundProviderStatus.PENDING)
    row = await sale_row(db, sale_id)
    assert (row.remaining, row.status) == (0, "sold_out")  # the other member's unit stays theirs
    assert await takes(db, sale_id) == {late: 0, quick: 1}


async def test_a_late_payment_after_the_end_takes_from_what_went_back_to_stock(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    world = await flash_shop(db, factory, stock=10)
    sale_id = await live_sale(client, db, world, quantity=4, reservation_ttl_seconds=60)
    member = (await factory.member(world.shop)).member.id
    bought = await buy(client, sale_id, flash_headers(world.shop, member))
    order_id = uuid.UUID(bought.json()["order_id"])
    payment = await _pending_payment(db, order_id)
    row = await sale_row(db, sale_id)
    with clock.frozen_at(row.ends_at + timedelta(seconds=1)):
        assert await end_sales(db) == 1
    assert await stock(db, world.product) == 9  # 3 unsold back, 1 still reserved
    with clock.frozen_at(row.ends_at + timedelta(minutes=5)):
        assert await expire_reservations(db) == 1
    assert await stock(db, world.product) == 10
    assert await _paid_at_provider(db, payment) == "order paid late: its units were still there"
    assert await stock(db, world.product) == 9
    ended = await sale_row(db, sale_id)
    assert (ended.returned, ended.status) == (3, "ended")
    assert (await _order(db, order_id)).status == "paid"
