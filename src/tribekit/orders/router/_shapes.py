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
from tribekit.orders.schemas import (
    MarginOut,
    OrderOut,
    QuoteOut,
    RefundOut,
)
from tribekit.orders.service import lifecycle
from tribekit.pricing import margin
from tribekit.tenancy.permissions import Permission
from tribekit.tenancy.principal import Tenant

Reader = Annotated[Tenant, authorized(Permission.ORDERS_READ)]
Writer = Annotated[Tenant, authorized(Permission.ORDERS_WRITE)]
Refunder = Annotated[Tenant, authorized(Permission.REFUNDS_WRITE)]
Configurer = Annotated[Tenant, authorized(Permission.CHECKOUT_CONFIGURE)]
Answer = OrderOut | JSONResponse


def quote_out(quote: Any, *, staff: bool = True) -> QuoteOut:
    """The quote; its cost prices and margins only for staff."""
    out = QuoteOut.model_validate(quote, from_attributes=True)
    if not staff:
        out.margin = None
        for line in out.lines:
            line.unit_cost, line.margin = None, None
    return out


async def order_out(
    session: DbSession,
    tenant: Tenant,
    order: Order,
    found: lifecycle.OrderDetail | None = None,
    *,
    staff: bool = True,
) -> OrderOut:
    """The order; its cost prices and margins (as ordered) only for staff."""
    found = found or await lifecycle.detail(session, tenant, order)
    data = {column.key: getattr(order, column.key) for column in Order.__table__.columns}
    out = OrderOut.model_validate(
        {**data, "lines": found.lines, "payments": found.payments}, from_attributes=True
    )
    if staff:
        margins = [
            margin.line(line.total, line.unit_cost, line.quantity, order.currency)
            for line in found.lines
        ]
        for line_out, line_margin in zip(out.lines, margins, strict=True):
            line_out.margin = MarginOut.model_validate(line_margin, from_attributes=True)
        out.margin = MarginOut.model_validate(
            margin.total(margins, order.currency), from_attributes=True
        )
    else:
        for line_out in out.lines:
            line_out.unit_cost = None
    return out


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
    *,
    staff: bool = True,
) -> Answer:
    """One state change of an order, run once per caller and idempotency key."""

    async def work() -> OrderOut:
        return await order_out(session, tenant, await action(), staff=staff)

    return await once(
        session,
        merchant_id=tenant.id,
        caller=caller,
        key=key,
        operation=operation,
        request=request,
        work=work,
    )
