"""Activity of each community, per day in the community's timezone: what analytics reads (a
member who posts is "activated"). ``CommunityDay`` counts messages, joins, leaves and moderation
actions; ``MemberDay`` is one row per member who posted that day (its count is the day's active
members) with their messages."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import Date, ForeignKey, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from tribekit.kit.db import Base, TenantMixin


class CommunityDay(TenantMixin, Base):
    __tablename__ = "community_days"
    __table_args__ = (Index(None, "merchant_id", "day"),)

    community_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    messages: Mapped[int] = mapped_column(Integer, default=0)
    joins: Mapped[int] = mapped_column(Integer, default=0)
    leaves: Mapped[int] = mapped_column(Integer, default=0)
    moderation_actions: Mapped[int] = mapped_column(Integer, default=0)


class MemberDay(TenantMixin, Base):
    __tablename__ = "community_member_days"
    __table_args__ = (Index(None, "member_id", "day"),)

    community_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    member_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    messages: Mapped[int] = mapped_column(Integer, default=0)
