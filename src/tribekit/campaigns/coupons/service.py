"""The coupon book: which of the codes a member gives can be used, and using them.

A code is checked when a cart is priced (exists, active, in its time window, uses left, the
member's own uses left); a quote reports a code that fails as not applied, with the reason, and
an order is not placed with it. Whether a usable coupon applies to this cart is the pricing
engine's call. Placing
the order redeems each applied coupon with a conditional update and records the redemption;
cancelling or expiring the order gives the use back, once.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from tribekit import pricing
from tribekit.kit import clock
from tribekit.kit.db import add_unique
from tribekit.kit.errors import Conflict, ValidationFailed, field_error
from tribekit.kit.pagination import Page, paginate
from tribekit.membership.repository import Accounts
from tribekit.models.coupons import Coupon, CouponRedemption
from tribekit.models.enums import CouponKind
from tribekit.models.orders import Order
from tribekit.tenancy.principal import Tenant

from .repository import Coupons
from .schemas import CouponCreate, CouponUpdate


class CouponNotUsable(ValidationFailed):
    code = "coupon_not_usable"
    title = "The coupon cannot be used"


class CouponUsedUp(Conflict):
    code = "coupon_used_up"
    title = "The coupon has no uses left"


@dataclass(frozen=True)
class Usable:
    """A code the member gave: its coupon, or why it cannot be used now. A quote shows a
    refused code as not applied, with the reason; placing an order with one is refused."""

    code: str
    coupon: Coupon | None
    pricing: pricing.CouponInput | None  # None when refused
    refused: str | None = None
    used_up: bool = False  # refused because no use is left (for the shop or for this member)

    def error(self) -> CouponUsedUp | CouponNotUsable:
        if self.used_up:
            return CouponUsedUp(f"coupon_codes: {self.refused}", code=self.code)
        return CouponNotUsable(f"coupon_codes: {self.refused}", code=self.code)


def normal_code(code: str) -> str:
    return code.strip().upper()


def _usable_now(coupon: Coupon | None, code: str, member_uses: int) -> tuple[str, bool] | None:
    """Why the coupon cannot be used now and whether it is for lack of uses, or None."""
    now = clock.now()
    if coupon is None or not coupon.active:
        return f"no active coupon {code!r} at this shop", False
    if coupon.starts_at is not None and coupon.starts_at > now:
        return f"coupon {code} can be used from {coupon.starts_at:%Y-%m-%d %H:%M} UTC", False
    if coupon.ends_at is not None and coupon.ends_at <= now:
        return f"coupon {code} ended at {coupon.ends_at:%Y-%m-%d %H:%M} UTC", False
    if coupon.usage_limit is not None and coupon.used >= coupon.usage_limit:
        return f"coupon {code} has no uses left", True
    if coupon.per_member_limit is not None and member_uses >= coupon.per_member_limit:
        return f"coupon {code} was already used by this member", True
    return None


async def resolve(
    session: AsyncSession, tenant: Tenant, member_id: uuid.UUID, codes: list[str]
) -> list[Usable]:
    """The coupons behind ``codes``, in the order given, each usable or refused with why."""
    if not codes:
        return []
    wanted = list(dict.fromkeys(normal_code(code) for code in codes))
    coupons = Coupons(session, tenant.id)
    found = await coupons.by_codes(wanted)
    usable = []
    for code in wanted:
        coupon = found.get(code)
        uses = await coupons.member_uses(coupon.id, member_id) if coupon else 0
        if refusal := _usable_now(coupon, code, uses):
            why, used_up = refusal
            usable.append(Usable(code, coupon, None, why, used_up))
            continue
        assert coupon is not None
        usable.append(Usable(code, coupon, _pricing_input(coupon)))
    return usable


def engine_inputs(usable: list[Usable]) -> list[pricing.CouponInput]:
    """What the pricing engine gets: the codes that can be used now."""
    return [u.pricing for u in usable if u.pricing is not None]


def with_refused(quote: pricing.Quote, usable: list[Usable]) -> pricing.Quote:
    """``quote`` with the refused codes reported as not applied, in the order the member gave
    the codes, each with its reason."""
    refused = {u.code: u.refused for u in usable if u.refused is not None}
    if not refused:
        return quote
    priced = {c.code: c for c in quote.coupons}
    results = tuple(
        priced[u.code]
        if u.code in priced
        else pricing.CouponResult(u.code, False, 0, refused[u.code] or "")
        for u in usable
    )
    notes = tuple(f"coupon {code} not applied: {why}" for code, why in refused.items())
    return dataclasses.replace(quote, coupons=results, why=(*quote.why, *notes))


def check_all_usable(usable: list[Usable]) -> None:
    """An order is placed only with codes that can be used: 409 ``coupon_used_up`` when no use
    is left, 422 ``coupon_not_usable`` otherwise (the member removes the code and orders again)."""
    for item in usable:
        if item.refused is not None:
            raise item.error()


#: The stored kind as the pricing engine names it (the engine imports nothing of ours).
_ENGINE_KINDS: dict[CouponKind, pricing.CouponKind] = {
    CouponKind.PERCENT: "percent",
    CouponKind.AMOUNT: "amount",
}


def _pricing_input(coupon: Coupon) -> pricing.CouponInput:
    return pricing.CouponInput(
        code=coupon.code,
        kind=_ENGINE_KINDS[coupon.kind],
        value=coupon.value,
        min_subtotal=coupon.min_subtotal,
        product_ids=(
            frozenset(uuid.UUID(str(p)) for p in coupon.product_ids)
            if coupon.product_ids is not None
            else None
        ),
        max_discount=coupon.max_discount,
    )


async def redeem(
    session: AsyncSession,
    tenant: Tenant,
    order: Order,
    usable: list[Usable],
    quote: pricing.Quote,
) -> None:
    """Use each coupon the quote applied. The member's membership lock serialises one member's
    orders, so the per-member limit is checked with no other order of theirs in between."""
    applied = {c.code: c.discount for c in quote.coupons if c.applied}
    chosen = [u.coupon for u in usable if u.coupon is not None and u.code in applied]
    if not chosen:
        return
    await Accounts(session, tenant.id).lock(order.member_id)
    coupons = Coupons(session, tenant.id)
    for coupon in sorted(chosen, key=lambda c: c.id):
        uses = await coupons.member_uses(coupon.id, order.member_id)
        if coupon.per_member_limit is not None and uses >= coupon.per_member_limit:
            raise CouponUsedUp(
                f"coupon_codes: coupon {coupon.code} was already used by this member",
                code=coupon.code,
            )
        if not await coupons.take_use(coupon.id):
            raise CouponUsedUp(
                f"coupon_codes: coupon {coupon.code} has no uses left", code=coupon.code
            )
        session.add(
            CouponRedemption(
                merchant_id=tenant.id,
                coupon_id=coupon.id,
                order_id=order.id,
                member_id=order.member_id,
                discount=applied[coupon.code],
                released=False,
            )
        )
    await session.flush()


async def give_back(session: AsyncSession, tenant: Tenant, order_id: uuid.UUID) -> None:
    """Give back the uses an order took (its redemptions released, once): the order closed
    unpaid."""
    await Coupons(session, tenant.id).give_back(order_id)


# ---- staff management ------------------------------------------------------------------------


async def create_coupon(session: AsyncSession, tenant: Tenant, data: CouponCreate) -> Coupon:
    coupon = Coupon(
        merchant_id=tenant.id,
        **data.model_dump(exclude={"code", "product_ids"}),
        code=normal_code(data.code),
        product_ids=[str(p) for p in data.product_ids] if data.product_ids is not None else None,
        used=0,
    )
    await add_unique(session, f"coupon code {coupon.code!r} is taken at this shop", coupon)
    return coupon


async def list_coupons(
    session: AsyncSession, tenant: Tenant, *, limit: int, cursor: str | None
) -> Page[Coupon]:
    stmt = Coupons(session, tenant.id).select()
    return await paginate(session, stmt, key=Coupon.id, limit=limit, cursor=cursor)


async def get_coupon(session: AsyncSession, tenant: Tenant, coupon_id: uuid.UUID) -> Coupon:
    return await Coupons(session, tenant.id).get_or_404(coupon_id)


async def update_coupon(
    session: AsyncSession, tenant: Tenant, coupon_id: uuid.UUID, data: CouponUpdate
) -> Coupon:
    coupon = await Coupons(session, tenant.id).get_or_404(coupon_id, for_update=True)
    changes = data.model_dump(exclude_unset=True)
    for name in ("min_subtotal", "active"):
        if name in changes and changes[name] is None:
            raise field_error(name, "may not be null; leave it out to keep the current value")
    starts, ends = (
        changes.get("starts_at", coupon.starts_at),
        changes.get("ends_at", coupon.ends_at),
    )
    if starts is not None and ends is not None and ends <= starts:
        raise field_error("ends_at", "must be after starts_at")
    limit = changes.get("usage_limit", coupon.usage_limit)
    if limit is not None and limit < coupon.used:
        raise ValidationFailed(
            f"usage_limit: the coupon was already used {coupon.used} times; "
            "the limit cannot be lower"
        )
    for name, value in changes.items():
        setattr(coupon, name, value)
    await session.flush()
    return coupon
