"""HTTP routes of flash sales: staff make, change, cancel and read them (``campaigns:manage``,
``campaigns:read``); anyone reads a sale's live state; a member gets a flash token with their
member session and buys with it, in one request that opens no database session of its own;
and pays the reservation's order through the ordinary payments."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

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
from tribekit.api.problems import problem_doc
from tribekit.api.state import AppState
from tribekit.orders.router._member import pay_as_member
from tribekit.orders.schemas import PaymentIn, PaymentOut
from tribekit.tenancy.permissions import Permission
from tribekit.tenancy.principal import Tenant

from . import runtime as flash_runtime
from . import service, tokens
from .engine import SaleStatus
from .errors import FlashTokenInvalid
from .runtime import FlashRuntime
from .schemas import (
    CountsOut,
    FlashSaleCreate,
    FlashSaleOut,
    FlashSalePage,
    FlashSaleUpdate,
    FlashTokenOut,
    LiveStateOut,
    PurchaseIn,
    PurchaseOut,
)

router = APIRouter(prefix=API_PREFIX)
#: The burst's one route, mounted before every other route of the app (``api/app.py``): at
#: 20:00 each attempt is matched against it first, not after a hundred others.
purchase_router = APIRouter(prefix=API_PREFIX)

Reader = Annotated[Tenant, authorized(Permission.CAMPAIGNS_READ)]
Manager = Annotated[Tenant, authorized(Permission.CAMPAIGNS_MANAGE)]
TAGS: list[str | Any] = ["flash sales"]

_STARTED: dict[int | str, dict[str, Any]] = {
    409: problem_doc("`flash_sale_started`: the sale has started; it can no longer be changed")
}
_REFUSED: dict[int | str, dict[str, Any]] = {
    401: problem_doc("`flash_token_invalid`: get a new token: POST /api/v1/me/flash-token"),
    409: problem_doc(
        "The attempt lost: `sold_out`, `limit_reached`, `not_started`, `ended` or "
        "`not_eligible` (the member is not in the sale's groups or levels)"
    ),
}


async def current_runtime(request: Request) -> FlashRuntime:
    """This process's flash runtime, built on first use from the app's state."""
    found: FlashRuntime | None = getattr(request.app.state, "tribekit_flash", None)
    if found is None:
        state: AppState = request.app.state.tribekit
        found = flash_runtime.shared(state.db, state.redis, state.settings, state.secret_key)
        request.app.state.tribekit_flash = found
    return found


Runtime = Annotated[FlashRuntime, Depends(current_runtime)]
_flash_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="FlashToken",
    description="A flash token: `Authorization: Bearer tkf_...` (POST /api/v1/me/flash-token)",
)


async def flash_member(
    runtime: Runtime,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_flash_bearer)],
) -> tokens.FlashClaims:
    """The member a flash token names, checked in-process (no database round trip)."""
    if bearer is None:
        raise FlashTokenInvalid(
            "send 'Authorization: Bearer tkf_...'; get a token: POST /api/v1/me/flash-token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return tokens.verify(runtime.secret_key, bearer.credentials)


FlashMember = Annotated[tokens.FlashClaims, Depends(flash_member)]


def _out(view: service.FlashSaleView) -> FlashSaleOut:
    sale = view.sale
    counts = view.counts
    return FlashSaleOut.model_validate(
        {
            **{name: getattr(sale, name) for name in FlashSaleOut.model_fields if name != "counts"},
            "counts": CountsOut(
                allotted=counts.allotted,
                reserved=counts.reserved,
                paid=counts.paid,
                expired=counts.expired,
                returned=counts.returned,
                left=counts.left,
            ),
        }
    )


# ---- staff ------------------------------------------------------------------------------------


@router.post(
    "/flash-sales", tags=TAGS, status_code=status.HTTP_201_CREATED, summary="Make a flash sale"
)
async def create_flash_sale(
    data: FlashSaleCreate, session: DbSession, principal: CurrentPrincipal
) -> FlashSaleOut:
    tenant = principal.require(Permission.CAMPAIGNS_MANAGE)
    sale = await service.create(session, tenant, data.spec(), created_by=principal.actor)
    return _out(service.FlashSaleView(sale))


@router.get("/flash-sales", tags=TAGS, summary="Flash sales, newest first, with their units")
async def list_flash_sales(
    session: DbSession,
    tenant: Reader,
    status: SaleStatus | None = None,
    limit: PageLimit = 50,
    cursor: Cursor = None,
) -> FlashSalePage:
    page = await service.page(session, tenant, status=status, limit=limit, cursor=cursor)
    return FlashSalePage(items=[_out(v) for v in page.items], next_cursor=page.next_cursor)


@router.get("/flash-sales/{sale_id}", tags=TAGS, summary="One flash sale and its units")
async def get_flash_sale(sale_id: uuid.UUID, session: DbSession, tenant: Reader) -> FlashSaleOut:
    return _out(await service.get(session, tenant, sale_id))


@router.patch(
    "/flash-sales/{sale_id}",
    tags=TAGS,
    summary="Change a flash sale before it starts",
    responses=_STARTED,
)
async def update_flash_sale(
    sale_id: uuid.UUID, data: FlashSaleUpdate, session: DbSession, tenant: Manager
) -> FlashSaleOut:
    sale = await service.update(session, tenant, sale_id, data.changes())
    return _out(service.FlashSaleView(sale))


@router.post(
    "/flash-sales/{sale_id}/cancel",
    tags=TAGS,
    summary="Cancel a flash sale before it starts",
    responses=_STARTED,
)
async def cancel_flash_sale(
    sale_id: uuid.UUID, session: DbSession, tenant: Manager, runtime: Runtime
) -> FlashSaleOut:
    sale = await service.cancel(session, tenant, sale_id)
    runtime.live.forget(sale_id)
    return _out(service.FlashSaleView(sale))


# ---- anyone: the live state --------------------------------------------------------------------


@router.get(
    "/flash-sales/{sale_id}/live",
    tags=TAGS,
    summary="A flash sale's live state: status, units left (approximate), countdown",
)
async def flash_sale_live(sale_id: uuid.UUID, runtime: Runtime) -> LiveStateOut:
    found = await service.live_state(runtime, sale_id)
    return LiveStateOut.model_validate(found, from_attributes=True)


# ---- members ----------------------------------------------------------------------------------


@router.post(
    "/me/flash-token",
    tags=TAGS,
    summary="Get a short-lived flash token for buying in flash sales",
)
async def my_flash_token(
    session: DbSession, member: CurrentMember, runtime: Runtime
) -> FlashTokenOut:
    token, expires_at = await tokens.issue(
        session, runtime.secret_key, member.tenant.id, member.member_id
    )
    return FlashTokenOut(token=token, expires_at=expires_at)


def pay_url(reservation_id: uuid.UUID) -> str:
    return f"{API_PREFIX}/me/flash-reservations/{reservation_id}/payments"


@purchase_router.post(
    "/flash-sales/{sale_id}/purchase",
    tags=TAGS,
    status_code=status.HTTP_201_CREATED,
    summary="Buy in a flash sale: a reservation to pay before it expires",
    responses=_REFUSED,
)
async def purchase(
    sale_id: uuid.UUID, member: FlashMember, runtime: Runtime, data: PurchaseIn | None = None
) -> PurchaseOut:
    wanted = data or PurchaseIn()
    bought = await service.purchase(
        runtime,
        member,
        sale_id,
        quantity=wanted.quantity,
        community_id=wanted.community_id,
        channel=wanted.channel.value,
    )
    reserved = bought.reserved
    return PurchaseOut(
        reservation_id=reserved.reservation_id,
        sale_id=bought.sale.id,
        order_id=reserved.reservation_id,  # the order's id is the reservation's
        quantity=reserved.quantity,
        unit_price=bought.sale.price,
        total=bought.total,
        currency=bought.sale.currency,
        expires_at=reserved.expires_at,
        left=reserved.left,
        pay_url=pay_url(reserved.reservation_id),
    )


@router.post(
    "/me/flash-reservations/{reservation_id}/payments",
    tags=TAGS,
    status_code=status.HTTP_201_CREATED,
    response_model=PaymentOut,
    summary="Pay my flash sale reservation (its order, once written)",
)
async def pay_my_reservation(
    reservation_id: uuid.UUID,
    data: PaymentIn,
    state: State,
    session: DbSession,
    member: CurrentMember,
    key: IdempotencyKey,
) -> PaymentOut | JSONResponse:
    order_id = await service.order_of_reservation(
        state.db, member.tenant, reservation_id, member.member_id
    )
    return await pay_as_member(session, state, member, order_id, data, key)
