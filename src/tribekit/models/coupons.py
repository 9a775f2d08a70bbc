"""Coupons: codes that take money off an order, with a usage limit overall and per member.

A coupon reaches members in one of three ways (``issue_mode``): a ``code`` they type, a
``grant`` Tribekit gives them (a welcome, birthday or referral gift: ``grant_reason``), or a
``claim`` from a link. A granted or claimed coupon is the member's own ``CouponGrant``, valid
from when it was issued for ``valid_days`` (or within the coupon's fixed dates).

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
    UniqueConstraint,
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
        Index(None, "grants_due_at"),
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
    per_member_limit: Mapped[int | None] = mapped_column(Integer)  # None: no limit per member
    used: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    issue_mode: Mapped[str] = mapped_column(String(8), default="code")  # code | grant | claim
    grant_reason: Mapped[str | None] = mapped_column(String(16))  # welcome | birthday | referral
    valid_days: Mapped[int | None] = mapped_column(Integer)  # from issue; None: fixed dates
    stackable: Mapped[bool] = mapped_column(Boolean, default=True)  # with other coupons
    bundle_ids: Mapped[list[Any] | None] = mapped_column(JSON)  # gift packs; None: any
    level_ids: Mapped[list[Any] | None] = mapped_column(JSON)  # member levels; None: any
    # When the birthday sweep next grants this coupon (grant_reason birthday): the start of the
    # merchant's next day, or now for a coupon just made or turned on. None: never swept.
    grants_due_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class CouponGrant(TenantRow):
    """A coupon given to one member (granted or claimed): theirs to use from ``valid_from``
    until ``valid_until``. ``source_key`` names what gave it (``welcome``, ``birthday:2026``,
    ``referral:<order id>``, ``claim``), unique per coupon and member, so a gift is given once."""

    __tablename__ = "coupon_grants"
    __table_args__ = (
        UniqueConstraint("coupon_id", "member_id", "source_key"),
        Index(None, "merchant_id", "member_id"),
    )

    coupon_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("coupons.id", ondelete="CASCADE"))
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    source_key: Mapped[str] = mapped_column(String(80))
    valid_from: Mapped[datetime]
    valid_until: Mapped[datetime | None]
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))
    granted_at: Mapped[datetime] = mapped_column(default=clock.now)


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
