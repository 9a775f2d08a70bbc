"""Communities: one chat group on one channel, who is in it, and who leads it.

A group the robot is added to appears as ``pending`` (``robot_account_id`` says which robot
found it) until staff confirm it. ``member_count`` is kept live by the join and leave events;
``CommunityMember.left_at`` keeps a member who left (their activity stays theirs).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
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
from tribekit.kit.db import Base, StrEnumText, TenantMixin, TenantRow
from tribekit.models.enums import Channel, CommunityStatus


class Community(TenantRow):
    __tablename__ = "communities"
    __table_args__ = (
        UniqueConstraint("merchant_id", "channel", "external_id"),
        Index(None, "merchant_id", "id"),
        CheckConstraint("member_count >= 0", name="member_count_not_negative"),
    )

    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[Channel] = mapped_column(StrEnumText(Channel, 16))
    external_id: Mapped[str | None] = mapped_column(String(255))  # the chat id on the channel
    status: Mapped[CommunityStatus] = mapped_column(
        StrEnumText(CommunityStatus, 8), default=CommunityStatus.ACTIVE
    )
    robot_account_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("robot_accounts.id", ondelete="SET NULL")
    )
    timezone: Mapped[str | None] = mapped_column(String(64))  # None: the merchant's
    language: Mapped[str] = mapped_column(String(8), default="en")  # en | zh-CN
    welcome_text: Mapped[str | None] = mapped_column(Text)
    rules_text: Mapped[str | None] = mapped_column(Text)
    member_count: Mapped[int] = mapped_column(Integer, default=0)
    #: Whether marketing broadcasts may post here (service messages always may).
    accepts_marketing: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    confirmed_at: Mapped[datetime | None]
    archived_at: Mapped[datetime | None]


class CommunityMember(TenantMixin, Base):
    __tablename__ = "community_members"
    __table_args__ = (Index(None, "member_id"),)

    community_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    joined_at: Mapped[datetime] = mapped_column(default=clock.now)
    left_at: Mapped[datetime | None]  # None while they are in the group
    join_source: Mapped[str | None] = mapped_column(String(64))  # a join page, a link, ...
    last_active_at: Mapped[datetime | None]
    messages: Mapped[int] = mapped_column(Integer, default=0)


class CommunityLeader(TenantRow):
    """Who leads a group: a staff user with the leader role sees this community (and only the
    communities they lead); a member may lead it too (for commission, later)."""

    __tablename__ = "community_leaders"
    __table_args__ = (
        Index(None, "staff_user_id"),
        CheckConstraint(
            "(staff_user_id IS NULL) <> (member_id IS NULL)", name="one_kind_of_leader"
        ),
        UniqueConstraint("community_id", "staff_user_id"),
        UniqueConstraint("community_id", "member_id"),
    )

    community_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE")
    )
    staff_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE")
    )
    member_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE")
    )
    since: Mapped[datetime] = mapped_column(default=clock.now)
