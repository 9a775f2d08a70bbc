"""The coupon book: which of the codes a member gives can be used, and using them.

A code is checked when a cart is priced (exists, active, in its time window, uses left, the
member's own uses left, the member's level listed; for a granted or claimed coupon, a grant of
the member's that is free and valid now); a quote reports a code that fails as not applied,
with the reason, and an order is not placed with it. Whether a usable coupon applies to this
cart (products, gift packs, stacking) is the pricing engine's call. Placing the order redeems
each applied coupon with a conditional update, records the redemption and, for a granted
coupon, takes one of the member's grants; cancelling or expiring the order gives the use (and
the grant) back, once, and so does a full refund where the merchant's
``coupon_returned_on_refund`` says so.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit import pricing
from tribekit.catalog.repository import Products
from tribekit.kit import clock
from tribekit.kit.db import add_unique
from tribekit.kit.errors import Conflict, NotFound, ValidationFailed, field_error
from tribekit.kit.pagination import Page, paginate
from tribekit.membership.repository import Accounts
from tribekit.models.coupons import Coupon, CouponGrant, CouponRedemption
from tribekit.models.enums import CouponKind, ProductKind
from tribekit.models.membership import Level
from tribekit.models.orders import Order
from tribekit.tenancy.principal import Tenant

from .repository import Coupons, Grants
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


def _at(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _usable_now(coupon: Coupon | None, code: str, member_uses: int) -> tuple[str, bool] | None:
    """Why the coupon cannot be used now and whether it is for lack of uses, or None."""
    now = clock.now()
    if coupon is None or not coupon.active:
        return f"no active coupon {code!r} at this shop", False
    if coupon.starts_at is not None and coupon.starts_at > now:
        return f"coupon {code} can be used from {_at(coupon.starts_at)}", False
    if coupon.ends_at is not None and coupon.ends_at <= now:
        return f"coupon {code} ended at {_at(coupon.ends_at)}", False
    if coupon.usage_limit is not None and coupon.used >= coupon.usage_limit:
        return f"coupon {code} has no uses left", True
    if coupon.per_member_limit is not None and member_uses >= coupon.per_member_limit:
        return f"coupon {code} was already used by this member", True
    return None


def _grant_refusal(coupon: Coupon, grants: list[CouponGrant]) -> tuple[str, bool] | None:
    """Why the member cannot use a granted or claimed coupon now, judged by their grants of
    it, or None when one is free and valid now."""
    if coupon.issue_mode == "code":
        return None
    now = clock.now()
    if not grants:
        how = "claimed from its link" if coupon.issue_mode == "claim" else "given by the shop"
        return f"coupon {coupon.code} is not this member's: it is {how}", False
    free = [g for g in grants if g.order_id is None]
    if not free:
        return f"coupon {coupon.code} was already used by this member", True
    if any(g.valid_from <= now and (g.valid_until is None or g.valid_until > now) for g in free):
        return None
    coming = [g.valid_from for g in free if g.valid_from > now]
    if coming:
        return f"coupon {coupon.code} can be used from {_at(min(coming))}", False
    ended = max(g.valid_until for g in free if g.valid_until is not None)
    return f"coupon {coupon.code} expired at {_at(ended)}", False


def _level_refusal(coupon: Coupon, level: Level | None, names: dict[str, str]) -> str | None:
    """Why a member of ``level`` may not use the coupon, or None."""
    if coupon.level_ids is None or (level is not None and str(level.id) in coupon.level_ids):
        return None
    listed = " or ".join(sorted(names.get(str(i), str(i)) for i in coupon.level_ids))
    have = f"this member is {level.name}" if level is not None else "this member has no level"
    return f"coupon {coupon.code} is for members of level {listed} ({have})"


async def _level_names(
    session: AsyncSession, tenant: Tenant, coupons: Iterable[Coupon]
) -> dict[str, str]:
    ids = {uuid.UUID(str(i)) for c in coupons for i in (c.level_ids or ())}
    if not ids:
        return {}
    rows = await session.execute(
        select(Level.id, Level.name).where(Level.merchant_id == tenant.id, Level.id.in_(ids))
    )
    return {str(level_id): name for level_id, name in rows.all()}


async def resolve(
    session: AsyncSession,
    tenant: Tenant,
    member_id: uuid.UUID,
    codes: list[str],
    *,
    level: Level | None = None,
) -> list[Usable]:
    """The coupons behind ``codes``, in the order given, each usable or refused with why.
    ``level``: the member's current level (coupons for some levels only)."""
    if not codes:
        return []
    wanted = list(dict.fromkeys(normal_code(code) for code in codes))
    coupons = Coupons(session, tenant.id)
    found = await coupons.by_codes(wanted)
    given = [c.id for c in found.values() if c.issue_mode != "code"]
    grants = await Grants(session, tenant.id).held(member_id, given)
    names = await _level_names(session, tenant, found.values())
    usable = []
    for code in wanted:
        coupon = found.get(code)
        uses = await coupons.member_uses(coupon.id, member_id) if coupon else 0
        refusal = _usable_now(coupon, code, uses)
        if refusal is None and coupon is not None:
            refusal = _grant_refusal(coupon, grants.get(coupon.id, []))
            if refusal is None and (why := _level_refusal(coupon, level, names)) is not None:
                refusal = (why, False)
        if refusal is not None:
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


def _ids(stored: list[Any] | None) -> frozenset[uuid.UUID] | None:
    return frozenset(uuid.UUID(str(i)) for i in stored) if stored is not None else None


def _pricing_input(coupon: Coupon) -> pricing.CouponInput:
    return pricing.CouponInput(
        code=coupon.code,
        kind=_ENGINE_KINDS[coupon.kind],
        value=coupon.value,
        min_subtotal=coupon.min_subtotal,
        product_ids=_ids(coupon.product_ids),
        max_discount=coupon.max_discount,
        bundle_ids=_ids(coupon.bundle_ids),
        stackable=coupon.stackable,
    )


async def redeem(
    session: AsyncSession,
    tenant: Tenant,
    order: Order,
    usable: list[Usable],
    quote: pricing.Quote,
) -> None:
    """Use each coupon the quote applied. The member's membership lock serialises one member's
    orders, so the per-member limit is checked with no other order of theirs in between; a
    granted coupon also takes one of the member's free grants, under the coupon's lock."""
    applied = {c.code: c.discount for c in quote.coupons if c.applied}
    chosen = [u.coupon for u in usable if u.coupon is not None and u.code in applied]
    if not chosen:
        return
    await Accounts(session, tenant.id).lock(order.member_id)
    coupons = Coupons(session, tenant.id)
    grants = Grants(session, tenant.id)
    now = clock.now()
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
        if coupon.issue_mode != "code" and not await grants.take(
            coupon.id, order.member_id, order.id, now
        ):
            raise CouponUsedUp(
                f"coupon_codes: coupon {coupon.code} was already used by this member",
                code=coupon.code,
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
    """Give back the uses an order took (its redemptions released, once) and free the grants
    it used: the order closed unpaid, or was refunded in full where the merchant says so."""
    await Coupons(session, tenant.id).give_back(order_id)


# ---- staff management ------------------------------------------------------------------------


def _stored(ids: Sequence[uuid.UUID] | None) -> list[str] | None:
    return [str(i) for i in dict.fromkeys(ids)] if ids is not None else None


async def _check_products(
    session: AsyncSession, tenant: Tenant, name: str, ids: Sequence[uuid.UUID], bundles: bool
) -> None:
    """``ids`` are products of this merchant: gift packs (kind bundle) for ``bundle_ids``, any
    other kind for ``product_ids``."""
    found = await Products(session, tenant.id).by_ids(list(ids))
    for index, product_id in enumerate(ids):
        product = found.get(product_id)
        if product is None:
            raise NotFound(f"{name}.{index}: no product with id {product_id} at this merchant")
        is_bundle = product.kind == ProductKind.BUNDLE
        if bundles and not is_bundle:
            raise field_error(
                f"{name}.{index}", f"{product.name!r} is not a gift pack; list it in product_ids"
            )
        if not bundles and is_bundle:
            raise field_error(
                f"{name}.{index}", f"{product.name!r} is a gift pack; list it in bundle_ids"
            )


async def _check_levels(session: AsyncSession, tenant: Tenant, ids: Sequence[uuid.UUID]) -> None:
    found = set(
        (
            await session.scalars(
                select(Level.id).where(Level.merchant_id == tenant.id, Level.id.in_(set(ids)))
            )
        ).all()
    )
    for index, level_id in enumerate(ids):
        if level_id not in found:
            raise NotFound(f"level_ids.{index}: no level with id {level_id} at this merchant")


def _check_issue(fields: dict[str, Any]) -> None:
    """The rules between the fields of a coupon as it would be saved."""
    mode = fields["issue_mode"]
    if fields.get("grant_reason") is not None and mode != "grant":
        raise field_error(
            "grant_reason", f"only a coupon with issue_mode grant has one (this one: {mode})"
        )
    if fields.get("valid_days") is not None:
        if mode == "code":
            raise field_error(
                "valid_days",
                "a code coupon is not issued to anyone; give it starts_at/ends_at instead, or "
                "make it a grant or claim coupon",
            )
        if fields.get("starts_at") is not None or fields.get("ends_at") is not None:
            raise field_error(
                "valid_days",
                "a coupon is valid either valid_days from issue or between starts_at and "
                "ends_at, not both; leave one out (or set it to null)",
            )
    products, bundles = fields.get("product_ids"), fields.get("bundle_ids")
    if (products is not None or bundles is not None) and not (products or bundles):
        raise field_error(
            "product_ids",
            "the coupon covers nothing; list products or gift packs, or leave both out (null) "
            "for the whole cart",
        )
    if fields.get("level_ids") == []:
        raise field_error("level_ids", "list at least one level, or leave it out for every level")


def _due_for_birthdays(coupon: Coupon) -> None:
    """A birthday coupon is swept now (today's birthdays), then each day; others never."""
    swept = coupon.issue_mode == "grant" and coupon.grant_reason == "birthday" and coupon.active
    if not swept:
        coupon.grants_due_at = None
    elif coupon.grants_due_at is None:
        coupon.grants_due_at = clock.now()


async def _check_references(session: AsyncSession, tenant: Tenant, changes: dict[str, Any]) -> None:
    if changes.get("product_ids"):
        await _check_products(session, tenant, "product_ids", changes["product_ids"], False)
    if changes.get("bundle_ids"):
        await _check_products(session, tenant, "bundle_ids", changes["bundle_ids"], True)
    if changes.get("level_ids"):
        await _check_levels(session, tenant, changes["level_ids"])


async def create_coupon(session: AsyncSession, tenant: Tenant, data: CouponCreate) -> Coupon:
    fields = data.model_dump()
    _check_issue(fields)
    await _check_references(session, tenant, fields)
    coupon = Coupon(
        merchant_id=tenant.id,
        **data.model_dump(exclude={"code", "product_ids", "bundle_ids", "level_ids"}),
        code=normal_code(data.code),
        product_ids=_stored(data.product_ids),
        bundle_ids=_stored(data.bundle_ids),
        level_ids=_stored(data.level_ids),
        used=0,
    )
    _due_for_birthdays(coupon)
    await add_unique(session, f"coupon code {coupon.code!r} is taken at this shop", coupon)
    return coupon


async def list_coupons(
    session: AsyncSession, tenant: Tenant, *, limit: int, cursor: str | None
) -> Page[Coupon]:
    stmt = Coupons(session, tenant.id).select()
    return await paginate(session, stmt, key=Coupon.id, limit=limit, cursor=cursor)


async def get_coupon(session: AsyncSession, tenant: Tenant, coupon_id: uuid.UUID) -> Coupon:
    return await Coupons(session, tenant.id).get_or_404(coupon_id)


#: The saved fields the rules between fields look at.
_RULED = ("starts_at", "ends_at", "valid_days", "grant_reason", "product_ids", "bundle_ids")


async def update_coupon(
    session: AsyncSession, tenant: Tenant, coupon_id: uuid.UUID, data: CouponUpdate
) -> Coupon:
    coupon = await Coupons(session, tenant.id).get_or_404(coupon_id, for_update=True)
    changes = data.model_dump(exclude_unset=True)
    for name in ("min_subtotal", "active", "stackable"):
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
    saved = {name: getattr(coupon, name) for name in (*_RULED, "level_ids")}
    _check_issue({**saved, "issue_mode": coupon.issue_mode, **changes})
    await _check_references(session, tenant, changes)
    for name, value in changes.items():
        if name in ("product_ids", "bundle_ids", "level_ids"):
            value = _stored(value)
        setattr(coupon, name, value)
    _due_for_birthdays(coupon)
    await session.flush()
    return coupon
