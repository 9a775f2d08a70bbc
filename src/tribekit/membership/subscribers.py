"""What membership does when an order event is emitted, in the same transaction: a paid order
counts toward levels and earns points. Listed in ``tribekit/subscribers.py``."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.orders.events import Emitted, OrderPaid
from tribekit.tenancy.principal import Tenant

from . import service


async def points_on_payment(
    session: AsyncSession, tenant: Tenant, event: Emitted[OrderPaid]
) -> None:
    """Count the paid goods toward levels and post the points they earn, once per order."""
    paid = event.payload
    await service.record_purchase(
        session,
        tenant,
        paid.member_id,
        ref=f"order:{event.order_id}",
        amount=paid.goods,
        at=paid.paid_at,
    )
