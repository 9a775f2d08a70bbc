"""Campaigns: flash sales, group buys and the schedules that make them (coupons have their own
module, gift packs are products of kind ``bundle`` with ``BundleComponent`` rows).

* ``FlashSale``: a product sold at ``price`` for a short while, ``allotted`` units taken from
  the product's stock when it starts and the rest given back when it ends. ``status``
  ``scheduled -> live -> sold_out | ended`` (or ``cancelled`` before it starts), moved by the
  worker at ``due_at``. ``remaining`` is the SQL engine's counter of units left; the Redis
  engine keeps its own while the sale is live and writes it back when the sale ends.
* ``FlashReservation``: units a member won. ``reserved`` until paid (``paid``) or until
  ``expires_at`` (``expired``: the units go back exactly once, by the conditional update that
  moves the status). ``order_id`` is the order written for it (by the request on the SQL
  engine; from the reservation stream in batches on the Redis engine).
* ``FlashTake``: how many units one member holds in one sale (the SQL engine's per-member
  limit, kept by a conditional upsert).
* ``GroupBuy``: a product or gift pack priced by the size a team reaches (``tiers``: size ->
  unit price per portion). Members join a team (``grouping``: ``team``, opened by an initiator
  who shares its code, or ``address``, one team per delivery address); at ``deadline`` the
  worker closes each team at the tier reached and gives back what anyone paid above it.
* ``GroupBuyTeam``: one team; ``size`` counts its seats and only moves by conditional updates
  (``size < max_size``), so a team never has more than its maximum.
* ``GroupBuyParticipant``: a member's place in a team, with the order that paid for it.
* ``CampaignSchedule``: a rule ("Mon-Thu 20:00 for 2 h") and a template (a flash sale of the
  next product of a rotation, a group buy of a gift pack, a promotion day); each occurrence is
  made once (unique ``(schedule_id, occurrence_key)`` on the campaign rows it makes).
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
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tribekit.kit import clock
from tribekit.kit.db import Base, TenantMixin, TenantRow


class BundleComponent(TenantMixin, Base):
    """One product inside a gift pack (a product of kind ``bundle``), ``quantity`` of it per
    pack. Selling a pack takes every component's stock together, all or nothing."""

    __tablename__ = "bundle_components"
    __table_args__ = (
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint("bundle_id <> product_id", name="not_itself"),
        Index(None, "product_id"),
    )

    bundle_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
    )
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)


class CampaignSchedule(TenantRow):
    __tablename__ = "campaign_schedules"
    __table_args__ = (
        Index(None, "merchant_id", "created_at"),
        Index(None, "active", "due_at"),
    )

    name: Mapped[str] = mapped_column(String(200))
    rule: Mapped[str] = mapped_column(String(200))  # what staff wrote
    cron: Mapped[str] = mapped_column(String(100))  # when each occurrence starts
    duration_seconds: Mapped[int] = mapped_column(Integer)  # how long each occurrence runs
    timezone: Mapped[str] = mapped_column(String(64))  # the merchant's, when it was made
    kind: Mapped[str] = mapped_column(String(16))  # flash_sale | group_buy | promotion_day
    # The template: flash sale (rotation of product ids, price or discount, quantity, limit),
    # group buy (gift pack, tiers, limits, grouping), promotion day (reward multiplier).
    template: Mapped[dict[str, Any]] = mapped_column(JSON)
    rotation_index: Mapped[int] = mapped_column(Integer, default=0)  # the next rotation entry
    community_ids: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: every group
    # Announcement texts by moment (before, start, sold_out, result) and language.
    announcements: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    announce_before_seconds: Mapped[int] = mapped_column(Integer, default=600)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    due_at: Mapped[datetime]  # when the worker next looks ahead
    # Occurrences starting up to here are made (or were let go: paused, changed, missed); the
    # worker makes only later ones, so a change never makes an occurrence twice.
    planned_until: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class PromotionDay(TenantRow):
    """A day (or span) on which fission rewards are multiplied (``reward_multiplier_bps``)."""

    __tablename__ = "promotion_days"
    __table_args__ = (
        UniqueConstraint("schedule_id", "occurrence_key"),
        Index(None, "merchant_id", "starts_at"),
    )

    name: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reward_multiplier_bps: Mapped[int] = mapped_column(Integer, default=20_000)
    community_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    schedule_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("campaign_schedules.id", ondelete="SET NULL")
    )
    occurrence_key: Mapped[str | None] = mapped_column(String(120))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class FlashSale(TenantRow):
    __tablename__ = "flash_sales"
    __table_args__ = (
        UniqueConstraint("schedule_id", "occurrence_key"),
        CheckConstraint("remaining >= 0 AND remaining <= allotted", name="remaining_in_allotment"),
        CheckConstraint("price >= 0", name="price_not_negative"),
        CheckConstraint("per_member_limit >= 1", name="limit_positive"),
        Index(None, "merchant_id", "starts_at"),
        Index(None, "status", "due_at"),
    )

    name: Mapped[str] = mapped_column(String(200))
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"))
    price: Mapped[int] = mapped_column(BigInteger)  # per unit, minor units
    quantity: Mapped[int] = mapped_column(Integer)  # asked for; allotted when it starts
    allotted: Mapped[int] = mapped_column(Integer, default=0)  # taken from stock at start
    remaining: Mapped[int] = mapped_column(Integer, default=0)  # SQL engine: units left
    returned: Mapped[int] = mapped_column(Integer, default=0)  # given back to stock at the end
    per_member_limit: Mapped[int] = mapped_column(Integer, default=2)
    reservation_ttl_seconds: Mapped[int] = mapped_column(Integer, default=600)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    community_ids: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: every group
    level_ids: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: every level
    # scheduled | live | sold_out | ended | cancelled
    status: Mapped[str] = mapped_column(String(10), default="scheduled")
    engine: Mapped[str] = mapped_column(String(8), default="sql")  # sql | redis
    # Announcement texts by moment (``before``, ``start``, ``sold_out``, ``result``) and
    # language; ``announced`` lists the moments whose broadcast was made (each once).
    announcements: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    announced: Mapped[list[str]] = mapped_column(JSON, default=list)
    announce_before_seconds: Mapped[int] = mapped_column(Integer, default=600)
    due_at: Mapped[datetime | None]  # the next start or end the worker acts on
    started_at: Mapped[datetime | None]
    sold_out_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    schedule_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("campaign_schedules.id", ondelete="SET NULL")
    )
    occurrence_key: Mapped[str | None] = mapped_column(String(120))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class FlashReservation(TenantRow):
    __tablename__ = "flash_reservations"
    __table_args__ = (
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        Index(None, "sale_id", "member_id"),
        Index(None, "status", "expires_at"),
        Index(None, "order_id", unique=True),
    )

    sale_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("flash_sales.id", ondelete="CASCADE"))
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[int] = mapped_column(BigInteger)
    # reserved | paid | expired | cancelled
    status: Mapped[str] = mapped_column(String(10), default="reserved")
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orders.id"))
    community_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("communities.id", ondelete="SET NULL")
    )
    stream_id: Mapped[str | None] = mapped_column(String(32))  # the Redis stream entry
    reserved_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime]
    settled_at: Mapped[datetime | None]  # paid, expired or cancelled


class FlashTake(TenantMixin, Base):
    __tablename__ = "flash_takes"
    __table_args__ = (
        CheckConstraint("taken >= 0", name="taken_not_negative"),
        # The sale's per-member limit, copied in: the database itself refuses a take above it.
        CheckConstraint("taken <= cap", name="within_cap"),
    )

    sale_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("flash_sales.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"), primary_key=True)
    taken: Mapped[int] = mapped_column(Integer, default=0)
    cap: Mapped[int] = mapped_column(Integer, server_default="1")  # the sale's per-member limit


class GroupBuy(TenantRow):
    __tablename__ = "group_buys"
    __table_args__ = (
        UniqueConstraint("schedule_id", "occurrence_key"),
        CheckConstraint("min_size >= 1 AND max_size >= min_size", name="sizes"),
        Index(None, "merchant_id", "starts_at"),
        Index(None, "status", "due_at"),
    )

    name: Mapped[str] = mapped_column(String(200))
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"))  # goods or bundle
    # [{"size": 2, "unit_price": 9000}, {"size": 3, "unit_price": 8500}, ...], sizes increasing,
    # prices not increasing; the first size is the minimum a team needs.
    tiers: Mapped[list[Any]] = mapped_column(JSON)
    min_size: Mapped[int] = mapped_column(Integer)
    max_size: Mapped[int] = mapped_column(Integer)
    per_member_limit: Mapped[int] = mapped_column(Integer, default=1)  # portions per member
    grouping: Mapped[str] = mapped_column(String(8), default="team")  # team | address
    # What a joiner pays up front: ``reached`` (the tier the team reaches with them) or
    # ``lowest`` (the smallest tier's price); the difference is given back at close.
    join_price: Mapped[str] = mapped_column(String(8), default="reached")
    starts_at: Mapped[datetime]
    deadline: Mapped[datetime]
    community_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    # scheduled | open | settling (past the deadline, teams being settled) | closed | cancelled
    status: Mapped[str] = mapped_column(String(10), default="scheduled")
    due_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # Announcement texts by moment (``before``, ``start``, ``sold_out``, ``result``) and
    # language; ``announced`` lists the moments whose broadcast was made (each once).
    announcements: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    announced: Mapped[list[str]] = mapped_column(JSON, default=list)
    announce_before_seconds: Mapped[int] = mapped_column(Integer, default=600)
    schedule_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("campaign_schedules.id", ondelete="SET NULL")
    )
    occurrence_key: Mapped[str | None] = mapped_column(String(120))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class GroupBuyTeam(TenantRow):
    __tablename__ = "group_buy_teams"
    __table_args__ = (
        UniqueConstraint("group_buy_id", "address_key"),
        UniqueConstraint("merchant_id", "code"),
        CheckConstraint("size >= 0", name="size_not_negative"),
        Index(None, "group_buy_id", "status"),
        Index(None, "code"),  # the share page finds a team by its code alone
    )

    group_buy_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("group_buys.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(16))  # in the share link
    initiator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"))
    address_key: Mapped[str | None] = mapped_column(String(64))  # grouping by address
    community_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("communities.id", ondelete="SET NULL")
    )
    size: Mapped[int] = mapped_column(Integer, default=0)  # seats taken (portions)
    max_size: Mapped[int] = mapped_column(Integer)
    # open | closing (closed to joins, to be settled) | succeeded | failed
    status: Mapped[str] = mapped_column(String(10), default="open")
    final_unit_price: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    closed_at: Mapped[datetime | None]


class GroupBuyParticipant(TenantRow):
    __tablename__ = "group_buy_participants"
    __table_args__ = (
        CheckConstraint("portions >= 1", name="portions_positive"),
        Index(None, "team_id", "status"),
        Index(None, "group_buy_id", "member_id"),
        Index(None, "order_id", unique=True),
    )

    group_buy_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("group_buys.id", ondelete="CASCADE"))
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("group_buy_teams.id", ondelete="CASCADE"))
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"))
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"))
    portions: Mapped[int] = mapped_column(Integer, default=1)
    unit_price_paid: Mapped[int] = mapped_column(BigInteger)  # what the order charged per portion
    # joined (order placed, unpaid) | paid | left | cancelled (the unpaid order closed) |
    # settled (paid the team's final price) | refunded (team failed, or refunded by staff)
    status: Mapped[str] = mapped_column(String(10), default="joined")
    joined_at: Mapped[datetime] = mapped_column(default=clock.now)
    paid_at: Mapped[datetime | None]
    left_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)
