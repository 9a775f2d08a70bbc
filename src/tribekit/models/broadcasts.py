"""Broadcasts and scheduled posts: the robot's voice to many groups (or members) at once.

* ``Broadcast``: what to say (``content``: a text per language, buttons, an image), to whom
  (``audience``: listed communities, every active community, or members for direct messages:
  listed by id, or chosen by community, tag and level), when (``send_at``), and whether it is
  marketing (then only groups that accept marketing and members with recorded consent get it).
  ``status``: ``scheduled`` until its time, ``sending`` once its deliveries are written,
  ``done`` when none is pending, or ``cancelled`` (the deliveries not yet sent are cancelled
  with it). A broadcast
  made by a schedule names it and its occurrence (``occurrence_key``), unique together: each
  occurrence becomes one broadcast, whichever worker gets there first.
* ``BroadcastDelivery``: one message to one group or one member: a durable row with a due
  time, claimed by the worker, sent within the channel's limits, retried with backoff and the
  platform's ``retry_after``; ``status`` pending -> sent | failed | cancelled | skipped (no
  consent when it came to be sent). One per (broadcast, community) and (broadcast, member).
* ``PostSchedule``: a recurring post in a group's weekly rhythm. ``rule`` is what staff wrote
  ("Mon-Thu 19:50", "every Friday 20:00", "1st of the month 09:00", "3 days after a member
  joins"); ``cron`` is its croniter expression. A rule counted from a member's join keeps
  ``after_join_seconds``, and ``cron`` only where it names a time of day ("1 day after a member
  joins at 10:00": a daily expression for that time). A schedule of one community posts in
  that community's timezone; a merchant-wide one (``community_id`` None) in each community's
  own. ``due_at`` is when the worker next looks ahead to create the coming occurrences.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tribekit.kit import clock
from tribekit.kit.db import TenantRow


class PostSchedule(TenantRow):
    __tablename__ = "post_schedules"
    __table_args__ = (
        Index(None, "merchant_id", "created_at"),
        Index(None, "active", "due_at"),
    )

    name: Mapped[str] = mapped_column(String(200))
    rule: Mapped[str] = mapped_column(String(200))
    cron: Mapped[str | None] = mapped_column(String(100))
    after_join_seconds: Mapped[int | None] = mapped_column(Integer)
    community_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE")
    )
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    marketing: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    due_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class Broadcast(TenantRow):
    __tablename__ = "broadcasts"
    __table_args__ = (
        UniqueConstraint("schedule_id", "occurrence_key"),
        Index(None, "merchant_id", "send_at"),
        Index(None, "status", "send_at"),
    )

    name: Mapped[str] = mapped_column(String(200))
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    audience: Mapped[str] = mapped_column(String(16))  # communities | all | members
    community_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    level_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    member_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    marketing: Mapped[bool] = mapped_column(Boolean, default=False)
    send_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(12), default="scheduled")
    schedule_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("post_schedules.id", ondelete="SET NULL")
    )
    occurrence_key: Mapped[str | None] = mapped_column(String(120))
    # The flash sale or group buy it announces (a "+1" reply to it joins the group buy).
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    expanded_at: Mapped[datetime | None]  # its deliveries were written
    finished_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]


class BroadcastDelivery(TenantRow):
    __tablename__ = "broadcast_deliveries"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "community_id"),
        UniqueConstraint("broadcast_id", "member_id"),
        Index(None, "status", "due_at"),
        Index(None, "broadcast_id", "status"),
    )

    broadcast_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"))
    community_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE")
    )
    member_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE")
    )
    robot_account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("robot_accounts.id", ondelete="CASCADE")
    )
    channel: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str | None] = mapped_column(String(255))  # a DM's is found when it is sent
    person_id: Mapped[str | None] = mapped_column(String(255))  # a DM's recipient there
    language: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(12), default="pending")
    due_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    sent_at: Mapped[datetime | None]
