"""HTTP routes of checkout and orders: staff (``/orders``, ``/checkout``, ``/coupons``,
``/pickup-points``, ``/events``), members acting for themselves (``/me``), provider webhooks.

Every state-changing call takes an ``Idempotency-Key`` and runs through ``once``: the answer is
stored with the work and given again for the same key and request."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import JSONResponse

from tribekit.api.deps import (
    API_PREFIX,
    CurrentMember,
    CurrentPrincipal,
    Cursor,
    DbSession,
    IdempotencyKey,
    PageLimit,
    State,
    authorized,
)
from tribekit.api.idempotency import once
from tribekit.kit.schemas import UtcDatetime
from tribekit.members import access
from tribekit.models.enums import Channel
from tribekit.models.orders import Order, Refund
from tribekit.tenancy.permissions import Permission
from tribekit.tenancy.principal import Tenant

from . import attendance, checkout, config, coupons, lifecycle, paying, refunds
from .repository import OrderFilters
from .schemas import (
    AttendanceIn,
    AttendeeList,
    AttendeeOut,
    CartIn,
    CheckoutSettingsOut,
    CheckoutSettingsUpdate,
    CouponCreate,
    CouponOut,
    CouponPage,
    CouponUpdate,
    OrderIn,
    OrderOut,
    OrderPage,
    OrderStatus,
    OrderSummary,
    PaymentIn,
    PaymentOut,
    PickupPointIn,
    PickupPointList,
    PickupPointOut,
    QuoteOut,
    ReasonIn,
    RefundIn,
    RefundList,
    RefundOut,
    StaffOrderIn,
    StaffQuoteIn,
)

router = APIRouter(prefix=API_PREFIX)
me_router = APIRouter(prefix=f"{API_PREFIX}/me", tags=["member self-service"])

Reader = Annotated[Tenant, authorized(Permission.ORDERS_READ)]
Writer = Annotated[Tenant, authorized(Permission.ORDERS_WRITE)]
Refunder = Annotated[Tenant, authorized(Permission.REFUNDS_WRITE)]
Configurer = Annotated[Tenant, authorized(Permission.CHECKOUT_CONFIGURE)]
CatalogWriter = Annotated[Tenant, authorized(Permission.CATALOG_WRITE)]
Answer = OrderOut | JSONResponse


def _quote_out(quote: Any) -> QuoteOut:
    return QuoteOut.model_validate(quote, from_attributes=True)


async def _order_out(
    session: DbSession, tenant: Tenant, order: Order, found: lifecycle.OrderDetail | None = None
) -> OrderOut:
    found = found or await lifecycle.detail(session, tenant, order)
    data = {column.key: getattr(order, column.key) for column in Order.__table__.columns}
    return OrderOut.model_validate(
        {**data, "lines": found.lines, "payments": found.payments}, from_attributes=True
    )


def _refund_out(refund: Refund) -> RefundOut:
    return RefundOut.model_validate(refund, from_attributes=True)


# ---- staff: checkout --------------------------------------------------------------------------


@router.post(
    "/orders/quote", tags=["orders"], summary="Price a cart for a member (no side effects)"
)
async def quote(data: StaffQuoteIn, session: DbSession, tenant: Reader) -> QuoteOut:
    priced = await checkout.price_cart(session, tenant, data.member_id, data)
    return _quote_out(priced.quote)


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
        return await _order_out(session, tenant, placed.order, placed)

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
    tenant: Reader,
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
    page = await lifecycle.list_orders(session, tenant, filters, limit=limit, cursor=cursor)
    return OrderPage(
        items=[OrderSummary.model_validate(o, from_attributes=True) for o in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/orders/{order_id}", tags=["orders"], summary="One order with lines and payments")
async def get_order(order_id: uuid.UUID, session: DbSession, tenant: Reader) -> OrderOut:
    return await _order_out(session, tenant, await lifecycle.get_order(session, tenant, order_id))


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


async def _step(
    session: DbSession,  # one state change of an order, under the caller's idempotency key
    tenant: Tenant,
    caller: str,
    key: str,
    operation: str,
    request: Any,
    action: Any,
) -> Answer:
    async def work() -> OrderOut:
        return await _order_out(session, tenant, await action())

    return await once(
        session,
        merchant_id=tenant.id,
        caller=caller,
        key=key,
        operation=operation,
        request=request,
        work=work,
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
    return await _step(
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
    return await _step(
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
    return await _step(
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
        return _refund_out(row)

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
    return RefundList(items=[_refund_out(r) for r in rows])


# ---- staff: configuration ---------------------------------------------------------------------


@router.get("/checkout/settings", tags=["checkout settings"], summary="Pricing and checkout rules")
async def get_checkout_settings(session: DbSession, tenant: Reader) -> CheckoutSettingsOut:
    return CheckoutSettingsOut.model_validate(await config.get_settings(session, tenant))


@router.patch("/checkout/settings", tags=["checkout settings"], summary="Change checkout rules")
async def update_checkout_settings(
    data: CheckoutSettingsUpdate, session: DbSession, tenant: Configurer
) -> CheckoutSettingsOut:
    return CheckoutSettingsOut.model_validate(await config.update_settings(session, tenant, data))


@router.get("/pickup-points", tags=["checkout settings"], summary="Pickup points")
async def list_pickup_points(session: DbSession, tenant: Reader) -> PickupPointList:
    points = await config.list_pickup_points(session, tenant)
    return PickupPointList(items=[PickupPointOut.model_validate(p) for p in points])


@router.post(
    "/pickup-points",
    tags=["checkout settings"],
    status_code=status.HTTP_201_CREATED,
    summary="Add a pickup point (the shop's, or a leader's)",
)
async def create_pickup_point(
    data: PickupPointIn, session: DbSession, tenant: Configurer
) -> PickupPointOut:
    return PickupPointOut.model_validate(await config.create_pickup_point(session, tenant, data))


@router.put(
    "/pickup-points/{point_id}", tags=["checkout settings"], summary="Change a pickup point"
)
async def update_pickup_point(
    point_id: uuid.UUID, data: PickupPointIn, session: DbSession, tenant: Configurer
) -> PickupPointOut:
    point = await config.update_pickup_point(session, tenant, point_id, data)
    return PickupPointOut.model_validate(point)


@router.get("/coupons", tags=["coupons"], summary="Coupons, newest first")
async def list_coupons(
    session: DbSession, tenant: Reader, limit: PageLimit = 50, cursor: Cursor = None
) -> CouponPage:
    page = await coupons.list_coupons(session, tenant, limit=limit, cursor=cursor)
    return CouponPage(
        items=[CouponOut.model_validate(c) for c in page.items], next_cursor=page.next_cursor
    )


@router.post(
    "/coupons", tags=["coupons"], status_code=status.HTTP_201_CREATED, summary="Create a coupon"
)
async def create_coupon(data: CouponCreate, session: DbSession, tenant: Configurer) -> CouponOut:
    return CouponOut.model_validate(await coupons.create_coupon(session, tenant, data))


@router.get("/coupons/{coupon_id}", tags=["coupons"], summary="One coupon and its uses")
async def get_coupon(coupon_id: uuid.UUID, session: DbSession, tenant: Reader) -> CouponOut:
    return CouponOut.model_validate(await coupons.get_coupon(session, tenant, coupon_id))


@router.patch("/coupons/{coupon_id}", tags=["coupons"], summary="Change a coupon")
async def update_coupon(
    coupon_id: uuid.UUID, data: CouponUpdate, session: DbSession, tenant: Configurer
) -> CouponOut:
    return CouponOut.model_validate(await coupons.update_coupon(session, tenant, coupon_id, data))


# ---- staff: events ----------------------------------------------------------------------------


def _attendee_out(row: attendance.Attendee) -> AttendeeOut:
    line, order = row
    return AttendeeOut(
        line_id=line.id,
        order_id=order.id,
        member_id=order.member_id,
        quantity=line.quantity - line.refunded_quantity,
        attendance=line.attendance,
        checked_in_at=line.checked_in_at,
    )


@router.get("/events/{product_id}/attendees", tags=["events"], summary="Paid sign-ups")
async def list_attendees(product_id: uuid.UUID, session: DbSession, tenant: Reader) -> AttendeeList:
    event, rows = await attendance.attendees(session, tenant, product_id)
    return AttendeeList(items=[_attendee_out(r) for r in rows], capacity_left=event.stock)


@router.post("/events/{product_id}/check-ins", tags=["events"], summary="Record attendance")
async def check_in(
    product_id: uuid.UUID, data: AttendanceIn, session: DbSession, tenant: Writer
) -> AttendeeOut:
    row = await attendance.check_in(session, tenant, product_id, data.line_id, data.attendance)
    return _attendee_out(row)


@router.post(
    "/events/{product_id}/check-ins/close",
    tags=["events"],
    summary="After the event: everyone not checked in is a no-show",
)
async def close_check_in(
    product_id: uuid.UUID, session: DbSession, tenant: Writer
) -> dict[str, int]:
    return {"no_shows": await attendance.close_check_in(session, tenant, product_id)}


# ---- provider webhooks ------------------------------------------------------------------------


@router.post(
    "/payments/{provider}/webhook",
    tags=["payments"],
    summary="Payment provider webhook (signature checked on the raw body)",
)
async def webhook(
    provider: str, request: Request, state: State, session: DbSession
) -> dict[str, str]:
    body = await request.body()
    outcome = await paying.handle_webhook(session, state.providers, provider, body, request.headers)
    return {"outcome": outcome}


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
    return _quote_out(priced.quote)


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
        return await _order_out(session, tenant, placed.order, placed)

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
    return await _order_out(session, member.tenant, order)


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
    return await _step(
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
    )
