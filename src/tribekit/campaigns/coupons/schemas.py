"""API shapes of coupons. Amounts are integer minor units; a percent is in basis points."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from tribekit.kit.schemas import Input, Output, UtcDatetime

IssueMode = Literal["code", "grant", "claim"]
GrantReason = Literal["welcome", "birthday", "referral"]
#: What gave a grant: ``welcome``, ``birthday:2026``, ``referral:<order id>``, ``claim``,
#: ``staff`` or a key staff choose (``staff:<anything>``).
SOURCE_KEY = r"^[A-Za-z0-9:._-]{1,80}$"

_IDS = Field(default=None, max_length=500)


class CouponFields(Input):
    min_subtotal: int = Field(default=0, ge=0, le=10**9)
    max_discount: int | None = Field(default=None, ge=1, le=10**9)
    starts_at: UtcDatetime | None = None
    ends_at: UtcDatetime | None = None
    usage_limit: int | None = Field(default=None, ge=1, le=10**9)
    per_member_limit: int | None = Field(
        default=1,
        ge=1,
        le=10**6,
        description="Uses per member (1 unless given for a code coupon; for a granted or "
        "claimed coupon each grant is one use, and this caps them further only when given)",
    )
    active: bool = True
    stackable: bool = Field(
        default=True, description="False: an order with this coupon takes no other coupon"
    )
    valid_days: int | None = Field(
        default=None,
        ge=1,
        le=3650,
        description="Granted and claimed coupons: valid this many days from issue "
        "(instead of starts_at/ends_at)",
    )
    level_ids: list[uuid.UUID] | None = Field(
        default=None, max_length=100, description="Only members of these levels; None: any"
    )


class CouponCreate(CouponFields):
    code: str = Field(min_length=2, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")
    kind: Literal["percent", "amount"]
    value: int = Field(ge=1, le=10**9, description="Basis points (percent) or minor units")
    product_ids: list[uuid.UUID] | None = Field(
        default=None, max_length=500, description="Products covered (both None: the whole cart)"
    )
    bundle_ids: list[uuid.UUID] | None = Field(
        default=None, max_length=500, description="Gift packs covered (products of kind bundle)"
    )
    issue_mode: IssueMode = Field(
        default="code",
        description="code: members type it; grant: Tribekit or staff give it to members; "
        "claim: members claim it once from a link",
    )
    grant_reason: GrantReason | None = Field(
        default=None, description="grant coupons: given by itself on this occasion"
    )

    @model_validator(mode="after")
    def _sane(self) -> CouponCreate:
        if self.kind == "percent" and self.value > 10_000:
            raise ValueError("value: a percent coupon takes at most 10000 basis points (100 %)")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at: must be after starts_at")
        if self.issue_mode != "code" and "per_member_limit" not in self.model_fields_set:
            self.per_member_limit = None  # each grant is one use
        return self


class CouponUpdate(Input):
    min_subtotal: int | None = Field(default=None, ge=0, le=10**9)
    max_discount: int | None = Field(default=None, ge=1, le=10**9)
    starts_at: UtcDatetime | None = None
    ends_at: UtcDatetime | None = None
    usage_limit: int | None = Field(default=None, ge=1, le=10**9)
    per_member_limit: int | None = Field(default=None, ge=1, le=10**6)
    active: bool | None = None
    stackable: bool | None = None
    valid_days: int | None = Field(default=None, ge=1, le=3650)
    product_ids: list[uuid.UUID] | None = _IDS
    bundle_ids: list[uuid.UUID] | None = _IDS
    level_ids: list[uuid.UUID] | None = Field(default=None, max_length=100)
    grant_reason: GrantReason | None = None


class CouponOut(Output):
    id: uuid.UUID
    code: str
    kind: str
    value: int
    min_subtotal: int
    max_discount: int | None
    product_ids: list[uuid.UUID] | None
    bundle_ids: list[uuid.UUID] | None
    level_ids: list[uuid.UUID] | None
    starts_at: datetime | None
    ends_at: datetime | None
    valid_days: int | None
    usage_limit: int | None
    per_member_limit: int | None
    used: int
    active: bool
    stackable: bool
    issue_mode: IssueMode
    grant_reason: GrantReason | None
    created_at: datetime


class CouponPage(Output):
    items: list[CouponOut]
    next_cursor: str | None


# ---- grants and claims -----------------------------------------------------------------------


class GrantIn(Input):
    member_ids: list[uuid.UUID] = Field(min_length=1, max_length=1000)
    source_key: str = Field(
        default="staff",
        pattern=SOURCE_KEY,
        description="What the grant is for; a member gets one grant per key (give another "
        "key, e.g. staff:2026-12-apology, to give it again)",
    )


class GrantOut(Output):
    id: uuid.UUID
    coupon_id: uuid.UUID
    member_id: uuid.UUID
    source_key: str
    valid_from: datetime
    valid_until: datetime | None
    order_id: uuid.UUID | None
    granted_at: datetime


class GrantsMade(Output):
    granted: list[GrantOut]
    already: list[uuid.UUID] = Field(description="Members who had this grant already")


class GrantPage(Output):
    items: list[GrantOut]
    next_cursor: str | None


class ClaimLinkOut(Output):
    token: str = Field(description="Members claim the coupon once with it")
    url: str | None = Field(description="The member page that claims it (None without public_url)")


class ClaimIn(Input):
    token: str = Field(min_length=8, max_length=300, description="From the coupon's claim link")


class MyCouponOut(Output):
    """A coupon given to the member: how much it takes off, when it can be used, and whether
    it is used (by which order)."""

    grant_id: uuid.UUID
    coupon_id: uuid.UUID
    code: str
    kind: str
    value: int
    min_subtotal: int
    max_discount: int | None
    stackable: bool
    source_key: str
    valid_from: datetime = Field(description="From when it can be used (the coupon's dates too)")
    valid_until: datetime | None = Field(description="Until when; None: no end")
    used: bool
    order_id: uuid.UUID | None
    usable_now: bool = Field(description="Not used, within its validity, and the coupon active")


class MyCouponPage(Output):
    items: list[MyCouponOut]
    next_cursor: str | None
