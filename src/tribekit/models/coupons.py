"""Coupons: codes that take money off an order, with a usage limit overall and per member.

``used`` counts redemptions by orders that are not cancelled or expired; it only moves through
conditional updates (``used < usage_limit``), so a limited coupon is never redeemed once too
often, however many members race for the last use.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from tribekit.kit import clock
from tribekit.kit.db import Base, StrEnumText, TenantMixin, TenantRow
from tribekit.models.enums import CouponKind


class Coupon(TenantRow):
    __tablename__ = "coupons"
    __table_args__ = (
        Index(None, "merchant_id", "code", unique=True),
        CheckConstraint(
            "used >= 0 AND (usage_limit IS NULL OR used <= usage_limit)", name="used_within_limit"
        ),
    )

    code: Mapped[str] = mapped_column(String(40))  # stored upper-case
    kind: Mapped[CouponKind] = mapped_column(StrEnumText(CouponKind, 8))
    value: Mapped[int] = mapped_column(Integer)  # bps for percent, minor units for amount
    min_subtotal: Mapped[int] = mapped_column(Integer, default=0)
    max_discount: Mapped[int | None] = mapped_column(Integer)
    product_ids: Mapped[list[Any] | None] = mapped_column(JSON)  # None: every product
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    usage_limit: Mapped[int | None] = mapped_column(Integer)
    per_member_limit: Mapped[int | None] = mapped_column(Integer, default=1)
    used: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class CouponRedemption(TenantMixin, Base):
    __tablename__ = "coupon_redemptions"
    __table_args__ = (Index(None, "coupon_id", "member_id"),)

    coupon_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("coupons.id", ondelete="CASCADE"), primary_key=True
    )
    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    discount: Mapped[int] = mapped_column(BigInteger)
    released: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = mapped_column(default=clock.now)
