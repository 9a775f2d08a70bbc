"""API shapes for merchants, staff, tokens and sign-in."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import EmailStr, Field

from tribekit.kit.schemas import (
    CountryCode,
    CurrencyCode,
    Input,
    LocaleCode,
    Output,
    Password,
    Slug,
    TimezoneName,
)
from tribekit.models.enums import Role


class OwnerCreate(Input):
    email: EmailStr
    name: str = Field(min_length=1, max_length=200)
    password: Password | None = Field(
        default=None,
        description="The new owner login's password; required unless the email already has a "
        "login. An email that has one is sent an owner invitation instead, and its name and "
        "password are not used",
    )


class MerchantCreate(Input):
    slug: Slug
    name: str = Field(min_length=1, max_length=200)
    timezone: TimezoneName | None = Field(
        default=None, description="Defaults to the server's TRIBEKIT_DEFAULT_TIMEZONE"
    )
    currency: CurrencyCode
    country: CountryCode = Field(description="Default region for phone numbers and addresses")
    locale: LocaleCode = "en"
    owner: OwnerCreate


class MerchantUpdate(Input):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: TimezoneName | None = None
    country: CountryCode | None = None
    locale: LocaleCode | None = None


class MerchantOut(Output):
    id: uuid.UUID
    slug: str
    name: str
    timezone: str
    currency: str
    country: str
    locale: str
    created_at: datetime


class StaffOut(Output):
    user_id: uuid.UUID
    email: str
    name: str
    role: Role
    since: datetime


class StaffCreate(Input):
    """A new staff user with a password, made directly: the CLI and the demo only. Over the API a
    person joins through an invitation."""

    email: EmailStr
    name: str = Field(min_length=1, max_length=200)
    role: Role
    password: Password


class InvitationCreate(Input):
    email: EmailStr = Field(description="Who is invited; they need not have a Tribekit login yet")
    role: Role
    expires_in_days: int = Field(default=7, ge=1, le=30, description="How long the link works")


class InvitationOut(Output):
    id: uuid.UUID
    email: str
    role: Role
    prefix: str = Field(description="The start of the invitation token, to recognise it by")
    invited_by: uuid.UUID | None
    created_at: datetime
    expires_at: datetime
    status: Literal["pending", "expired", "accepted", "revoked"]
    accepted_at: datetime | None
    revoked_at: datetime | None


class InvitationCreated(InvitationOut):
    token: str = Field(
        description="The invitation's secret. Shown once: send it to the invitee yourself "
        "(Tribekit sends no mail yet); they accept with POST /api/v1/staff/invitations/accept."
    )


class MerchantCreated(Output):
    merchant: MerchantOut
    owner: StaffOut | None = Field(
        description="The new owner login; null when the email already had a login and was "
        "invited instead"
    )
    invitation: InvitationCreated | None = Field(
        description="The owner invitation sent to an email that already has a login (that "
        "person becomes owner by accepting it); null when a new owner login was made"
    )


class OwnerInvitationCreate(Input):
    email: EmailStr = Field(
        description="Who is invited to own the merchant; they need not have a Tribekit login yet"
    )


class InvitationPage(Output):
    items: list[InvitationOut]
    next_cursor: str | None


class InvitationAccept(Input):
    token: str = Field(min_length=1, max_length=200, description="The invitation token (tki_...)")
    name: str | None = Field(
        default=None, min_length=1, max_length=200, description="A new login: your name"
    )
    password: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="A new login: the password to set (10 characters or more). An existing "
        "login: its password, unless you accept while signed in as it.",
    )


class StaffJoined(Output):
    merchant: MerchantOut
    staff: StaffOut


class StaffUpdate(Input):
    role: Role


class TokenCreate(Input):
    name: str = Field(min_length=1, max_length=100, examples=["shop till"])
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class TokenOut(Output):
    id: uuid.UUID
    name: str
    prefix: str
    user_id: uuid.UUID
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="The secret. Shown once: store it now.")


class LoginIn(Input):
    email: EmailStr
    password: str = Field(min_length=1, max_length=200)
    merchant: Slug | None = Field(
        default=None, description="Which merchant to work for, if the user works for several"
    )


class WhoAmI(Output):
    user_id: uuid.UUID
    email: str
    is_platform_admin: bool
    merchant: MerchantOut | None
    role: Role | None
    via: str
