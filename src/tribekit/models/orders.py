"""Orders and what hangs off them: lines, payments, refunds; the checkout settings; the
idempotency store of state-changing API calls.

An order's status only moves through conditional updates (``WHERE status = <expected>``), so a
transition happens once however many requests race for it; whatever a transition gives back
(stock, held points) is given back by the request that won it, exactly once.
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
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tribekit.kit import clock
from tribekit.kit.db import Base, StrEnumText, TenantMixin, TenantRow
from tribekit.kit.money import Rounding
from tribekit.models.enums import (
    Fulfilment,
    OrderStatus,
    PaymentStatus,
    ProductKind,
    RefundProviderStatus,
)


class CheckoutSettings(TenantMixin, Base):
    """The merchant's checkout and pricing rules; defaults apply until saved."""

    __tablename__ = "checkout_settings"

    merchant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("merchants.id", ondelete="CASCADE"), primary_key=True
    )
    unpaid_ttl_minutes: Mapped[int] = mapped_column(Integer, default=30)
    rounding: Mapped[Rounding] = mapped_column(String(16), default="half_even")
    coupon_on_campaign_price: Mapped[bool] = mapped_column(Boolean, default=False)
    coupon_on_level_price: Mapped[bool] = mapped_column(Boolean, default=True)
    coupons_combine: Mapped[bool] = mapped_column(Boolean, default=False)
    # A refunded order gives its coupon uses back (a cancelled or expired one always does).
    coupon_returned_on_refund: Mapped[bool] = mapped_column(Boolean, default=True)
    points_per_currency_unit_redeemed: Mapped[int] = mapped_column(Integer, default=100)
    points_cap_bps: Mapped[int] = mapped_column(Integer, default=5_000)
    total_floor: Mapped[int] = mapped_column(BigInteger, default=0)
    shipping_fee: Mapped[int] = mapped_column(Integer, default=0)
    store_pickup_address: Mapped[str | None] = mapped_column(String(300))


class PickupPoint(TenantRow):
    """Where a group's orders can be collected: the shop, or a community leader's point."""

    __tablename__ = "pickup_points"
    __table_args__ = (UniqueConstraint("merchant_id", "name"),)

    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300))
    leader_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Order(TenantRow):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("merchant_id", "number"),
        CheckConstraint("total >= 0", name="total_not_negative"),
        CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= total", name="refund_within_total"
        ),
        Index(None, "merchant_id", "member_id", "id"),
        Index(None, "merchant_id", "status", "id"),
        Index(None, "merchant_id", "community_id", "id"),
        Index(None, "expires_at"),
    )

    number: Mapped[str] = mapped_column(String(20))
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"))
    # The moves between statuses: orders/transitions.py.
    status: Mapped[OrderStatus] = mapped_column(
        StrEnumText(OrderStatus, 12), default=OrderStatus.PLACED
    )
    currency: Mapped[str] = mapped_column(String(3))
    undiscounted_subtotal: Mapped[int] = mapped_column(BigInteger)
    subtotal: Mapped[int] = mapped_column(BigInteger)
    coupon_discount: Mapped[int] = mapped_column(BigInteger, default=0)
    coupon_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    points_redeemed: Mapped[int] = mapped_column(Integer, default=0)
    points_discount: Mapped[int] = mapped_column(BigInteger, default=0)
    points_hold_entry_id: Mapped[uuid.UUID | None]  # the spend entry holding redeemed points
    shipping: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int] = mapped_column(BigInteger)
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    points_to_earn: Mapped[int] = mapped_column(Integer, default=0)
    why: Mapped[list[str]] = mapped_column(JSON, default=list)  # the price explanation
    # Attribution: where the buyer came from.
    channel: Mapped[str] = mapped_column(String(16))
    community_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("communities.id", ondelete="SET NULL")
    )
    referral_code: Mapped[str | None] = mapped_column(String(64))
    referrer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    campaign_id: Mapped[uuid.UUID | None]
    # Fulfilment: store_pickup | leader_pickup | delivery.
    fulfilment: Mapped[Fulfilment] = mapped_column(StrEnumText(Fulfilment, 16))
    pickup_point_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("pickup_points.id"))
    address: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    address_key: Mapped[str | None] = mapped_column(String(64))  # same address, same key
    note: Mapped[str | None] = mapped_column(Text)
    placed_by: Mapped[str] = mapped_column(String(80))
    placed_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime | None]  # unpaid orders are released then
    paid_at: Mapped[datetime | None]
    fulfilled_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]  # cancelled or expired
    close_reason: Mapped[str | None] = mapped_column(String(300))


class OrderLine(TenantRow):
    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint(
            "refunded_quantity >= 0 AND refunded_quantity <= quantity", name="refund_quantity"
        ),
        CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= total", name="refund_within_total"
        ),
        Index(None, "order_id"),
        Index(None, "merchant_id", "product_id"),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    line_no: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[ProductKind] = mapped_column(StrEnumText(ProductKind, 8))
    quantity: Mapped[int] = mapped_column(Integer)
    regular_unit_price: Mapped[int] = mapped_column(BigInteger)
    unit_price: Mapped[int] = mapped_column(BigInteger)
    price_source: Mapped[str] = mapped_column(String(16))
    base_total: Mapped[int] = mapped_column(BigInteger)
    coupon_discount: Mapped[int] = mapped_column(BigInteger, default=0)
    points_discount: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int] = mapped_column(BigInteger)
    refunded_quantity: Mapped[int] = mapped_column(Integer, default=0)
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    # Events: attended | no_show, recorded at check-in.
    attendance: Mapped[str | None] = mapped_column(String(8))
    checked_in_at: Mapped[datetime | None]
    unit_cost: Mapped[int | None] = mapped_column(BigInteger)  # cost price when ordered (margin)


class Payment(TenantRow):
    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("provider", "provider_ref"),
        Index(None, "order_id"),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[PaymentStatus] = mapped_column(
        StrEnumText(PaymentStatus, 10), default=PaymentStatus.PENDING
    )
    provider_ref: Mapped[str | None] = mapped_column(String(255))
    captured_ref: Mapped[str | None] = mapped_column(String(255))
    redirect_url: Mapped[str | None] = mapped_column(Text)
    instructions: Mapped[str | None] = mapped_column(Text)
    confirmed_by: Mapped[str | None] = mapped_column(String(80))
    reference: Mapped[str | None] = mapped_column(String(200))  # e.g. a bank transfer reference
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    settled_at: Mapped[datetime | None]


class PaymentEvent(Base):
    """A provider's webhook event, stored once: a replayed event finds its row and does nothing."""

    __tablename__ = "payment_events"

    provider: Mapped[str] = mapped_column(String(16), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    payment_id: Mapped[uuid.UUID | None]
    outcome: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(default=clock.now)


class Refund(TenantRow):
    """Money given back on an order. Stock, points and spend move in the refund's transaction;
    the provider's part (Stripe) is a durable request on this row, performed by the worker
    after commit (``provider_status``: not_needed | pending | succeeded | failed)."""

    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        Index(None, "order_id"),
        Index(None, "provider_next_at"),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    payment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payments.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    points_returned: Mapped[int] = mapped_column(Integer, default=0)
    points_reversed: Mapped[int] = mapped_column(Integer, default=0)
    restock: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(String(300))
    provider_ref: Mapped[str | None] = mapped_column(String(255))
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    # The provider's part: not_needed (nothing was paid, or nothing to give back), pending
    # (the worker calls the provider at provider_next_at), succeeded, failed (shown to staff).
    provider_status: Mapped[RefundProviderStatus] = mapped_column(
        StrEnumText(RefundProviderStatus, 12), default=RefundProviderStatus.NOT_NEEDED
    )
    provider_attempts: Mapped[int] = mapped_column(Integer, default=0)
    provider_next_at: Mapped[datetime | None]  # due for the next attempt; NULL once settled
    provider_error: Mapped[str | None] = mapped_column(Text)  # the last failure, for staff
    provider_settled_at: Mapped[datetime | None]


class RefundLine(TenantMixin, Base):
    __tablename__ = "refund_lines"

    refund_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("refunds.id", ondelete="CASCADE"), primary_key=True
    )
    order_line_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("order_lines.id", ondelete="CASCADE"), primary_key=True
    )
    quantity: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)


class OrderEvent(TenantRow):
    """What happened to an order: placed, paid, fulfilled, completed, cancelled, expired,
    refunded. Append-only. ``data`` is the kind's typed payload (``orders/events.py``) at
    ``version``. Other domains (fission, the robot, analytics) read the stream by ``position``,
    which the sequencer gives each event after its transaction committed, in commit order (the
    uuid7 ``id`` is taken before commit, so a cursor on it could skip a late commit)."""

    __tablename__ = "order_events"
    __table_args__ = (
        Index(None, "merchant_id", "id"),
        Index(None, "order_id"),
        Index(None, "position", unique=True),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(SmallInteger, default=1)
    position: Mapped[int | None] = mapped_column(BigInteger)  # NULL until sequenced
    amount: Mapped[int] = mapped_column(BigInteger, default=0)  # paid or refunded, minor units
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    actor: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime] = mapped_column(default=clock.now)


class EventConsumer(Base):
    """How far one consumer of the order event stream got (the last ``position`` it handled).
    A worker claims the row (``FOR UPDATE SKIP LOCKED``) for the batch it handles, so any number
    of workers run a consumer and each event is handled once."""

    __tablename__ = "event_consumers"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)


class IdempotencyRecord(TenantMixin, Base):
    """The stored answer to a state-changing call, kept 24 h per merchant, caller and key."""

    __tablename__ = "idempotency_records"

    merchant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("merchants.id", ondelete="CASCADE"), primary_key=True
    )
    caller: Mapped[str] = mapped_column(String(80), primary_key=True)
    key: Mapped[str] = mapped_column(String(150), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(index=True)
