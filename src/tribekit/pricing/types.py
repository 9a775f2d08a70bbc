"""What the engine takes and what it answers: frozen dataclasses, integer minor units, basis points.

Callers (orders, the robot, member pages) build these from the catalog and the member's account;
the engine never reads anything else and never trusts a total from a client.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from tribekit.kit.money import PointsRounding as PointsRounding
from tribekit.kit.money import Rounding

from .margin import Margin

PriceSource = Literal["regular", "level_discount", "level_price", "quantity_ladder", "campaign"]
AdjustmentKind = Literal["base_price", "coupon", "points", "shipping", "floor"]
LineKind = Literal["goods", "event", "plan"]
CouponKind = Literal["percent", "amount"]


class PricingError(ValueError):
    """The input cannot be priced; the message says what to fix."""


# ---- input -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tier:
    """One step of a quantity ladder: from ``min_quantity`` units on, each costs ``unit_price``."""

    min_quantity: int
    unit_price: int


@dataclass(frozen=True)
class LineInput:
    key: str  # the caller's line id, unique in the cart
    product_id: uuid.UUID
    name: str
    kind: LineKind
    quantity: int
    regular_price: int
    level_price: int | None = None  # the price for this member's level, if the product has one
    ladder: tuple[Tier, ...] = ()
    campaign_price: int | None = None  # a running flash sale / group buy price
    campaign_name: str | None = None
    # The campaign price is the line's price whatever else is offered (a group buy: every
    # portion of a team costs the team's tier price, so that what the shop keeps is exactly
    # tier price x portions), even when a level price or the regular price is lower.
    campaign_fixed: bool = False
    unit_cost: int | None = None  # the product's cost price, for the margin; None: unknown


@dataclass(frozen=True)
class MemberInput:
    level_name: str | None = None
    discount_bps: int = 0  # level discount off regular prices of goods
    event_discount_bps: int = 0  # level discount off event tickets
    points_multiplier_bps: int = 10_000
    points_balance: int = 0
    free_shipping: bool = False


@dataclass(frozen=True)
class CouponInput:
    code: str
    kind: CouponKind
    value: int  # basis points for "percent", minor units for "amount"
    min_subtotal: int = 0  # compared with the eligible subtotal, not the whole cart
    # What the coupon covers: these products and these gift packs; both None: every line.
    product_ids: frozenset[uuid.UUID] | None = None
    max_discount: int | None = None  # cap for percent coupons
    bundle_ids: frozenset[uuid.UUID] | None = None
    stackable: bool = True  # False: the order takes no other coupon with this one


@dataclass(frozen=True)
class PricingRules:
    """The merchant's pricing settings."""

    currency: str
    rounding: Rounding = "half_even"  # every percentage of money
    coupon_on_campaign_price: bool = False
    coupon_on_level_price: bool = True
    coupons_combine: bool = False
    points_per_currency_unit_redeemed: int = 100
    points_cap_bps: int = 5_000  # share of the goods total after coupons that points may pay
    total_floor: int = 0  # the goods total never drops below min(total_floor, subtotal)
    points_per_unit_earned: int = 1
    points_rounding: PointsRounding = "floor"
    promotion_bps: int = 10_000
    shipping_fee: int = 0


# ---- output ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Adjustment:
    """One change to the price and why. ``amount`` < 0 is a discount, > 0 a charge.

    undiscounted_subtotal + sum(adjustment amounts) == Quote.total.
    """

    kind: AdjustmentKind
    amount: int
    line_key: str | None
    why: str


@dataclass(frozen=True)
class PricedLine:
    key: str
    product_id: uuid.UUID
    name: str
    kind: LineKind
    quantity: int
    regular_unit_price: int
    unit_price: int  # the chosen base price
    source: PriceSource
    undiscounted_total: int  # regular_unit_price * quantity
    base_total: int  # unit_price * quantity
    coupon_discount: int  # this line's share of the coupons (>= 0)
    points_discount: int  # this line's share of the points (>= 0)
    total: int  # base_total - coupon_discount - points_discount
    why: tuple[str, ...]
    unit_cost: int | None = None
    margin: Margin | None = None  # of ``total`` at ``unit_cost`` x quantity


@dataclass(frozen=True)
class CouponResult:
    code: str
    applied: bool
    discount: int
    why: str


@dataclass(frozen=True)
class Quote:
    currency: str
    lines: tuple[PricedLine, ...]  # in input order
    undiscounted_subtotal: int
    subtotal: int  # sum of base totals
    coupon_discount: int
    coupons: tuple[CouponResult, ...]  # in input order
    points_redeemed: int
    points_discount: int
    shipping: int
    total: int  # payable: subtotal - coupon_discount - points_discount + shipping
    points_to_earn: int
    adjustments: tuple[Adjustment, ...]
    why: tuple[str, ...]
    margin: Margin | None = None  # of the goods (shipping is not margin), all lines together
