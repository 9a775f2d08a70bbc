"""API shapes of coupons. Amounts are integer minor units; a percent is in basis points."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from tribekit.kit.schemas import Input, Output, UtcDatetime


class CouponFields(Input):
    min_subtotal: int = Field(default=0, ge=0, le=10**9)
    max_discount: int | None = Field(default=None, ge=1, le=10**9)
    starts_at: UtcDatetime | None = None
    ends_at: UtcDatetime | None = None
    usage_limit: int | None = Field(default=None, ge=1, le=10**9)
    per_member_limit: int | None = Field(default=1, ge=1, le=10**6)
    active: bool = True


class CouponCreate(CouponFields):
    code: str = Field(min_length=2, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")
    kind: Literal["percent", "amount"]
    value: int = Field(ge=1, le=10**9, description="Basis points (percent) or minor units")
    product_ids: list[uuid.UUID] | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _sane(self) -> CouponCreate:
        if self.kind == "percent" and self.value > 10_000:
            raise ValueError("value: a percent coupon takes at most 10000 basis points (100 %)")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at: must be after starts_at")
        return self


class CouponUpdate(Input):
    min_subtotal: int | None = Field(default=None, ge=0, le=10**9)
    max_discount: int | None = Field(default=None, ge=1, le=10**9)
    starts_at: UtcDatetime | None = None
    ends_at: UtcDatetime | None = None
    usage_limit: int | None = Field(default=None, ge=1, le=10**9)
    per_member_limit: int | None = Field(default=None, ge=1, le=10**6)
    active: bool | None = None


class CouponOut(Output):
    id: uuid.UUID
    code: str
    kind: str
    value: int
    min_subtotal: int
    max_discount: int | None
    product_ids: list[uuid.UUID] | None
    starts_at: datetime | None
    ends_at: datetime | None
    usage_limit: int | None
    per_member_limit: int | None
    used: int
    active: bool
    created_at: datetime


class CouponPage(Output):
    items: list[CouponOut]
    next_cursor: str | None
