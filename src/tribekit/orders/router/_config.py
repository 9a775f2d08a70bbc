"""Staff routes around orders: checkout settings, pickup points, event check-in; and
the payment providers' webhooks."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, status

from tribekit.api.deps import (
    API_PREFIX,
    DbSession,
    State,
)
from tribekit.orders import config
from tribekit.orders.schemas import (
    AttendanceIn,
    AttendeeList,
    AttendeeOut,
    CheckoutSettingsOut,
    CheckoutSettingsUpdate,
    PickupPointIn,
    PickupPointList,
    PickupPointOut,
)
from tribekit.orders.service import attendance, paying

from ._shapes import (
    Configurer,
    Reader,
    Writer,
)

router = APIRouter(prefix=API_PREFIX)


# ---- staff: configuration ---------------------------------------------------------------------


@router.get("/checkout/settings", tags=["checkout settings"], summary="Pricing and checkout rules")
async def get_checkout_settings(session: DbSession, tenant: Reader) -> CheckoutSettingsOut:
    return CheckoutSettingsOut.model_validate(await config.order_settings(session, tenant))


@router.patch("/checkout/settings", tags=["checkout settings"], summary="Change checkout rules")
async def update_checkout_settings(
    data: CheckoutSettingsUpdate, session: DbSession, tenant: Configurer
) -> CheckoutSettingsOut:
    settings = await config.update_order_settings(session, tenant, data)
    return CheckoutSettingsOut.model_validate(settings)


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


# ---- staff: events ----------------------------------------------------------------------------


def _attendee_out(row: attendance.Attendee) -> AttendeeOut:
    line, order, name = row
    return AttendeeOut(
        line_id=line.id,
        order_id=order.id,
        member_id=order.member_id,
        member_name=name,
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
