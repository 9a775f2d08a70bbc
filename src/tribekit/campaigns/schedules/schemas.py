"""API shapes of campaign schedules and the campaign calendar."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from tribekit.campaigns.group_buys.spec import Tier
from tribekit.kit.schemas import Input, Output

from . import templates

RULE_EXAMPLES = [
    "Mon-Thu 20:00 for 2 h",
    "Fri 20:00-23:00",
    "1st of the month",
    "last day of the month 18:00 for 3 h",
    "周一至周四 20:00 持续2小时",
    "周五 20:00-23:00",
    "每月1日",
]
Texts = dict[str, dict[str, str]]
_TEXTS: Any = Field(
    default_factory=dict,
    description="by moment (before, start, sold_out for flash sales, result for group buys) "
    "and language (en, zh-CN); a text may name {name}, {product}, {price}, {starts}, {ends}, "
    "{minutes}, {tiers}, {deadline}, {results}... as its kind has them; a moment without "
    "texts is announced with the defaults",
    examples=[{"start": {"en": "{product} at {price}, go!", "zh-CN": "{product} 仅售 {price}"}}],
)


class FlashTemplateIn(Input):
    kind: Literal["flash_sale"]
    product_ids: list[uuid.UUID] = Field(
        min_length=1,
        max_length=templates.ROTATION_MAX,
        description="the rotation: each occurrence sells the next product, then the first again",
    )
    price: int | None = Field(default=None, ge=0, description="minor units; or discount_bps")
    discount_bps: int | None = Field(
        default=None, ge=1, le=9_999, description="off each product's price (2000 = 20 %)"
    )
    quantity: int = Field(ge=1, le=1_000_000)
    per_member_limit: int = Field(default=2, ge=1)
    reservation_ttl_seconds: int = Field(default=600, ge=60, le=86_400)
    level_ids: list[uuid.UUID] = Field(default_factory=list, description="empty: every level")

    def to_template(self) -> templates.FlashTemplate:
        return templates.FlashTemplate(
            product_ids=tuple(self.product_ids),
            quantity=self.quantity,
            price=self.price,
            discount_bps=self.discount_bps,
            per_member_limit=self.per_member_limit,
            reservation_ttl_seconds=self.reservation_ttl_seconds,
            level_ids=tuple(self.level_ids),
        )


class TierIn(Input):
    size: int = Field(ge=1, le=templates.SIZE_MAX)
    unit_price: int = Field(ge=0, description="per portion, minor units")


class GroupBuyTemplateIn(Input):
    kind: Literal["group_buy"]
    product_id: uuid.UUID = Field(description="goods or a gift pack")
    tiers: list[TierIn] = Field(
        min_length=1,
        max_length=templates.TIERS_MAX,
        examples=[[{"size": 2, "unit_price": 9000}, {"size": 5, "unit_price": 7500}]],
    )
    max_size: int | None = Field(default=None, ge=1, description="null: the largest tier's size")
    per_member_limit: int = Field(default=1, ge=1)
    grouping: Literal["team", "address"] = "team"
    join_price: Literal["reached", "lowest"] = "reached"

    def to_template(self) -> templates.GroupBuyTemplate:
        return templates.GroupBuyTemplate(
            product_id=self.product_id,
            tiers=tuple(Tier(t.size, t.unit_price) for t in self.tiers),
            max_size=self.max_size,
            per_member_limit=self.per_member_limit,
            grouping=self.grouping,
            join_price=self.join_price,
        )


class PromotionTemplateIn(Input):
    kind: Literal["promotion_day"]
    reward_multiplier_bps: int = Field(
        default=20_000, description="fission rewards times this / 10000 (20000: doubled)"
    )

    def to_template(self) -> templates.PromotionTemplate:
        return templates.PromotionTemplate(self.reward_multiplier_bps)


TemplateIn = Annotated[
    FlashTemplateIn | GroupBuyTemplateIn | PromotionTemplateIn, Field(discriminator="kind")
]


class CampaignScheduleIn(Input):
    name: str = Field(min_length=1, max_length=200, examples=["Weeknight flash sale"])
    rule: str = Field(
        min_length=1,
        max_length=200,
        examples=RULE_EXAMPLES,
        description="when each occurrence starts and how long it runs, in words, in the "
        "merchant's timezone: a start as scheduled posts write it, then 'for 2 h', an end "
        "('Fri 20:00-23:00') or nothing for all day ('1st of the month')",
    )
    template: TemplateIn
    community_ids: list[uuid.UUID] = Field(
        default_factory=list, description="where it is sold and announced; empty: every group"
    )
    announcements: Texts = _TEXTS
    announce_before_seconds: int = Field(
        default=600, ge=0, description="how long before the start the first announcement goes"
    )
    active: bool = True


class CampaignScheduleUpdate(Input):
    """Only the fields sent change; they reach the occurrences not made yet."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    rule: str | None = Field(default=None, min_length=1, max_length=200)
    template: TemplateIn | None = None
    community_ids: list[uuid.UUID] | None = None
    announcements: Texts | None = None
    announce_before_seconds: int | None = Field(default=None, ge=0)
    active: bool | None = None

    @model_validator(mode="after")
    def _not_null(self) -> CampaignScheduleUpdate:
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} may be changed but not set to null")
        return self


class ComingOut(Output):
    key: str = Field(examples=["2026-12-07T20:00@Asia/Shanghai"])
    starts_at: datetime
    ends_at: datetime
    local_start: str = Field(examples=["2026-12-07T20:00"], description="the merchant's clock")
    campaign_id: uuid.UUID | None = Field(description="the campaign made; null: not made yet")
    status: str = Field(description="the campaign's status, or 'planned'")
    product_id: uuid.UUID | None


class CampaignScheduleOut(Output):
    id: uuid.UUID
    name: str
    rule: str
    words: dict[str, str] = Field(
        description="the rule said back, per language",
        examples=[{"en": "every Monday to Thursday at 20:00, for 2 h"}],
    )
    kind: Literal["flash_sale", "group_buy", "promotion_day"]
    cron: str
    duration_seconds: int
    timezone: str
    template: dict[str, Any]
    rotation_index: int = Field(description="the rotation entry the next occurrence takes")
    community_ids: list[uuid.UUID]
    announcements: Texts
    announce_before_seconds: int
    active: bool
    version: int
    due_at: datetime
    planned_until: datetime | None = Field(description="occurrences up to here are made")
    created_by: str
    created_at: datetime
    updated_at: datetime
    coming: list[ComingOut]


class CampaignSchedulePage(Output):
    items: list[CampaignScheduleOut]
    next_cursor: str | None


class CalendarCampaignOut(Output):
    kind: Literal["flash_sale", "group_buy", "promotion_day"]
    campaign_id: uuid.UUID | None = Field(description="null: a schedule's, not made yet")
    schedule_id: uuid.UUID | None
    name: str
    starts_at: datetime
    ends_at: datetime
    local_start: str
    status: str = Field(description="the campaign's status, or 'planned'")
    product_id: uuid.UUID | None


class CalendarPostOut(Output):
    at: datetime
    local_at: str
    name: str
    status: Literal["scheduled", "sending", "done", "planned"]
    marketing: bool
    broadcast_id: uuid.UUID | None
    schedule_id: uuid.UUID | None = Field(description="the scheduled post's, if one made it")
    campaign_id: uuid.UUID | None = Field(description="the campaign it announces, if any")
    moment: str | None = Field(description="the announcement's moment (planned ones)")


class CalendarDirectOut(Output):
    day: date
    schedule_id: uuid.UUID
    name: str
    count: int


class CalendarCommunityOut(Output):
    community_id: uuid.UUID
    name: str
    channel: str
    timezone: str
    monthly_mass_messages: int | None
    campaigns: list[CalendarCampaignOut]
    posts: list[CalendarPostOut] = Field(
        description="scheduled posts, broadcasts and campaign announcements, made or planned"
    )
    direct_messages: list[CalendarDirectOut]


class CalendarWarningOut(Output):
    code: Literal["monthly_quota_exceeded"] = "monthly_quota_exceeded"
    community_id: uuid.UUID
    community_name: str
    channel: str
    month: str
    planned: int
    quota: int
    message: str


class CampaignCalendarOut(Output):
    start: datetime
    end: datetime
    communities: list[CalendarCommunityOut]
    warnings: list[CalendarWarningOut]
