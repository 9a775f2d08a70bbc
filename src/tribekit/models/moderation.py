"""Moderation: the policies groups follow, the merchant's one ban list, strikes, the moderation
log, and keyword auto-replies.

* ``ModerationPolicy``: the merchant's policy (``community_id`` null) and per-community
  overrides merged over it (``robot/moderation/policy.py`` is its shape); ``version`` moves on
  every change so compiled engines are rebuilt.
* ``Ban``: one ban list per merchant. A ban applies to every community on every channel; at
  most one is in force per member; lifting it (``lifted_at``) undoes it everywhere.
* ``Strike``: one rule broken once; escalation counts a member's strikes in a window.
* ``ModerationEntry``: who, what (an excerpt), which rule, which action, where, by the robot
  or which staff member; undone (once) and reviewed (once) from the API.
* ``AutoReply``: keyword replies / FAQ, per community or merchant-wide.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from tribekit.kit import clock
from tribekit.kit.db import TenantRow

_OPEN_BAN = text("lifted_at IS NULL")
_MERCHANT_WIDE = text("community_id IS NULL")


class ModerationPolicy(TenantRow):
    __tablename__ = "moderation_policies"
    __table_args__ = (
        Index(
            "ix_moderation_policies_merchant_wide",
            "merchant_id",
            unique=True,
            sqlite_where=_MERCHANT_WIDE,
            postgresql_where=_MERCHANT_WIDE,
        ),
        Index(None, "merchant_id", "community_id", unique=True),
    )

    community_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE")
    )
    rules: Mapped[dict[str, Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_by: Mapped[str | None] = mapped_column(String(100))


class Ban(TenantRow):
    __tablename__ = "bans"
    __table_args__ = (
        Index(
            "ix_bans_one_in_force",
            "merchant_id",
            "member_id",
            unique=True,
            sqlite_where=_OPEN_BAN,
            postgresql_where=_OPEN_BAN,
        ),
        Index(None, "merchant_id", "at"),
    )

    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    rule: Mapped[str | None] = mapped_column(String(32))  # None: banned by hand
    reason: Mapped[str] = mapped_column(String(300))
    banned_by: Mapped[str] = mapped_column(String(100))  # "robot" or the staff actor
    at: Mapped[datetime] = mapped_column(default=clock.now)
    until: Mapped[datetime | None]  # None: until lifted; else the platforms lift it then
    lifted_at: Mapped[datetime | None]
    lifted_by: Mapped[str | None] = mapped_column(String(100))


class Strike(TenantRow):
    __tablename__ = "strikes"
    __table_args__ = (Index(None, "merchant_id", "member_id", "at"),)

    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    community_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("communities.id", ondelete="SET NULL")
    )
    rule: Mapped[str] = mapped_column(String(32))
    entry_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("moderation_entries.id", ondelete="SET NULL")
    )
    at: Mapped[datetime] = mapped_column(default=clock.now)


class ModerationEntry(TenantRow):
    __tablename__ = "moderation_entries"
    __table_args__ = (
        Index(None, "merchant_id", "at"),
        Index(None, "merchant_id", "member_id"),
        Index(None, "merchant_id", "community_id", "at"),
    )

    community_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("communities.id", ondelete="SET NULL")
    )
    member_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    event_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("robot_events.id", ondelete="SET NULL")
    )
    message_id: Mapped[str | None] = mapped_column(String(64))  # on the channel
    rule: Mapped[str | None] = mapped_column(String(32))  # None: a staff decision
    action: Mapped[str] = mapped_column(String(16))  # delete / warn / mute / kick / ban / unban
    excerpt: Mapped[str | None] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(100))  # "robot" or the staff actor
    at: Mapped[datetime] = mapped_column(default=clock.now)
    undone_at: Mapped[datetime | None]
    undone_by: Mapped[str | None] = mapped_column(String(100))
    # The ban this entry made, so that undoing it lifts that ban and no later one.
    ban_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("bans.id", ondelete="SET NULL"))
    review: Mapped[str | None] = mapped_column(String(16))  # staff's verdict: fine / confirmed
    reviewed_at: Mapped[datetime | None]
    reviewed_by: Mapped[str | None] = mapped_column(String(100))


class AutoReply(TenantRow):
    __tablename__ = "auto_replies"
    __table_args__ = (Index(None, "merchant_id", "community_id"),)

    community_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE")
    )
    match: Mapped[str] = mapped_column(String(8))  # exact / contains / regex
    pattern: Mapped[str] = mapped_column(String(300))
    reply: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
