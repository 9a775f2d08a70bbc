"""Event check-in: a sign-up is a paid order line of an event; check-in records whether the
member came (attended / no_show).

A sign-up line belongs to its order, so check-in writes it under the order's lock (rank ORDER of
``kit.locks``, the same lock a refund of that order takes first): a sign-up refunded at the same
moment is either checked in before the refund or found refunded, never half of each."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.catalog.repository import Products
from tribekit.kit import clock
from tribekit.kit.errors import NotFound, ValidationFailed
from tribekit.models.catalog import Product
from tribekit.models.members import Member
from tribekit.models.orders import Order, OrderLine
from tribekit.orders.repository import PAID_STATES, Orders
from tribekit.tenancy.principal import Tenant

Attendee = tuple[OrderLine, Order, str]  # the sign-up, its order, the member's name


async def _event(session: AsyncSession, tenant: Tenant, product_id: uuid.UUID) -> Product:
    product = await Products(session, tenant.id).get_or_404(product_id)
    if product.kind != "event":
        raise NotFound(f"product {product_id} is not an event")
    return product


def _signups(tenant: Tenant, product_id: uuid.UUID):  # type: ignore[no-untyped-def]  # a Select
    return (
        select(OrderLine, Order, Member.display_name)
        .join(Order, Order.id == OrderLine.order_id)
        .join(Member, Member.id == Order.member_id)
        .where(
            OrderLine.merchant_id == tenant.id,
            OrderLine.product_id == product_id,
            Order.status.in_(PAID_STATES),
            OrderLine.refunded_quantity < OrderLine.quantity,
        )
    )


async def attendees(
    session: AsyncSession, tenant: Tenant, product_id: uuid.UUID
) -> tuple[Product, list[Attendee]]:
    """Paid, not wholly refunded sign-ups of an event, in order of sign-up."""
    event = await _event(session, tenant, product_id)
    rows = await session.execute(_signups(tenant, product_id).order_by(OrderLine.id))
    return event, [(line, order, name) for line, order, name in rows.all()]


async def check_in(
    session: AsyncSession,
    tenant: Tenant,
    product_id: uuid.UUID,
    line_id: uuid.UUID,
    attendance: str,
) -> Attendee:
    await _event(session, tenant, product_id)
    signup = _signups(tenant, product_id).where(OrderLine.id == line_id)
    row = (await session.execute(signup)).first()
    if row is not None:  # lock its order, then read the sign-up again under the lock
        await Orders(session, tenant.id).get(row[1].id, for_update=True)
        row = (await session.execute(signup.execution_options(populate_existing=True))).first()
    if row is None:
        raise NotFound(f"no paid sign-up {line_id} for event {product_id}")
    line, order, name = row
    line.attendance = attendance
    line.checked_in_at = clock.now()
    await session.flush()
    return line, order, name


async def close_check_in(session: AsyncSession, tenant: Tenant, product_id: uuid.UUID) -> int:
    """After the event: every sign-up not checked in is recorded as a no-show."""
    event = await _event(session, tenant, product_id)
    if event.starts_at is not None and event.starts_at > clock.now():
        raise ValidationFailed("the event has not started; close check-in once it has")
    orders = _signups(tenant, product_id).with_only_columns(Order.id).distinct()
    await Orders(session, tenant.id).lock_in_order(list((await session.scalars(orders)).all()))
    paid = _signups(tenant, product_id).with_only_columns(OrderLine.id)
    result = await session.execute(
        update(OrderLine)
        .where(OrderLine.id.in_(paid.scalar_subquery()), OrderLine.attendance.is_(None))
        .values(attendance="no_show", checked_in_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]  # DML results have it
