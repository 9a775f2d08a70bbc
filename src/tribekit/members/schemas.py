"""API shapes for members."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, EmailStr, Field

from tribekit.kit.schemas import CountryCode, Input, Output, UtcDatetime
from tribekit.models.enums import Channel, MemberSource

if TYPE_CHECKING:
    from .repository import MemberView


TAG_MAX_LENGTH = 50


def normalise_tag(value: str) -> str:
    """Tags are compared lower-cased; the same rule for the API and the CSV import."""
    value = value.strip().lower()
    if not value or any(not ch.isprintable() or ch == "," for ch in value):
        raise ValueError("a tag is a short label without commas or control characters")
    if len(value) > TAG_MAX_LENGTH:
        raise ValueError(f"a tag has at most {TAG_MAX_LENGTH} characters")
    return value


Tag = Annotated[str, Field(max_length=TAG_MAX_LENGTH), AfterValidator(normalise_tag)]
PhoneText = Annotated[str, Field(min_length=3, max_length=40, examples=["+86 138 0013 8000"])]


class AddressIn(Input):
    label: str | None = Field(default=None, max_length=50, examples=["home"])
    recipient: str = Field(min_length=1, max_length=200)
    phone: PhoneText | None = None
    line1: str = Field(min_length=1, max_length=300)
    line2: str | None = Field(default=None, max_length=300)
    city: str = Field(min_length=1, max_length=100)
    region: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, max_length=20)
    country: CountryCode
    is_default: bool = False


class AddressOut(Output):
    id: uuid.UUID
    label: str | None
    recipient: str
    phone: str | None
    line1: str
    line2: str | None
    city: str
    region: str | None
    postal_code: str | None
    country: str
    is_default: bool


class IdentityIn(Input):
    channel: Channel
    external_id: str = Field(min_length=1, max_length=255, examples=["731928374"])
    username: str | None = Field(default=None, max_length=255)


class IdentityOut(Output):
    id: uuid.UUID
    channel: Channel
    external_id: str
    username: str | None
    created_at: datetime


class _MemberFields(Input):
    phone: PhoneText | None = None
    email: EmailStr | None = None
    birthday: date | None = None
    source_ref: str | None = Field(
        default=None,
        max_length=100,
        description="Which QR code, event or campaign",
        examples=["counter"],
    )
    consent_source: str | None = Field(
        default=None, max_length=100, description="Where consent was given", examples=["join page"]
    )
    notes: str | None = Field(default=None, max_length=5000)


class MemberCreate(_MemberFields):
    display_name: str = Field(min_length=1, max_length=200)
    blocked: bool = False
    source: MemberSource = MemberSource.MANUAL
    marketing_consent: bool = False
    joined_at: UtcDatetime | None = Field(default=None, description="Defaults to now")
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    addresses: list[AddressIn] = Field(default_factory=list, max_length=20)
    identities: list[IdentityIn] = Field(default_factory=list, max_length=20)


class MemberUpdate(_MemberFields):
    """Only the fields sent are changed; ``tags`` and ``addresses`` replace the whole list."""

    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    blocked: bool | None = None
    marketing_consent: bool | None = None
    tags: list[Tag] | None = Field(default=None, max_length=50)
    addresses: list[AddressIn] | None = Field(default=None, max_length=20)


class MemberOut(Output):
    id: uuid.UUID
    display_name: str
    phone: str | None
    email: str | None
    birthday: date | None
    tags: list[str]
    source: MemberSource
    source_ref: str | None
    marketing_consent: bool
    consent_at: datetime | None
    consent_source: str | None
    joined_at: datetime
    blocked: bool
    notes: str | None
    addresses: list[AddressOut]
    identities: list[IdentityOut]
    community_ids: list[uuid.UUID]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, view: MemberView) -> MemberOut:
        member = view.member
        return cls.model_validate(
            {
                **{name: getattr(member, name) for name in _MEMBER_COLUMNS},
                "tags": view.tags,
                "addresses": view.addresses,
                "identities": view.identities,
                "community_ids": view.community_ids,
            }
        )


_MEMBER_COLUMNS = set(MemberOut.model_fields) - {"tags", "addresses", "identities", "community_ids"}


class MemberPage(Output):
    items: list[MemberOut]
    next_cursor: str | None


class MemberMerge(Input):
    source_member_id: uuid.UUID = Field(description="The duplicate, merged into this member")


class MemberEventOut(Output):
    id: uuid.UUID
    kind: str
    data: dict[str, Any]
    actor: str | None
    at: datetime


class MemberEventPage(Output):
    items: list[MemberEventOut]
    next_cursor: str | None


class MemberLinkOut(Output):
    token: str = Field(
        description="Send as `Authorization: Bearer tkm_...`, or trade it for a "
        "member session at POST /api/v1/me/session"
    )
    expires_at: datetime
