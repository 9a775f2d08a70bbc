"""Coupons, applied after base prices, in the order given.

A line takes a coupon when the coupon covers its product (or gift pack) and the shop's stacking
rules allow its price source. Coupons combine only where the shop allows it, and never with a
coupon that is not stackable: the first applied, in the order given, keeps its place. Each
coupon's discount is shared over its eligible lines in proportion to what they still cost
(``_allocation.split``), so a line never goes below zero. Coupons never take the goods total
below the shop's floor; a coupon cut by the floor is recorded as a "floor" adjustment.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from ._allocation import LineRef, split
from ._arith import div_round
from ._words import money, percent
from .types import Adjustment, CouponInput, CouponResult, PriceSource, PricingRules

NO_COMBINE = "coupons do not combine at this shop"


@dataclass(frozen=True)
class CouponLine:
    ref: LineRef
    source: PriceSource
    base_total: int


@dataclass(frozen=True)
class CouponsOutcome:
    results: tuple[CouponResult, ...]
    discount: int
    line_discounts: dict[LineRef, int]
    line_why: dict[LineRef, tuple[str, ...]]
    adjustments: tuple[Adjustment, ...]
    why: tuple[str, ...]


@dataclass
class _State:
    remaining: dict[LineRef, int]
    line_why: dict[LineRef, list[str]]
    results: list[CouponResult] = field(default_factory=list)
    adjustments: list[Adjustment] = field(default_factory=list)
    why: list[str] = field(default_factory=list)

    def refuse(self, coupon: CouponInput, why: str) -> None:
        self.results.append(CouponResult(coupon.code, False, 0, why))
        self.why.append(f"coupon {coupon.code} not applied: {why}")


def excluded_by(source: PriceSource, rules: PricingRules) -> str | None:
    """What keeps a line with this price source from taking coupons, if anything."""
    if source == "campaign" and not rules.coupon_on_campaign_price:
        return "campaign prices"
    if source in ("level_price", "level_discount") and not rules.coupon_on_level_price:
        return "level prices"
    return None


def apply_coupons(
    coupons: Sequence[CouponInput], lines: Sequence[CouponLine], rules: PricingRules, floor: int
) -> CouponsOutcome:
    """``floor``: the goods total coupons may not go below."""
    state = _State({line.ref: line.base_total for line in lines}, {line.ref: [] for line in lines})
    applied: list[CouponInput] = []
    for coupon in coupons:
        if refusal := _combine_refusal(coupon, applied, rules):
            state.refuse(coupon, refusal)
        elif _apply_one(coupon, lines, rules, floor, state):
            applied.append(coupon)
    discounts = {line.ref: line.base_total - state.remaining[line.ref] for line in lines}
    return CouponsOutcome(
        results=tuple(state.results),
        discount=sum(discounts.values()),
        line_discounts=discounts,
        line_why={ref: tuple(why) for ref, why in state.line_why.items()},
        adjustments=tuple(state.adjustments),
        why=tuple(state.why),
    )


def _combine_refusal(
    coupon: CouponInput, applied: Sequence[CouponInput], rules: PricingRules
) -> str | None:
    """Why ``coupon`` cannot join the coupons already applied, if it cannot."""
    if not applied:
        return None
    if not rules.coupons_combine:
        return NO_COMBINE
    if not coupon.stackable:
        return f"combines with no other coupon, and coupon {applied[0].code} is applied"
    alone = next((c for c in applied if not c.stackable), None)
    if alone is not None:
        return f"coupon {alone.code} is applied and combines with no other coupon"
    return None


def covers(coupon: CouponInput, product_id: uuid.UUID) -> bool:
    """Whether the coupon covers a line of this product or gift pack."""
    if coupon.product_ids is None and coupon.bundle_ids is None:
        return True
    return product_id in (coupon.product_ids or ()) or product_id in (coupon.bundle_ids or ())


def _apply_one(
    coupon: CouponInput,
    lines: Sequence[CouponLine],
    rules: PricingRules,
    floor: int,
    state: _State,
) -> bool:
    currency = rules.currency
    covered = [ln for ln in lines if covers(coupon, ln.ref[0])]
    excluded = sorted({e for ln in covered if (e := excluded_by(ln.source, rules)) is not None})
    eligible = [ln.ref for ln in covered if excluded_by(ln.source, rules) is None]
    if not covered:
        what = "products" if coupon.bundle_ids is None else "products or gift packs"
        state.refuse(coupon, f"covers none of the {what} in the cart")
        return False
    if not eligible:
        state.refuse(coupon, f"does not stack on {' or '.join(excluded)} at this shop")
        return False
    base = sum(state.remaining[ref] for ref in eligible)
    if base < coupon.min_subtotal:
        need, have = money(coupon.min_subtotal, currency), money(base, currency)
        state.refuse(coupon, f"needs an eligible subtotal of {need} (have {have})")
        return False

    notes: list[str] = []
    if coupon.kind == "percent":
        full = div_round(base * coupon.value, 10_000, rules.rounding)
        if coupon.max_discount is not None and full > coupon.max_discount:
            full = coupon.max_discount
            notes.append(f"capped at {money(full, currency)}")
        what = f"{percent(coupon.value)} off {money(base, currency)}"
    else:
        full = min(coupon.value, base)
        if full < coupon.value:
            notes.append("no more than the eligible lines cost")
        what = f"{money(coupon.value, currency)} off {money(base, currency)}"
    if excluded:
        notes.append(f"{' and '.join(excluded)} excluded")
    if full == 0:
        state.refuse(
            coupon, f"gives no discount on an eligible subtotal of {money(base, currency)}"
        )
        return False
    goods = sum(state.remaining.values())
    discount = min(full, max(0, goods - floor))
    if discount == 0:
        state.refuse(coupon, f"the goods total is already at the floor of {money(floor, currency)}")
        return False

    detail = f"{what}: {money(-full, currency)}" + (f" ({'; '.join(notes)})" if notes else "")
    state.adjustments.append(Adjustment("coupon", -full, None, f"coupon {coupon.code}: {detail}"))
    why = detail
    if discount < full:
        cut = f"reduced by {money(full - discount, currency)}"
        floor_why = f"the goods total stays at least {money(floor, currency)}"
        state.adjustments.append(
            Adjustment("floor", full - discount, None, f"coupon {coupon.code} {cut}: {floor_why}")
        )
        why = f"{detail}, {cut} to {money(-discount, currency)}: {floor_why}"
    state.results.append(CouponResult(coupon.code, True, discount, why))
    state.why.append(f"coupon {coupon.code}: {why}")
    for ref, share in split(discount, {ref: state.remaining[ref] for ref in eligible}).items():
        if share:
            state.remaining[ref] -= share
            state.line_why[ref].append(f"coupon {coupon.code}: {money(-share, currency)}")
    return True
