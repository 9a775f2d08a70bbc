"""The membership program: levels and their benefits, the points ledger, paid plans.

One ``membership_accounts`` row per member holds the cached balance and the current level; it is
also the member's membership lock: every write to a member's points, level or plans locks that
row first, so membership work for one member is serialised and never deadlocks.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, synonym

from tribekit.kit import clock
from tribekit.kit.db import Base, TenantMixin, TenantRow
from tribekit.kit.ledger import LedgerAccount, LedgerEntry
from tribekit.kit.money import PointsRounding


class MembershipSettings(TenantMixin, Base):
    """The merchant's points rules and level review policy; defaults apply until saved."""

    __tablename__ = "membership_settings"

    merchant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("merchants.id", ondelete="CASCADE"), primary_key=True
    )
    points_per_unit: Mapped[int] = mapped_column(Integer, default=1)
    points_rounding: Mapped[PointsRounding] = mapped_column(String(16), default="floor")
    points_expiry_months: Mapped[int] = mapped_column(Integer, default=12)  # 0: never
    review_period: Mapped[str] = mapped_column(String(16), default="rolling")
    review_months: Mapped[int] = mapped_column(Integer, default=12)
    downgrade: Mapped[str] = mapped_column(String(16), default="one_step")
    renewal_reminder_days: Mapped[int] = mapped_column(Integer, default=7)
    # Set when level rules change: the worker then walks every account, in member order after
    # ``upgrade_pass_after``, and lifts those who now qualify higher.
    upgrade_pass_at: Mapped[datetime | None] = mapped_column(index=True)
    upgrade_pass_after: Mapped[uuid.UUID | None]


class Level(TenantRow):
    """A tier. ``rule`` is a qualification rule tree (JSON); NULL means everybody qualifies."""

    __tablename__ = "levels"
    __table_args__ = (
        UniqueConstraint("merchant_id", "rank"),
        UniqueConstraint("merchant_id", "name"),
    )

    name: Mapped[str] = mapped_column(String(100))
    rank: Mapped[int] = mapped_column(Integer)
    rule: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    entry_reward_points: Mapped[int] = mapped_column(Integer, default=0)
    discount_bps: Mapped[int] = mapped_column(Integer, default=0)
    points_multiplier_bps: Mapped[int] = mapped_column(Integer, default=10_000)
    free_shipping: Mapped[bool] = mapped_column(Boolean, default=False)
    event_discount_bps: Mapped[int] = mapped_column(Integer, default=0)
    birthday_points: Mapped[int] = mapped_column(Integer, default=0)
    birthday_coupon: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class LevelPrice(TenantMixin, Base):
    """The price of one product for members of one level ("ladder quotation")."""

    __tablename__ = "level_prices"

    level_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("levels.id", ondelete="CASCADE"), primary_key=True
    )
    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
    )
    price: Mapped[int] = mapped_column(Integer)  # minor units of the merchant's currency


class MembershipAccount(TenantMixin, Base, LedgerAccount):
    """A member's points account for the ledger kernel (``kit/ledger.py``) and their level."""

    __tablename__ = "membership_accounts"
    __table_args__ = (
        CheckConstraint("balance >= 0", name="balance_not_negative"),
        Index(None, "review_at"),
    )

    member_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    balance: Mapped[int] = mapped_column(Integer, default=0)
    level_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("levels.id"))
    level_since: Mapped[datetime | None]
    # End of the evaluation period: the level may drop then, never earlier.
    review_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class PointsEntry(TenantRow, LedgerEntry):
    """One posting. Append-only: corrections are ``reverse`` entries pointing at what they undo."""

    __tablename__ = "points_entries"
    __table_args__ = (
        UniqueConstraint("merchant_id", "idempotency_key"),
        Index(None, "merchant_id", "member_id"),
        Index(None, "member_id", "id"),
    )

    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # earn / spend / expire / reverse
    source: Mapped[str] = mapped_column(String(16))
    points: Mapped[int] = mapped_column(Integer)  # signed change to the balance
    amount: Mapped[int] = synonym("points")  # the ledger kernel's name for it
    balance_after: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    # Several reversals may point at one entry (a partly refunded order gives back part of its
    # points each time); together they never reverse more than the entry posted.
    reverses_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("points_entries.id"), index=True
    )
    ref: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    # Points a reversal could not take back because they were already spent.
    shortfall: Mapped[int] = mapped_column(Integer, default=0)
    actor: Mapped[str | None] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(default=clock.now)


class PointsLot(TenantMixin, Base):
    """The points one earn entry brought, and how many of them are left to spend or expire."""

    __tablename__ = "points_lots"
    __table_args__ = (
        CheckConstraint(
            "remaining >= 0 AND expired >= 0 AND remaining + expired <= points",
            name="remaining_in_range",
        ),
        Index(None, "member_id", "expires_at"),
        Index(None, "expires_at"),
    )

    entry_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("points_entries.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    points: Mapped[int] = mapped_column(Integer)
    remaining: Mapped[int] = mapped_column(Integer)
    expired: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime | None]


class PointsLotUse(TenantMixin, Base):
    """Which lots a spend consumed, so that reversing it puts the points back where they were."""

    __tablename__ = "points_lot_uses"

    entry_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("points_entries.id", ondelete="CASCADE"), primary_key=True
    )
    lot_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("points_lots.entry_id", ondelete="CASCADE"), primary_key=True
    )
    points: Mapped[int] = mapped_column(Integer)


class MemberPurchase(TenantRow):
    """Spend that counts toward levels, posted once per business event (order paid, refunded)."""

    __tablename__ = "member_purchases"
    __table_args__ = (
        UniqueConstraint("merchant_id", "ref"),
        Index(None, "merchant_id", "member_id"),
    )

    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    ref: Mapped[str] = mapped_column(String(200))
    amount: Mapped[int] = mapped_column(Integer)  # minor units; a refund is negative
    orders: Mapped[int] = mapped_column(Integer, default=1)  # +1 paid, -1 fully refunded
    at: Mapped[datetime] = mapped_column(default=clock.now)


class LevelChange(TenantRow):
    """Every level change: from, to, why, when. Read by the robot and by analytics."""

    __tablename__ = "level_changes"
    __table_args__ = (Index(None, "member_id", "id"), Index(None, "merchant_id", "at"))

    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    from_level_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("levels.id"))
    to_level_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("levels.id"))
    reason: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(default=clock.now)


class MembershipPlan(TenantRow):
    """A paid card, e.g. "Black card", 199.00 a year, granting a level while it runs."""

    __tablename__ = "membership_plans"
    __table_args__ = (UniqueConstraint("merchant_id", "name"),)

    name: Mapped[str] = mapped_column(String(100))
    level_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("levels.id"))
    price: Mapped[int] = mapped_column(Integer)
    duration_months: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class PlanSubscription(TenantRow):
    """A member holding a plan from ``starts_at`` to ``ends_at``; each purchase extends it."""

    __tablename__ = "plan_subscriptions"
    __table_args__ = (
        Index(None, "member_id", "plan_id"),
        Index(None, "status", "ends_at"),
        Index(None, "status", "remind_at"),
    )

    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("membership_plans.id"))
    status: Mapped[str] = mapped_column(String(8), default="active")  # active/expired/refunded
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    remind_at: Mapped[datetime | None]  # when to tell the member the plan is about to end
    reminded_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class PlanPurchase(TenantRow):
    """One paid period of a plan, posted once per business event (order line, shop payment)."""

    __tablename__ = "plan_purchases"
    __table_args__ = (
        UniqueConstraint("merchant_id", "ref"),
        CheckConstraint(
            "refunded_periods >= 0 AND refunded_periods <= periods", name="refund_within_periods"
        ),
    )

    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("plan_subscriptions.id", ondelete="CASCADE"), index=True
    )
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    ref: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    price: Mapped[int] = mapped_column(Integer)
    periods: Mapped[int] = mapped_column(Integer, default=1)  # plan durations bought at once
    refunded_periods: Mapped[int] = mapped_column(Integer, default=0)  # of which taken back
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    actor: Mapped[str | None] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(default=clock.now)
