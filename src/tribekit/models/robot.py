"""The robot's accounts on the channels, the events it received and the actions it owes.

* ``RobotAccount``: one robot identity on one channel (a Telegram bot, the web robot). The
  platform token is kept to act; it is never shown again after registration.
* ``RobotEvent``: every inbound event, once per (account, platform event id) — a redelivered
  update finds its row and is not processed again. Text is kept only where a rule or the web
  history needs it, and cleared after the retention period. A member's post keeps the moderation
  engine's ``fingerprint`` of its text (empty for none), which the flood and duplicate rules read
  back within their windows when Redis is not configured (``robot/recent.py``).
* ``RobotAction``: an outbound action that must happen (a reply, a delete, a ban in one group):
  a durable row with a due time, claimed by the worker, retried with backoff, honouring the
  platform's ``retry_after``. ``decision`` names what decided it and is unique per merchant:
  one decision is never carried out twice, whichever worker runs it.
* ``JoinCaptcha``: a member's join captcha in one group (``robot/captcha.py``): ``pending``
  until they press the button (``solved``) or its due time passes (``expired``: the worker
  removes them), or they leave (``left``). One row per member and group, reset on a new join.
* ``ChatAdmins``: the platform's admins of a group (Telegram: ``getChatAdministrators``), read
  by the worker outside any transaction and kept here, so that the pipeline knows who is staff
  without calling the platform; due again an hour later, or at once when the robot is added.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tribekit.kit import clock
from tribekit.kit.db import Base, StrEnumText, TenantMixin, TenantRow
from tribekit.models.enums import ActionKind, ActionStatus, Channel


class RobotAccount(TenantRow):
    __tablename__ = "robot_accounts"
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        Index(None, "merchant_id", "id"),
    )

    channel: Mapped[Channel] = mapped_column(StrEnumText(Channel, 16))
    name: Mapped[str] = mapped_column(String(100))
    username: Mapped[str | None] = mapped_column(String(100))
    external_id: Mapped[str | None] = mapped_column(String(64))  # the robot's own id there
    token: Mapped[str | None] = mapped_column(String(200))  # the platform credential
    homeserver: Mapped[str | None] = mapped_column(String(300))  # Matrix: the server's URL
    sync_token: Mapped[str | None] = mapped_column(Text)  # Matrix: the last sync's next_batch
    webhook_secret: Mapped[str] = mapped_column(String(64))  # the platform echoes it back
    mode: Mapped[str] = mapped_column(String(8), default="webhook")  # webhook | poll
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class RobotEvent(TenantRow):
    __tablename__ = "robot_events"
    __table_args__ = (
        UniqueConstraint("robot_account_id", "event_id"),
        Index(None, "merchant_id", "community_id", "at"),
        Index(None, "merchant_id", "member_id", "at"),
    )

    robot_account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("robot_accounts.id", ondelete="CASCADE")
    )
    event_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    community_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("communities.id", ondelete="SET NULL")
    )
    member_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    text: Mapped[str | None] = mapped_column(Text)
    fingerprint: Mapped[bytes | None] = mapped_column(LargeBinary)  # a post's; see above
    outcome: Mapped[str] = mapped_column(String(64), default="")
    at: Mapped[datetime] = mapped_column(default=clock.now)


class RobotAction(TenantRow):
    __tablename__ = "robot_actions"
    __table_args__ = (
        UniqueConstraint("merchant_id", "decision"),
        Index(None, "status", "due_at"),
        Index(None, "merchant_id", "community_id", "created_at"),
    )

    robot_account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("robot_accounts.id", ondelete="CASCADE")
    )
    community_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("communities.id", ondelete="SET NULL")
    )
    decision: Mapped[str] = mapped_column(String(200))
    kind: Mapped[ActionKind] = mapped_column(StrEnumText(ActionKind, 16))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[ActionStatus] = mapped_column(
        StrEnumText(ActionStatus, 12), default=ActionStatus.PENDING
    )
    due_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(64))  # what the platform answered
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    done_at: Mapped[datetime | None]


class JoinCaptcha(TenantRow):
    __tablename__ = "join_captchas"
    __table_args__ = (
        UniqueConstraint("community_id", "member_id"),
        Index(None, "status", "due_at"),
    )

    community_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE")
    )
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    robot_account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("robot_accounts.id", ondelete="CASCADE")
    )
    person_id: Mapped[str] = mapped_column(String(64))  # who they are on the channel
    status: Mapped[str] = mapped_column(String(12), default="pending")
    due_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    settled_at: Mapped[datetime | None]


class ChatAdmins(TenantMixin, Base):
    __tablename__ = "robot_chat_admins"
    __table_args__ = (Index(None, "due_at"),)

    community_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    person_ids: Mapped[list[str]] = mapped_column(JSON, default=list)  # ids on the channel
    due_at: Mapped[datetime]  # when to read them again
    refreshed_at: Mapped[datetime | None]
