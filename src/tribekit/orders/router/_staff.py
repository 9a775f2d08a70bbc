"""Staff routes of orders: quote, place, list, read, pay, fulfil, complete, cancel, refund."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from fastapi.responses import JSONResponse

from tribekit.api.deps import (
    API_PREFIX,
    CurrentPrincipal,
    Cursor,
    DbSession,
    IdempotencyKey,
    PageLimit,
    State,
)
from tribekit.api.idempotency import once
from tribekit.kit.schemas import UtcDatetime
from tribekit.models.enums import Channel
from tribekit.orders.repository import OrderFilters
from tribekit.orders.schemas import (
    OrderOut,
    OrderPage,
    OrderStatus,
    OrderSummary,
    PaymentIn,
    PaymentOut,
    QuoteOut,
    ReasonIn,
    RefundIn,
    RefundList,
    RefundOut,
    StaffOrderIn,
    StaffQuoteIn,
)
from tribekit.orders.service import checkout, lifecycle, paying, refunds
from tribekit.tenancy.permissions import Permission
from tribekit.tenancy.principal import Reach

from ._shapes import (
    Answer,
    Reader,
    Refunder,
    Writer,
    order_out,
    quote_out,
    refund_out,
    step,
)

router = APIRouter(prefix=API_PREFIX)


async def _reach(principal: CurrentPrincipal) -> Reach:
    return principal.reach(Permission.ORDERS_READ)


#: The list and one order: a leader reads the orders of their communities (``Principal.reach``).
ScopedReader = Annotated[Reach, Depends(_reach)]


# ---- staff: checkout --------------------------------------------------------------------------


@router.post(
    "/orders/quote", tags=["orders"], summary="Price a cart for a member (no side effects)"
)
async def quote(data: StaffQuoteIn, session: DbSession, tenant: Reader) -> QuoteOut:
    priced = await checkout.price_cart(session, tenant, data.member_id, data)
    return quote_out(priced.quote)


@router.post(
    "/orders",
    tags=["orders"],
    status_code=status.HTTP_201_CREATED,
    summary="Place an order for a member: reserves stock, redeems coupons, holds points",
    response_model=OrderOut,
)
async def place_order(
    data: StaffOrderIn,
    session: DbSession,
    tenant: Writer,
    principal: CurrentPrincipal,
    key: IdempotencyKey,
) -> Answer:
    async def work() -> OrderOut:
        placed = await checkout.place_order(
            session, tenant, data.member_id, data, actor=principal.actor
        )
        return await order_out(session, tenant, placed.order, placed)

    return await once(
        session,
        merchant_id=tenant.id,
        caller=principal.actor,
        key=key,
        operation="place_order",
        request=data.model_dump(mode="json"),
        work=work,
        status_code=status.HTTP_201_CREATED,
    )


@router.get("/orders", tags=["orders"], summary="List orders, newest first, with filters")
async def list_orders(
    session: DbSession,
    reach: ScopedReader,
    limit: PageLimit = 50,
    cursor: Cursor = None,
    status_: Annotated[OrderStatus | None, Query(alias="status")] = None,
    member_id: uuid.UUID | None = None,
    community_id: uuid.UUID | None = None,
    channel: Channel | None = None,
    placed_from: UtcDatetime | None = None,
    placed_to: UtcDatetime | None = None,
) -> OrderPage:
    filters = OrderFilters(
        status_, member_id, community_id, channel.value if channel else None, placed_from, placed_to
    )
    page = await lifecycle.list_orders(
        session, reach.tenant, filters, limit=limit, cursor=cursor, reach=reach
    )
    return OrderPage(
        items=[OrderSummary.model_validate(o, from_attributes=True) for o in page.items],
        next_cursor=page.next_cursor,
    )


# ``:uuid``: only an id matches, so ``GET /orders/quote`` is a 405 (Allow: POST), not a bad id.
@router.get("/orders/{order_id:uuid}", tags=["orders"], summary="One order with lines and payments")
async def get_order(order_id: uuid.UUID, session: DbSession, reach: ScopedReader) -> OrderOut:
    order = await lifecycle.get_order(session, reach.tenant, order_id, reach=reach)
    return await order_out(session, reach.tenant, order, staff=reach.everything)


@router.post(
    "/orders/{order_id}/payments",
    tags=["orders"],
    status_code=status.HTTP_201_CREATED,
    response_model=PaymentOut,
    summary="Record a manual payment (staff took the money) or start an online one",
)
async def pay(
    order_id: uuid.UUID,
    data: PaymentIn,
    state: State,
    session: DbSession,
    tenant: Writer,
    principal: CurrentPrincipal,
    key: IdempotencyKey,
) -> PaymentOut | JSONResponse:
    async def work() -> PaymentOut:
        if data.provider == "manual":
            payment = await paying.record_manual_payment(
                session, tenant, order_id, reference=data.reference, actor=principal.actor
            )
        else:
            payment = await paying.start_payment(
                session,
                tenant,
                state.providers,
                order_id,
                provider=data.provider,
                actor=principal.actor,
            )
        return PaymentOut.model_validate(payment, from_attributes=True)

    return await once(
        session,
        merchant_id=tenant.id,
        caller=principal.actor,
        key=key,
        operation=f"pay:{order_id}",
        request=data.model_dump(mode="json"),
        work=work,
        status_code=status.HTTP_201_CREATED,
    )


@router.post(
    "/orders/{order_id}/fulfil",
    tags=["orders"],
    response_model=OrderOut,
    summary="Mark a paid order fulfilled (handed over or shipped)",
)
async def fulfil(
    order_id: uuid.UUID,
    session: DbSession,
    tenant: Writer,
    principal: CurrentPrincipal,
    key: IdempotencyKey,
) -> Answer:
    return await step(
        session,
        tenant,
        principal.actor,
        key,
        f"fulfil:{order_id}",
        None,
        lambda: lifecycle.fulfil(session, tenant, order_id, actor=principal.actor),
    )


@router.post(
    "/orders/{order_id}/complete",
    tags=["orders"],
    response_model=OrderOut,
    summary="Mark a paid or fulfilled order completed",
)
async def complete(
    order_id: uuid.UUID,
    session: DbSession,
    tenant: Writer,
    principal: CurrentPrincipal,
    key: IdempotencyKey,
) -> Answer:
    return await step(
        session,
        tenant,
        principal.actor,
        key,
        f"complete:{order_id}",
        None,
        lambda: lifecycle.complete(session, tenant, order_id, actor=principal.actor),
    )


@router.post(
    "/orders/{order_id}/cancel",
    tags=["orders"],
    response_model=OrderOut,
    summary="Cancel an unpaid order; its stock, points and coupon uses are given back",
)
async def cancel(
    order_id: uuid.UUID,
    data: ReasonIn,
    session: DbSession,
    tenant: Writer,
    principal: CurrentPrincipal,
    key: IdempotencyKey,
) -> Answer:
    return await step(
        session,
        tenant,
        principal.actor,
        key,
        f"cancel:{order_id}",
        data.model_dump(),
        lambda: lifecycle.cancel(
            session, tenant, order_id, reason=data.reason, actor=principal.actor
        ),
    )


@router.post(
    "/orders/{order_id}/refunds",
    tags=["orders"],
    status_code=status.HTTP_201_CREATED,
    response_model=RefundOut,
    summary="Refund the whole order or some units of some lines",
)
async def refund(
    order_id: uuid.UUID,
    data: RefundIn,
    state: State,
    session: DbSession,
    tenant: Refunder,
    principal: CurrentPrincipal,
    key: IdempotencyKey,
) -> RefundOut | JSONResponse:
    async def work() -> RefundOut:
        row = await refunds.refund(
            session, tenant, state.providers, order_id, data, actor=principal.actor, key=key
        )
        return refund_out(row)

    return await once(
        session,
        merchant_id=tenant.id,
        caller=principal.actor,
        key=key,
        operation=f"refund:{order_id}",
        request=data.model_dump(mode="json"),
        work=work,
        status_code=status.HTTP_201_CREATED,
    )


@router.get("/orders/{order_id}/refunds", tags=["orders"], summary="Refunds of an order")
async def list_refunds(order_id: uuid.UUID, session: DbSession, tenant: Reader) -> RefundList:
    order = await lifecycle.get_order(session, tenant, order_id)
    rows = await refunds.of_order(session, tenant, order)
    return RefundList(items=[refund_out(r) for r in rows])
