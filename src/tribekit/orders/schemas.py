"""API shapes of checkout, orders, payments and refunds. Amounts are integer minor units.

Totals are never taken from the client: a cart names products and quantities, the server prices
it every time."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from tribekit.kit.schemas import CountryCode, Input, Output
from tribekit.models.enums import Channel

Fulfilment = Literal["store_pickup", "leader_pickup", "delivery"]
OrderStatus = Literal[
    "placed", "paid", "fulfilled", "completed", "cancelled", "expired", "refunded"
]
MAX_LINES = 50


IGNORED = "Ignored: the server prices every cart itself"


class CartLine(Input):
    product_id: uuid.UUID
    quantity: int = Field(ge=1, le=10_000)
    unit_price: int | None = Field(default=None, description=IGNORED)


class AddressIn(Input):
    recipient: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=30)
    line1: str = Field(min_length=1, max_length=300)
    line2: str | None = Field(default=None, max_length=300)
    city: str = Field(min_length=1, max_length=100)
    region: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, max_length=20)
    country: CountryCode


class Attribution(Input):
    channel: Channel = Field(default=Channel.WEB, description="Where the order was placed")
    community_id: uuid.UUID | None = Field(
        default=None, description="The group the buyer came from (link or robot command)"
    )
    campaign_id: uuid.UUID | None = Field(
        default=None, description="Refused until campaigns exist: leave it out or send null"
    )
    referral_code: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Refused until referrals exist: leave it out or send null",
    )

    @field_validator("campaign_id", "referral_code")
    @classmethod
    def _not_yet(cls, value: object, info: ValidationInfo) -> object:
        # Stored unchecked, these would attribute orders to campaigns and referrers that do not
        # exist; the domains that own them (campaigns, fission) will check them.
        if value is not None:
            owner = "campaigns" if info.field_name == "campaign_id" else "referrals"
            raise ValueError(f"this Tribekit has no {owner} yet to check it against; leave it out")
        return value


class CartIn(Input):
    lines: list[CartLine] = Field(min_length=1, max_length=MAX_LINES)
    coupon_codes: list[str] = Field(default_factory=list, max_length=5)
    points_to_redeem: int = Field(default=0, ge=0, le=10**9)
    fulfilment: Fulfilment = "store_pickup"
    pickup_point_id: uuid.UUID | None = None
    address: AddressIn | None = None
    # A client's own figures (a cached quote, say) may come along; they are never used.
    subtotal: int | None = Field(default=None, description=IGNORED)
    total: int | None = Field(default=None, description=IGNORED)

    @model_validator(mode="after")
    def _fulfilment_needs(self) -> CartIn:
        if self.fulfilment == "delivery" and self.address is None:
            raise ValueError("address: a delivery needs an address")
        if self.fulfilment == "leader_pickup" and self.pickup_point_id is None:
            raise ValueError("pickup_point_id: a leader pickup needs a pickup point")
        return self


class StaffQuoteIn(CartIn):
    member_id: uuid.UUID


class OrderIn(CartIn):
    attribution: Attribution = Field(default_factory=Attribution)
    note: str | None = Field(default=None, max_length=1000)


class StaffOrderIn(OrderIn):
    member_id: uuid.UUID


class MarginOut(Output):
    """What is left once the cost is paid (staff only; members get null). Revenue is what the
    buyer pays for the goods after coupons and points; shipping is not margin."""

    revenue: int
    cost: int | None = Field(description="Null when a line's product has no cost price")
    amount: int | None = Field(description="revenue - cost; null when the cost is unknown")
    bps: int | None = Field(description="amount / revenue in basis points")
    below_cost: bool
    unknown_lines: int = Field(description="Lines without a cost price")
    why: str


class PricedLineOut(Output):
    key: str
    product_id: uuid.UUID
    name: str
    kind: str
    quantity: int
    regular_unit_price: int
    unit_price: int
    source: str
    undiscounted_total: int
    base_total: int
    coupon_discount: int
    points_discount: int
    total: int
    why: list[str]
    unit_cost: int | None = Field(default=None, description="Staff only: the cost price")
    margin: MarginOut | None = Field(default=None, description="Staff only")


class CouponResultOut(Output):
    code: str
    applied: bool
    discount: int
    why: str


class QuoteOut(Output):
    currency: str
    lines: list[PricedLineOut]
    undiscounted_subtotal: int
    subtotal: int
    coupon_discount: int
    coupons: list[CouponResultOut]
    points_redeemed: int
    points_discount: int
    shipping: int
    total: int
    points_to_earn: int
    why: list[str]
    margin: MarginOut | None = Field(default=None, description="Staff only: all lines together")


class OrderLineOut(Output):
    id: uuid.UUID
    product_id: uuid.UUID
    name: str
    kind: str
    quantity: int
    regular_unit_price: int
    unit_price: int
    price_source: str
    base_total: int
    coupon_discount: int
    points_discount: int
    total: int
    refunded_quantity: int
    refunded_amount: int
    attendance: str | None
    unit_cost: int | None = Field(default=None, description="Staff only: cost price when ordered")
    margin: MarginOut | None = Field(default=None, description="Staff only, as ordered")


class PaymentOut(Output):
    id: uuid.UUID
    provider: str
    amount: int
    currency: str
    status: str
    redirect_url: str | None
    instructions: str | None
    reference: str | None
    created_at: datetime
    settled_at: datetime | None


class OrderOut(Output):
    id: uuid.UUID
    number: str
    member_id: uuid.UUID
    status: OrderStatus
    currency: str
    undiscounted_subtotal: int
    subtotal: int
    coupon_discount: int
    coupon_codes: list[str]
    points_redeemed: int
    points_discount: int
    shipping: int
    total: int
    refunded_amount: int
    points_to_earn: int
    why: list[str]
    channel: str
    community_id: uuid.UUID | None
    campaign_id: uuid.UUID | None
    referral_code: str | None
    referrer_id: uuid.UUID | None
    fulfilment: Fulfilment
    pickup_point_id: uuid.UUID | None
    address: dict[str, str | None] | None
    note: str | None
    placed_by: str
    placed_at: datetime
    expires_at: datetime | None
    paid_at: datetime | None
    fulfilled_at: datetime | None
    completed_at: datetime | None
    closed_at: datetime | None
    close_reason: str | None
    lines: list[OrderLineOut]
    payments: list[PaymentOut]
    margin: MarginOut | None = Field(
        default=None, description="Staff only: the goods as ordered, all lines together"
    )


class OrderSummary(Output):
    id: uuid.UUID
    number: str
    member_id: uuid.UUID
    status: OrderStatus
    total: int
    refunded_amount: int
    channel: str
    community_id: uuid.UUID | None
    placed_at: datetime


class OrderPage(Output):
    items: list[OrderSummary]
    next_cursor: str | None


class PaymentIn(Input):
    provider: Literal["manual", "stripe"] = "manual"
    reference: str | None = Field(
        default=None, max_length=200, description="Manual payments: e.g. a bank transfer ref"
    )


class ReasonIn(Input):
    reason: str = Field(min_length=1, max_length=300)


class RefundLineIn(Input):
    line_id: uuid.UUID
    quantity: int = Field(ge=1, le=10_000)


class RefundIn(Input):
    lines: list[RefundLineIn] | None = Field(
        default=None,
        max_length=MAX_LINES,
        description="What to refund; omit for everything not refunded yet (and shipping)",
    )
    restock: bool = Field(default=False, description="The goods came back: return them to stock")
    reason: str = Field(min_length=1, max_length=300)


class RefundOut(Output):
    id: uuid.UUID
    order_id: uuid.UUID
    amount: int
    points_returned: int
    points_reversed: int
    restock: bool
    reason: str
    created_by: str
    created_at: datetime
    provider_status: Literal["not_needed", "pending", "succeeded", "failed"] = Field(
        description="The money at the payment provider: not_needed (nothing was paid through "
        "one), pending (the worker is giving it back), succeeded, or failed (staff must "
        "settle it with the payer; provider_error says why)"
    )
    provider_ref: str | None = Field(description="The provider's id of the refund")
    provider_attempts: int
    provider_error: str | None
    provider_settled_at: datetime | None


class RefundList(Output):
    items: list[RefundOut]


class CheckoutSettingsOut(Output):
    unpaid_ttl_minutes: int
    rounding: Literal["half_even", "half_up"]
    coupon_on_campaign_price: bool
    coupon_on_level_price: bool
    coupons_combine: bool
    coupon_returned_on_refund: bool = Field(
        description="A refunded order gives its coupon uses back (a cancelled or expired one "
        "always does)"
    )
    points_per_currency_unit_redeemed: int
    points_cap_bps: int
    total_floor: int
    shipping_fee: int
    store_pickup_address: str | None


class CheckoutSettingsUpdate(Input):
    unpaid_ttl_minutes: int | None = Field(default=None, ge=1, le=7 * 24 * 60)
    rounding: Literal["half_even", "half_up"] | None = None
    coupon_on_campaign_price: bool | None = None
    coupon_on_level_price: bool | None = None
    coupons_combine: bool | None = None
    coupon_returned_on_refund: bool | None = None
    points_per_currency_unit_redeemed: int | None = Field(default=None, ge=1, le=1_000_000)
    points_cap_bps: int | None = Field(default=None, ge=0, le=10_000)
    total_floor: int | None = Field(default=None, ge=0, le=10**12)
    shipping_fee: int | None = Field(default=None, ge=0, le=10**9)
    store_pickup_address: str | None = Field(default=None, min_length=1, max_length=300)


class PickupPointIn(Input):
    name: str = Field(min_length=1, max_length=200)
    address: str = Field(min_length=1, max_length=300)
    leader_id: uuid.UUID | None = None
    active: bool = True


class PickupPointOut(Output):
    id: uuid.UUID
    name: str
    address: str
    leader_id: uuid.UUID | None
    active: bool


class PickupPointList(Output):
    items: list[PickupPointOut]


class AttendanceIn(Input):
    line_id: uuid.UUID = Field(description="The sign-up: the order line of the event ticket")
    attendance: Literal["attended", "no_show"] = "attended"


class AttendeeOut(Output):
    line_id: uuid.UUID
    order_id: uuid.UUID
    member_id: uuid.UUID
    member_name: str = Field(description="The member's display name")
    quantity: int
    attendance: str | None
    checked_in_at: datetime | None


class AttendeeList(Output):
    items: list[AttendeeOut]
    capacity_left: int | None
