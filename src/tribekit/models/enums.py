"""Closed vocabularies shared by several tables. Stored as plain strings (``kit.db.StrEnumText``
columns read them back as the enum) so that adding a value is a code change, not a schema
migration."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    OPERATOR = "operator"
    LEADER = "leader"
    ANALYST = "analyst"


class Channel(StrEnum):
    TELEGRAM = "telegram"
    MATRIX = "matrix"
    WECOM = "wecom"
    WEB = "web"


class OrderStatus(StrEnum):
    """Where an order is in its life; the moves between them are ``orders/transitions.py``."""

    PLACED = "placed"
    PAID = "paid"
    FULFILLED = "fulfilled"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REFUNDED = "refunded"


class PaymentStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    EXPIRED = "expired"


class RefundProviderStatus(StrEnum):
    """Where a refund's money is at the provider (``not_needed`` for manual payments)."""

    NOT_NEEDED = "not_needed"
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Fulfilment(StrEnum):
    STORE_PICKUP = "store_pickup"
    LEADER_PICKUP = "leader_pickup"
    DELIVERY = "delivery"


class MemberSource(StrEnum):
    STORE_QR = "store_qr"
    EVENT = "event"
    REFERRAL = "referral"
    IMPORT = "import"
    CHANNEL = "channel"
    MANUAL = "manual"


class ProductKind(StrEnum):
    GOODS = "goods"
    EVENT = "event"  # a ticket: stock is the free seats
    PLAN = "plan"  # a paid membership plan sold through checkout (``products.plan_id``)
    BUNDLE = "bundle"  # a gift pack: its components' stock is taken (``bundle_components``)


class CouponKind(StrEnum):
    PERCENT = "percent"  # value in basis points
    AMOUNT = "amount"  # value in minor units


class CommunityStatus(StrEnum):
    """A group the robot found is ``pending`` until staff confirm it; nothing is moderated or
    sent in a group that is not ``active``."""

    PENDING = "pending"
    ACTIVE = "active"
    ARCHIVED = "archived"


class ActionStatus(StrEnum):
    """Where a durable robot action is (``models/robot.py``)."""

    PENDING = "pending"  # due at ``due_at``; claimed by the worker
    DONE = "done"
    FAILED = "failed"  # refused by the platform, or out of attempts
    CANCELLED = "cancelled"  # undone before it ran (an unban before the ban went out)


class ActionKind(StrEnum):
    """What the robot does in a group (``robot/channels/base.py`` carries them out)."""

    SEND = "send"
    REPLY = "reply"
    DELETE = "delete"
    RESTRICT = "restrict"  # mute until a time
    UNRESTRICT = "unrestrict"
    KICK = "kick"  # remove; may come back
    BAN = "ban"  # remove and keep out
    UNBAN = "unban"
    PIN = "pin"
    ANSWER_BUTTON = "answer_button"
    LEAVE = "leave"  # the robot leaves the group (a refused group)
