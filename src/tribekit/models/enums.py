"""Closed vocabularies shared by several tables. Stored as plain strings so that adding a value
is a code change, not a schema migration."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    OPERATOR = "operator"
    LEADER = "leader"
    ANALYST = "analyst"


class Channel(StrEnum):
    TELEGRAM = "telegram"
    MATRIX = "matrix"
    WECOM = "wecom"
    WEB = "web"


class MemberSource(StrEnum):
    STORE_QR = "store_qr"
    EVENT = "event"
    REFERRAL = "referral"
    IMPORT = "import"
    CHANNEL = "channel"
    MANUAL = "manual"
