"""API shapes of the membership program. Money is in minor units of the merchant's currency;
rates are in basis points (10000 = 100 %)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import Field

from tribekit.kit.schemas import Input, Output, UtcDatetime

from .rules import PointsRounding, Rule

POINTS = 10_000_000


class MembershipSettingsUpdate(Input):
    points_per_unit: int | None = Field(
        default=None, ge=0, le=10_000, description="Points per whole currency unit spent"
    )
    points_rounding: PointsRounding | None = None
    points_expiry_months: int | None = Field(
        default=None, ge=0, le=120, description="Months a point stays valid; 0: forever"
    )
    review_period: Literal["rolling", "calendar_year"] | None = Field(
        default=None,
        description="When levels may drop: review_months after reaching a level, or each 1 Jan",
    )
    review_months: int | None = Field(default=None, ge=1, le=60)
    downgrade: Literal["one_step", "to_qualified"] | None = Field(
        default=None, description="At a review, drop one level or straight to the qualified one"
    )
    renewal_reminder_days: int | None = Field(default=None, ge=0, le=90)


class MembershipSettingsOut(Output):
    points_per_unit: int
    points_rounding: PointsRounding
    points_expiry_months: int
    review_period: Literal["rolling", "calendar_year"]
    review_months: int
    downgrade: Literal["one_step", "to_qualified"]
    renewal_reminder_days: int


class LevelFields(Input):
    entry_reward_points: int = Field(default=0, ge=0, le=POINTS)
    discount_bps: int = Field(default=0, ge=0, le=10_000, description="Off regular prices")
    points_multiplier_bps: int = Field(
        default=10_000, ge=0, le=100_000, description="20000: points are doubled"
    )
    free_shipping: bool = False
    event_discount_bps: int = Field(default=0, ge=0, le=10_000, description="Off event tickets")
    birthday_points: int = Field(default=0, ge=0, le=POINTS)
    birthday_coupon: str | None = Field(
        default=None, min_length=1, max_length=100, description="Coupon code given on birthdays"
    )


class LevelCreate(LevelFields):
    name: str = Field(min_length=1, max_length=100, examples=["Silver"])
    rank: int = Field(ge=0, le=1000, description="Higher is better; the lowest is the base level")
    rule: Rule | None = Field(
        default=None,
        description="Who qualifies; null: nobody by activity (the base level, or manual only)",
        examples=[
            {
                "metric": "points_earned",
                "at_least": 1000,
                "window": {"kind": "rolling_months", "months": 12},
            }
        ],
    )


class LevelUpdate(Input):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    rank: int | None = Field(default=None, ge=0, le=1000)
    rule: Rule | None = None
    entry_reward_points: int | None = Field(default=None, ge=0, le=POINTS)
    discount_bps: int | None = Field(default=None, ge=0, le=10_000)
    points_multiplier_bps: int | None = Field(default=None, ge=0, le=100_000)
    free_shipping: bool | None = None
    event_discount_bps: int | None = Field(default=None, ge=0, le=10_000)
    birthday_points: int | None = Field(default=None, ge=0, le=POINTS)
    birthday_coupon: str | None = Field(default=None, min_length=1, max_length=100)


class LevelOut(Output):
    id: uuid.UUID
    name: str
    rank: int
    rule: Rule | None
    entry_reward_points: int
    discount_bps: int
    points_multiplier_bps: int
    free_shipping: bool
    event_discount_bps: int
    birthday_points: int
    birthday_coupon: str | None
    created_at: datetime


class LevelList(Output):
    items: list[LevelOut]


class LevelRef(Output):
    id: uuid.UUID
    name: str
    rank: int


class LevelPriceIn(Input):
    price: int = Field(ge=0, le=10**9, description="Minor units, e.g. 8800 for 88.00")


class LevelPriceOut(Output):
    level_id: uuid.UUID
    product_id: uuid.UUID
    price: int
    warnings: list[str] = Field(
        default_factory=list, description="A level price below the product's cost is flagged"
    )


class LevelPriceList(Output):
    items: list[LevelPriceOut]


class PlanCreate(Input):
    name: str = Field(min_length=1, max_length=100, examples=["Black card"])
    level_id: uuid.UUID
    price: int = Field(ge=0, le=10**9, examples=[19900])
    duration_months: int = Field(ge=1, le=120, examples=[12])
    active: bool = True


class PlanUpdate(Input):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    price: int | None = Field(default=None, ge=0, le=10**9)
    duration_months: int | None = Field(default=None, ge=1, le=120)
    active: bool | None = None


class PlanOut(Output):
    id: uuid.UUID
    name: str
    level_id: uuid.UUID
    price: int
    duration_months: int
    active: bool
    created_at: datetime


class PlanList(Output):
    items: list[PlanOut]


class PointsAdjust(Input):
    points: int = Field(
        ge=-POINTS, le=POINTS, description="Positive adds points, negative removes; not zero"
    )
    reason: str = Field(min_length=1, max_length=500)


class PointsRedeem(Input):
    points: int = Field(ge=1, le=POINTS)
    reward: str = Field(min_length=1, max_length=200, description="What the points were spent on")


class PointsReverse(Input):
    reason: str = Field(min_length=1, max_length=500)


class EntryOut(Output):
    id: uuid.UUID
    member_id: uuid.UUID
    kind: Literal["earn", "spend", "expire", "reverse"]
    source: str
    points: int
    balance_after: int
    reverses_id: uuid.UUID | None
    ref: str | None
    reason: str | None
    shortfall: int
    actor: str | None
    at: datetime


class EntryPage(Output):
    items: list[EntryOut]
    next_cursor: str | None


class Expiry(Output):
    expires_at: datetime
    points: int


class PointsBalanceOut(Output):
    member_id: uuid.UUID
    balance: int
    expiring: list[Expiry] = Field(description="The next expiry dates and how many points each")


class MemberLevelOut(Output):
    member_id: uuid.UUID
    level: LevelRef | None
    since: datetime | None
    review_at: datetime | None = Field(description="End of the evaluation period")
    qualified_level: LevelRef | None = Field(description="What the member's activity earns now")
    why: str
    next_level: LevelRef | None
    next_level_needs: str | None


class LevelAssign(Input):
    level_id: uuid.UUID
    reason: str = Field(min_length=1, max_length=500)
    hold_until: UtcDatetime | None = Field(
        default=None, description="Keep the level until then; default: one evaluation period"
    )


class LevelChangeOut(Output):
    id: uuid.UUID
    member_id: uuid.UUID
    from_level: LevelRef | None
    to_level: LevelRef | None
    reason: Literal["qualified", "review", "manual", "plan_granted", "plan_expired"]
    detail: str
    actor: str | None
    at: datetime


class LevelChangePage(Output):
    items: list[LevelChangeOut]
    next_cursor: str | None


class BenefitOut(Output):
    benefit: str
    applies: bool
    value: int | bool | str | None
    why: str


class BenefitsOut(Output):
    member_id: uuid.UUID
    level: LevelRef | None
    benefits: list[BenefitOut]


class PlanGrant(Input):
    plan_id: uuid.UUID
    note: str | None = Field(default=None, max_length=500, description="e.g. paid cash in shop")


class SubscriptionOut(Output):
    id: uuid.UUID
    plan_id: uuid.UUID
    plan_name: str
    status: Literal["active", "expired"]
    starts_at: datetime
    ends_at: datetime


class SubscriptionList(Output):
    items: list[SubscriptionOut]


class PlanPurchaseOut(Output):
    id: uuid.UUID
    member_id: uuid.UUID
    plan_id: uuid.UUID
    plan_name: str
    subscription_id: uuid.UUID
    price: int
    period_start: datetime
    period_end: datetime
    at: datetime


class ProfileOut(Output):
    display_name: str
    phone: str | None
    email: str | None
    birthday: date | None
    joined_at: datetime
    marketing_consent: bool


class ProgressStepOut(Output):
    metric: str = Field(description="points_earned, amount_spent, order_count or paid_plan")
    window: str | None = Field(description="Which activity counts, in words")
    have: int = Field(description="The member's figure (points, minor units, orders, 0/1)")
    need: int
    remaining: int = Field(description="What is still missing; 0 when met")
    met: bool
    progress_bps: int = Field(ge=0, le=10_000)
    text: str


class NextLevelOut(Output):
    level: LevelRef
    rule: str = Field(description="The level's rule in words, with the member's figures")
    progress_bps: int = Field(
        ge=0, le=10_000, description="All of a rule counts its least advanced part, any its most"
    )
    steps: list[ProgressStepOut]


class CardLevelOut(Output):
    level: LevelRef | None
    since: datetime | None
    review_at: datetime | None
    why: str
    next: NextLevelOut | None = Field(
        description="Null when no higher level is reached by activity"
    )


class CardPointsOut(Output):
    balance: int
    expiring: list[Expiry]


class PlanOnSaleOut(Output):
    """A paid plan the member can buy: order its ``product_id`` like any product."""

    plan_id: uuid.UUID
    product_id: uuid.UUID
    name: str
    price: int
    duration_months: int
    level: LevelRef


class MemberCardOut(Output):
    member_id: uuid.UUID
    currency: str
    profile: ProfileOut
    level: CardLevelOut
    points: CardPointsOut
    benefits: list[BenefitOut]
    plans: list[SubscriptionOut]
    plans_on_sale: list[PlanOnSaleOut] = Field(description="Buy one through checkout")


class MyPointsOut(Output):
    balance: int
    expiring: list[Expiry]
    items: list[EntryOut] = Field(description="Points history, newest first")
    next_cursor: str | None
