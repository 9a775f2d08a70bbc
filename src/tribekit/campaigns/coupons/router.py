"""HTTP routes of coupons (staff): list, create, read, change. Permissions as for orders:
reading needs ``orders:read``, changing needs ``checkout:configure``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, status

from tribekit.api.deps import API_PREFIX, Cursor, DbSession, PageLimit, authorized
from tribekit.tenancy.permissions import Permission
from tribekit.tenancy.principal import Tenant

from . import service as coupons
from .schemas import CouponCreate, CouponOut, CouponPage, CouponUpdate

router = APIRouter(prefix=API_PREFIX)

Reader = Annotated[Tenant, authorized(Permission.ORDERS_READ)]
Configurer = Annotated[Tenant, authorized(Permission.CHECKOUT_CONFIGURE)]


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
