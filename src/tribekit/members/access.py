"""How a member reaches their own pages and orders without a password.

Staff (or the robot) give a member a **signed link**: a short-lived token naming the merchant
and the member, signed with the server's secret key. The member's browser trades it for a
**member session** (a longer-lived token of the same shape in an httpOnly cookie). Both are
checked on every request against the member's current state: an erased, merged or blocked
member is let in nowhere, whatever token they hold.

Token: ``tkm_<base64url(json payload)>.<base64url(hmac-sha256)>``; the payload holds the
merchant id, the member id, the kind (``link`` or ``session``) and the expiry (unix seconds).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock, signed
from tribekit.kit.errors import PermissionDenied, Unauthenticated
from tribekit.models.tenancy import Merchant
from tribekit.tenancy.principal import Tenant

from .repository import Members

PREFIX = "tkm_"
PURPOSE = "member-access"
MEMBER_COOKIE = "tribekit_member"
LINK_TTL = timedelta(hours=72)
SESSION_TTL = timedelta(days=30)
Kind = Literal["link", "session"]


@dataclass(frozen=True)
class MemberPrincipal:
    """A member acting for themselves at one merchant."""

    tenant: Tenant
    member_id: uuid.UUID
    via: Kind

    @property
    def actor(self) -> str:
        return f"member:{self.member_id}"


def sign(
    secret_key: str,
    merchant_id: uuid.UUID,
    member_id: uuid.UUID,
    kind: Kind,
    ttl: timedelta,
) -> tuple[str, datetime]:
    expires_at = clock.now() + ttl
    body = {"m": str(merchant_id), "u": str(member_id), "k": kind, "e": int(expires_at.timestamp())}
    return signed.seal(secret_key, PURPOSE, PREFIX, body), expires_at


@dataclass(frozen=True)
class _Claims:
    merchant_id: uuid.UUID
    member_id: uuid.UUID
    kind: Kind


def _verify(secret_key: str, token: str) -> _Claims:
    bad = Unauthenticated("the member link is not valid; ask for a new link")
    body = signed.opened(secret_key, PURPOSE, PREFIX, token)
    if body is None:
        raise bad
    try:
        claims = _Claims(uuid.UUID(body["m"]), uuid.UUID(body["u"]), body["k"])
        expires = int(body["e"])
    except (ValueError, KeyError, TypeError) as exc:
        raise bad from exc
    if claims.kind not in ("link", "session"):
        raise bad
    if expires <= clock.now().timestamp():
        raise Unauthenticated("the member link has expired; ask for a new link")
    return claims


async def authenticate(session: AsyncSession, secret_key: str, token: str) -> MemberPrincipal:
    """The member a link or session token names, if they may still act."""
    claims = _verify(secret_key, token)
    merchant = await session.get(Merchant, claims.merchant_id)
    member = await Members(session, claims.merchant_id).get_current(claims.member_id)
    if merchant is None or member is None:
        raise Unauthenticated("this member no longer exists at the merchant")
    if member.blocked:
        raise PermissionDenied("this member is blocked by the merchant")
    return MemberPrincipal(Tenant.of(merchant), member.id, claims.kind)


def issue_link(secret_key: str, tenant: Tenant, member_id: uuid.UUID) -> tuple[str, datetime]:
    return sign(secret_key, tenant.id, member_id, "link", LINK_TTL)


def start_session(secret_key: str, principal: MemberPrincipal) -> tuple[str, datetime]:
    return sign(secret_key, principal.tenant.id, principal.member_id, "session", SESSION_TTL)
