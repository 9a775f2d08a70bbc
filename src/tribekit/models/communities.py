"""Communities: one chat group on one channel, and which members are in it."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tribekit.kit import clock
from tribekit.kit.db import Base, TenantMixin, TenantRow


class Community(TenantRow):
    __tablename__ = "communities"
    __table_args__ = (
        UniqueConstraint("merchant_id", "channel", "external_id"),
        Index(None, "merchant_id", "id"),
    )

    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str | None] = mapped_column(String(255))  # the chat id on the channel
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


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
