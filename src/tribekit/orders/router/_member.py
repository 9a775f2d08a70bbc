"""Members acting for themselves under ``/api/v1/me``, with a signed link or a member session."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.api.deps import (
    API_PREFIX,
    CurrentMember,
    Cursor,
    DbSession,
    IdempotencyKey,
    PageLimit,
    State,
)
from tribekit.api.idempotency import once
from tribekit.api.state import AppState
from tribekit.members import access
from tribekit.members.access import MemberPrincipal
from tribekit.orders.repository import OrderFilters
from tribekit.orders.schemas import (
    CartIn,
    OrderIn,
    OrderOut,
    OrderPage,
    OrderSummary,
    PaymentIn,
    PaymentOut,
    QuoteOut,
    ReasonIn,
)
from tribekit.orders.service import checkout, lifecycle, paying

from ._shapes import (
    Answer,
    order_out,
    quote_out,
    step,
)

me_router = APIRouter(prefix=f"{API_PREFIX}/me", tags=["member self-service"])


# ---- members acting for themselves --------------------------------------------------------------


@me_router.post("/session", summary="Trade a member link for a member session (cookie)")
async def start_member_session(
    member: CurrentMember, state: State, response: Response
) -> dict[str, Any]:
    token, expires_at = access.start_session(state.secret_key, member)
    response.set_cookie(
        access.MEMBER_COOKIE,
        token,
        expires=expires_at,
        httponly=True,
        samesite="lax",
        secure=state.settings.is_production,
    )
    return {"member_id": str(member.member_id), "expires_at": expires_at.isoformat()}


@me_router.post("/quote", summary="Price my cart (no side effects)")
async def my_quote(data: CartIn, session: DbSession, member: CurrentMember) -> QuoteOut:
    priced = await checkout.price_cart(session, member.tenant, member.member_id, data)
    return quote_out(priced.quote, staff=False)


@me_router.post(
    "/orders",
    status_code=status.HTTP_201_CREATED,
    response_model=OrderOut,
    summary="Place my order",
)
async def place_my_order(
    data: OrderIn, session: DbSession, member: CurrentMember, key: IdempotencyKey
) -> Answer:
    tenant = member.tenant

    async def work() -> OrderOut:
        placed = await checkout.place_order(
            session, tenant, member.member_id, data, actor=member.actor
        )
        return await order_out(session, tenant, placed.order, placed, staff=False)

    return await once(
        session,
        merchant_id=tenant.id,
        caller=member.actor,
        key=key,
        operation="place_order",
        request=data.model_dump(mode="json"),
        work=work,
        status_code=status.HTTP_201_CREATED,
    )


@me_router.get("/orders", summary="My orders, newest first")
async def my_orders(
    session: DbSession, member: CurrentMember, limit: PageLimit = 20, cursor: Cursor = None
) -> OrderPage:
    filters = OrderFilters(member_id=member.member_id)
    page = await lifecycle.list_orders(session, member.tenant, filters, limit=limit, cursor=cursor)
    return OrderPage(
        items=[OrderSummary.model_validate(o, from_attributes=True) for o in page.items],
        next_cursor=page.next_cursor,
    )


@me_router.get("/orders/{order_id}", summary="One of my orders")
async def my_order(order_id: uuid.UUID, session: DbSession, member: CurrentMember) -> OrderOut:
    order = await lifecycle.member_order(session, member.tenant, order_id, member.member_id)
    return await order_out(session, member.tenant, order, staff=False)


@me_router.post(
    "/orders/{order_id}/payments",
    status_code=status.HTTP_201_CREATED,
    response_model=PaymentOut,
    summary="Pay my order: online (redirect) or manually at the shop (instructions)",
)
async def pay_my_order(
    order_id: uuid.UUID,
    data: PaymentIn,
    state: State,
    session: DbSession,
    member: CurrentMember,
    key: IdempotencyKey,
) -> PaymentOut | JSONResponse:
    return await pay_as_member(session, state, member, order_id, data, key)


async def pay_as_member(
    session: AsyncSession,
    state: AppState,
    member: MemberPrincipal,
    order_id: uuid.UUID,
    data: PaymentIn,
    key: str,
) -> PaymentOut | JSONResponse:
    """The member pays their order, once per idempotency key (a flash reservation's order
    too: ``campaigns/flash/router.py``)."""
    tenant = member.tenant

    async def work() -> PaymentOut:
        payment = await paying.start_payment(
            session,
            tenant,
            state.providers,
            order_id,
            provider=data.provider,
            actor=member.actor,
            member_id=member.member_id,
        )
        return PaymentOut.model_validate(payment, from_attributes=True)

    return await once(
        session,
        merchant_id=tenant.id,
        caller=member.actor,
        key=key,
        operation=f"pay:{order_id}",
        request=data.model_dump(mode="json"),
        work=work,
        status_code=status.HTTP_201_CREATED,
    )


@me_router.post(
    "/orders/{order_id}/cancel", response_model=OrderOut, summary="Cancel my unpaid order"
)
async def cancel_my_order(
    order_id: uuid.UUID,
    data: ReasonIn,
    session: DbSession,
    member: CurrentMember,
    key: IdempotencyKey,
) -> Answer:
    tenant = member.tenant
    return await step(
        session,
        tenant,
        member.actor,
        key,
        f"cancel:{order_id}",
        data.model_dump(),
        lambda: lifecycle.cancel(
            session,
            tenant,
            order_id,
            reason=data.reason,
            actor=member.actor,
            member_id=member.member_id,
        ),
        staff=False,
    )
