"""What the order routes share: the callers' permissions, the answer shapes, one idempotent step."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi.responses import JSONResponse

from tribekit.api.deps import (
    DbSession,
    authorized,
)
from tribekit.api.idempotency import once
from tribekit.models.orders import Order, Refund
from tribekit.orders import lifecycle
from tribekit.orders.schemas import (
    OrderOut,
    QuoteOut,
    RefundOut,
)
from tribekit.tenancy.permissions import Permission
from tribekit.tenancy.principal import Tenant

Reader = Annotated[Tenant, authorized(Permission.ORDERS_READ)]
Writer = Annotated[Tenant, authorized(Permission.ORDERS_WRITE)]
Refunder = Annotated[Tenant, authorized(Permission.REFUNDS_WRITE)]
Configurer = Annotated[Tenant, authorized(Permission.CHECKOUT_CONFIGURE)]
Answer = OrderOut | JSONResponse


def quote_out(quote: Any) -> QuoteOut:
    return QuoteOut.model_validate(quote, from_attributes=True)


async def order_out(
    session: DbSession, tenant: Tenant, order: Order, found: lifecycle.OrderDetail | None = None
) -> OrderOut:
    found = found or await lifecycle.detail(session, tenant, order)
    data = {column.key: getattr(order, column.key) for column in Order.__table__.columns}
    return OrderOut.model_validate(
        {**data, "lines": found.lines, "payments": found.payments}, from_attributes=True
    )


def refund_out(refund: Refund) -> RefundOut:
    return RefundOut.model_validate(refund, from_attributes=True)


async def step(
    session: DbSession,
    tenant: Tenant,
    caller: str,
    key: str,
    operation: str,
    request: Any,
    action: Any,
) -> Answer:
    """One state change of an order, run once per caller and idempotency key."""

    async def work() -> OrderOut:
        return await order_out(session, tenant, await action())

    return await once(
        session,
        merchant_id=tenant.id,
        caller=caller,
        key=key,
        operation=operation,
        request=request,
        work=work,
    )
