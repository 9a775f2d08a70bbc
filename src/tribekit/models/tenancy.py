"""Merchants (tenants), staff users, their roles, API tokens and web sessions."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from tribekit.kit import clock
from tribekit.kit.db import Base, IdMixin, TenantRow


class Merchant(IdMixin, Base):
    __tablename__ = "merchants"

    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    country: Mapped[str] = mapped_column(String(2))  # default region for phone numbers, addresses
    locale: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class StaffUser(IdMixin, Base):
    """A person who works for one or more merchants. Email is the login, unique platform-wide."""

    __tablename__ = "staff_users"

    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    is_platform_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class StaffRole(TenantRow):
    """What one staff user may do at one merchant."""

    __tablename__ = "staff_roles"
    __table_args__ = (UniqueConstraint("merchant_id", "user_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class ApiToken(IdMixin, Base):
    """A bearer token for the REST API. Only a keyed hash is stored; the prefix is shown."""

    __tablename__ = "api_tokens"
    __table_args__ = (Index(None, "merchant_id", "id"),)

    merchant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("merchants.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(8))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class StaffSession(IdMixin, Base):
    """A signed-in browser (web UI). The cookie holds the token; the row holds its keyed hash."""

    __tablename__ = "staff_sessions"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    merchant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("merchants.id", ondelete="CASCADE")
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))


class StaffInvitation(TenantRow):
    """An offer to work for a merchant with a role, sent to an email. The invitee accepts with
    the secret (only its keyed hash is stored); until then nobody is attached to anything."""

    __tablename__ = "staff_invitations"
    __table_args__ = (
        Index(None, "merchant_id", "id"),
        Index(None, "merchant_id", "email"),
        # At most one open (neither accepted nor revoked) invitation per email and merchant: a
        # new one revokes the open one, and two sent at once cannot both stay open.
        Index(
            "ix_staff_invitations_one_open",
            "merchant_id",
            "email",
            unique=True,
            sqlite_where=text("accepted_at IS NULL AND revoked_at IS NULL"),
            postgresql_where=text("accepted_at IS NULL AND revoked_at IS NULL"),
        ),
    )

    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(16))
    invited_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    prefix: Mapped[str] = mapped_column(String(8))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    accepted_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    revoked_at: Mapped[datetime | None]

    @property
    def status(self) -> str:
        """``pending`` (can be accepted now), ``expired``, ``accepted`` or ``revoked``."""
        if self.accepted_at is not None:
            return "accepted"
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= clock.now():
            return "expired"
        return "pending"
