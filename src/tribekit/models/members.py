"""Members (customers) and what hangs off them: identities, addresses, tags, their timeline."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tribekit.kit import clock
from tribekit.kit.db import Base, TenantMixin, TenantRow


class Member(TenantRow):
    """One person at one merchant. Erased members keep their row (history stays linked to a
    pseudonymous id) with personal fields wiped; merged members point at the survivor."""

    __tablename__ = "members"
    __table_args__ = (
        UniqueConstraint("merchant_id", "phone"),
        Index(None, "merchant_id", "id"),
        Index(None, "merchant_id", "joined_at"),
        Index(None, "merchant_id", "source", "source_ref"),
    )

    display_name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20))  # E.164
    email: Mapped[str | None] = mapped_column(String(320))
    birthday: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(16))
    source_ref: Mapped[str | None] = mapped_column(String(100))  # which QR code, event, campaign
    marketing_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_at: Mapped[datetime | None]
    consent_source: Mapped[str | None] = mapped_column(String(100))
    joined_at: Mapped[datetime] = mapped_column(default=clock.now)
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    notes: Mapped[str | None] = mapped_column(Text)
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"))
    erased_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class MemberIdentity(TenantRow):
    """Who the member is on a channel: (channel, external id) names exactly one member."""

    __tablename__ = "member_identities"
    __table_args__ = (UniqueConstraint("merchant_id", "channel", "external_id"),)

    member_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(255))
    username: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class MemberAddress(TenantRow):
    __tablename__ = "member_addresses"

    member_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str | None] = mapped_column(String(50))
    recipient: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20))
    line1: Mapped[str] = mapped_column(String(300))
    line2: Mapped[str | None] = mapped_column(String(300))
    city: Mapped[str] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)


class MemberTag(TenantMixin, Base):
    __tablename__ = "member_tags"
    __table_args__ = (Index(None, "merchant_id", "tag"),)

    member_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(50), primary_key=True)


class MemberEvent(TenantRow):
    """The member's timeline: created, updated, consent given or withdrawn, merged, erased...

    Append-only. Later domains add their own kinds (level changed, order paid...)."""

    __tablename__ = "member_events"
    __table_args__ = (Index(None, "member_id", "id"),)

    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    actor: Mapped[str | None] = mapped_column(String(100))  # "staff:<uuid>", "import", "robot"
    at: Mapped[datetime] = mapped_column(default=clock.now)
