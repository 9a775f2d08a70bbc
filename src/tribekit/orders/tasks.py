"""Worker sweeps of orders: unpaid orders release their reservations when their time is up."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock
from tribekit.kit.worker import Sweep, claim_due
from tribekit.models.orders import Order
from tribekit.models.tenancy import Merchant
from tribekit.tenancy.principal import Tenant

from . import lifecycle


async def expire_unpaid(session: AsyncSession, batch_size: int) -> int:
    """Close unpaid orders past their time to pay. Claimed with SKIP LOCKED; ``expire`` moves
    each with a conditional update, so a payment landing at the same moment wins or loses
    cleanly and the stock goes back exactly once."""
    due = (
        select(Order)
        .where(Order.status == "placed", Order.expires_at <= clock.now())
        .order_by(Order.expires_at)
    )
    orders = list((await session.scalars(claim_due(due, batch_size))).all())
    tenants: dict[object, Tenant] = {}
    for order in orders:
        if order.merchant_id not in tenants:
            merchant = await session.get(Merchant, order.merchant_id)
            assert merchant is not None  # a merchant's orders go with it
            tenants[order.merchant_id] = Tenant.of(merchant)
        await lifecycle.expire(session, tenants[order.merchant_id], order)
    return len(orders)


SWEEPS = [Sweep("expire_unpaid_orders", expire_unpaid, every_seconds=15)]
