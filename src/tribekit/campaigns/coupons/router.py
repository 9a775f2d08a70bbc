"""HTTP routes of coupons: staff manage them (reading needs ``orders:read``, changing, granting
and getting a claim link need ``checkout:configure``, as for orders); members see the coupons
given to them and claim one from a link under ``/api/v1/me``."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, status

from tribekit.api.deps import (
    API_PREFIX,
    CurrentMember,
    Cursor,
    DbSession,
    PageLimit,
    State,
    authorized,
)
from tribekit.api.problems import problem_doc
from tribekit.tenancy.permissions import Permission
from tribekit.tenancy.principal import Tenant

from . import grants
from . import service as coupons
from .schemas import (
    ClaimIn,
    ClaimLinkOut,
    CouponCreate,
    CouponOut,
    CouponPage,
    CouponUpdate,
    GrantIn,
    GrantOut,
    GrantPage,
    GrantsMade,
    MyCouponOut,
    MyCouponPage,
)

router = APIRouter(prefix=API_PREFIX)

Reader = Annotated[Tenant, authorized(Permission.ORDERS_READ)]
Configurer = Annotated[Tenant, authorized(Permission.CHECKOUT_CONFIGURE)]

_ISSUE_MODE: dict[int | str, dict[str, Any]] = {
    409: problem_doc("`coupon_issue_mode`: the coupon is not issued this way")
}


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


@router.post(
    "/coupons/{coupon_id}/grants",
    tags=["coupons"],
    status_code=status.HTTP_201_CREATED,
    summary="Give a grant or claim coupon to members (once per member and source key)",
    responses=_ISSUE_MODE,
)
async def grant_coupon(
    coupon_id: uuid.UUID, data: GrantIn, session: DbSession, tenant: Configurer
) -> GrantsMade:
    made = await grants.staff_grant(session, tenant, coupon_id, data.member_ids, data.source_key)
    return GrantsMade(
        granted=[GrantOut.model_validate(g) for g in made.granted], already=made.already
    )


@router.get(
    "/coupons/{coupon_id}/grants", tags=["coupons"], summary="The coupon's grants, newest first"
)
async def list_grants(
    coupon_id: uuid.UUID,
    session: DbSession,
    tenant: Reader,
    limit: PageLimit = 50,
    cursor: Cursor = None,
) -> GrantPage:
    page = await grants.list_grants(session, tenant, coupon_id, limit=limit, cursor=cursor)
    return GrantPage(
        items=[GrantOut.model_validate(g) for g in page.items], next_cursor=page.next_cursor
    )


@router.get(
    "/coupons/{coupon_id}/claim-link",
    tags=["coupons"],
    summary="The link members claim a claim coupon from",
    responses=_ISSUE_MODE,
)
async def claim_link(
    coupon_id: uuid.UUID, state: State, session: DbSession, tenant: Configurer
) -> ClaimLinkOut:
    link = await grants.claim_link(
        session, tenant, state.secret_key, coupon_id, state.settings.public_url
    )
    return ClaimLinkOut(token=link.token, url=link.url)


# ---- members acting for themselves -----------------------------------------------------------


def _mine(item: grants.MyCoupon) -> MyCouponOut:
    grant, coupon = item.grant, item.coupon
    valid_from, valid_until = grants.validity(coupon, grant)
    return MyCouponOut(
        grant_id=grant.id,
        coupon_id=coupon.id,
        code=coupon.code,
        kind=coupon.kind,
        value=coupon.value,
        min_subtotal=coupon.min_subtotal,
        max_discount=coupon.max_discount,
        stackable=coupon.stackable,
        source_key=grant.source_key,
        valid_from=valid_from,
        valid_until=valid_until,
        used=grant.order_id is not None,
        order_id=grant.order_id,
        usable_now=item.usable_now,
    )


@router.get("/me/coupons", tags=["member self-service"], summary="My coupons, newest first")
async def my_coupons(
    session: DbSession, member: CurrentMember, limit: PageLimit = 50, cursor: Cursor = None
) -> MyCouponPage:
    page = await grants.my_coupons(
        session, member.tenant, member.member_id, limit=limit, cursor=cursor
    )
    return MyCouponPage(items=[_mine(i) for i in page.items], next_cursor=page.next_cursor)


@router.post(
    "/me/coupons/claim",
    tags=["member self-service"],
    status_code=status.HTTP_201_CREATED,
    summary="Claim a coupon from its link (once)",
    responses={
        409: problem_doc(
            "`coupon_claimed_already`; `coupon_not_claimable`: switched off, ended or used up"
        )
    },
)
async def claim_coupon(
    data: ClaimIn, state: State, session: DbSession, member: CurrentMember
) -> MyCouponOut:
    coupon, grant = await grants.claim(
        session, member.tenant, state.secret_key, member.member_id, data.token
    )
    now_usable = grants.usable_now(coupon, grant)
    return _mine(grants.MyCoupon(grant, coupon, now_usable))
