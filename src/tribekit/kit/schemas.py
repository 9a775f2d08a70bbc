"""Base API shapes and field types shared by every domain."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from babel import Locale, UnknownLocaleError
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
)

from .money import check_currency

NUL_MESSAGE = "text may not contain the NUL character (\\u0000)"


def has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple | set):
        return any(has_nul(item) for item in value)
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    return False


class Input(BaseModel):
    """A request body: unknown fields are an error, so a typo never passes silently; NUL
    characters are refused (PostgreSQL cannot store them in text)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if has_nul(value):
            raise ValueError(NUL_MESSAGE)
        return value


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Problem(BaseModel):
    """RFC 9457 problem details, the body of every error response. Some problems add extension
    members that help the caller act, e.g. ``balance`` on ``insufficient_points``."""

    type: str = Field(examples=["urn:tribekit:problem:not_found"])
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable machine-readable error code", examples=["not_found"])
    errors: list[FieldError] = Field(default_factory=list)
    request_id: str | None = None


class FieldError(BaseModel):
    loc: list[str | int]
    message: str
    type: str


Problem.model_rebuild()


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("unknown timezone; use an IANA name such as Asia/Shanghai") from exc
    return value


def _locale(value: str) -> str:
    try:
        return str(Locale.parse(value.replace("-", "_")))
    except (UnknownLocaleError, ValueError) as exc:
        raise ValueError("unknown locale; use a code such as en or zh_CN") from exc


def _country(value: str) -> str:
    value = value.upper()
    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError("unknown country; use an ISO 3166 code such as CN or DE")
    return value


CountryCode = Annotated[str, Field(min_length=2, max_length=2), AfterValidator(_country)]


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise ValueError("this time is out of range once converted to UTC") from exc


# An ISO 8601 date and time; the zone is then required by ``AwareDatetime``.
_ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
ISO_DATETIME_MESSAGE = (
    "a time is an ISO 8601 text with a timezone, e.g. 2026-03-01T09:00:00+08:00 or "
    "2026-03-01T01:00:00Z; numbers (unix seconds) are not accepted"
)


def _iso_text(value: Any) -> Any:
    """Pydantic would read ``0`` or ``"1700000000"`` as unix seconds: refuse anything but a
    ``datetime`` (from Python code) or ISO 8601 text (from JSON, a query or a CSV file)."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATETIME.match(value.strip()):
        return value
    raise ValueError(ISO_DATETIME_MESSAGE)


#: A timestamp with a timezone, normalised to UTC. Only ISO 8601 text (or a ``datetime``) is
#: read: a naive time, a bare date and a number are refused.
UtcDatetime = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_utc)]
TimezoneName = Annotated[str, Field(max_length=64), AfterValidator(_timezone)]
CurrencyCode = Annotated[str, Field(min_length=3, max_length=3), AfterValidator(check_currency)]
LocaleCode = Annotated[str, Field(max_length=16), AfterValidator(_locale)]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", examples=["greenwood-fruit"])]
Password = Annotated[str, Field(min_length=10, max_length=200)]
