"""Credentials: API tokens (REST API) and staff sessions (web UI), and who they make you."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import bindparam, event, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session

from tribekit.kit import clock
from tribekit.kit.errors import (
    FieldProblem,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    ValidationFailed,
    field_error,
)
from tribekit.kit.pagination import Page, paginate
from tribekit.kit.security import (
    hash_password,
    hash_token,
    new_token,
    password_needs_rehash,
    token_prefix,
    verify_password,
)
from tribekit.models.communities import CommunityLeader
from tribekit.models.enums import Role
from tribekit.models.tenancy import ApiToken, Merchant, StaffRole, StaffSession, StaffUser

from . import repository as repo
from .permissions import Permission
from .principal import Principal, Tenant

SESSION_COOKIE = "tribekit_session"

# The communities a staff user leads at a merchant: read with a leader's credential (one
# indexed query, only for leaders), kept with the principal in the cache, which a change of
# leaders forgets like a role change. Built once: composing costs more than running it.
_LED = select(CommunityLeader.community_id).where(
    CommunityLeader.merchant_id == bindparam("merchant_id"),
    CommunityLeader.staff_user_id == bindparam("user_id"),
)


async def _led(
    session: AsyncSession, role: Role | None, merchant_id: uuid.UUID, user_id: uuid.UUID
) -> frozenset[uuid.UUID] | None:
    """A leader's communities; None for every other role (their reach is the merchant)."""
    if role is not Role.LEADER:
        return None
    rows = await session.scalars(_LED, {"merchant_id": merchant_id, "user_id": user_id})
    return frozenset(rows.all())


async def _principal(
    session: AsyncSession,
    user_id: uuid.UUID,
    merchant_id: uuid.UUID | None,
    via: Literal["token", "session"],
    credential_id: uuid.UUID,
) -> Principal:
    user = await session.get(StaffUser, user_id)
    if user is None or not user.is_active:
        raise Unauthenticated("this credential's staff user is deactivated")
    tenant: Tenant | None = None
    role: Role | None = None
    led: frozenset[uuid.UUID] | None = None
    if merchant_id is not None:
        merchant = await session.get(Merchant, merchant_id)
        staff_role = await repo.StaffRoles(session, merchant_id).of_user(user_id)
        if merchant is None or staff_role is None:
            raise Unauthenticated("this credential's staff user no longer works for the merchant")
        tenant, role = Tenant.of(merchant), Role(staff_role.role)
        led = await _led(session, role, merchant_id, user_id)
    return Principal(
        user.id, user.email, user.is_platform_admin, tenant, role, via, credential_id, led
    )


# -- API tokens ----------------------------------------------------------------------------------


async def issue_token(
    session: AsyncSession,
    secret_key: str,
    *,
    user_id: uuid.UUID,
    merchant_id: uuid.UUID | None,
    name: str,
    expires_in_days: int | None = None,
) -> tuple[ApiToken, str]:
    """A new token for ``user_id`` at ``merchant_id`` (None: platform-level). Returns the row and
    the secret, which is never stored and cannot be shown again."""
    secret, prefix = new_token("t")
    now = clock.now()
    token = ApiToken(
        merchant_id=merchant_id,
        user_id=user_id,
        name=name,
        prefix=prefix,
        token_hash=hash_token(secret_key, secret),
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    session.add(token)
    await session.flush()
    return token, secret


def cached_principal(
    cache: PrincipalCache, secret_key: str, secret: str, *, bearer: bool
) -> Principal | None:
    """The principal of a token (``bearer``) or session secret this process checked in the last
    few seconds (see ``PrincipalCache``), else None. No database work, so what guards look-ups
    may be skipped. A bearer must be an API token, as ``authenticate_token`` requires."""
    principal = cache.get(hash_token(secret_key, secret))
    if principal is not None and bearer and principal.via != "token":
        return None
    return principal


MEMBER_TOKEN_PREFIX = "tkm_"  # noqa: S105  # a prefix, not a secret (members.access tokens)


async def authenticate_token(
    session: AsyncSession, secret_key: str, secret: str, cache: PrincipalCache | None = None
) -> Principal:
    """The principal of an API token. With ``cache``, a token checked in the last few seconds
    by this process is not looked up again (see ``PrincipalCache``)."""
    if token_prefix(secret) is None:
        if secret.startswith(MEMBER_TOKEN_PREFIX):
            raise Unauthenticated(
                "this is a member token (a member link or session), which opens the member's "
                "own pages under /api/v1/me only; staff routes need a staff API token "
                "'Authorization: Bearer tkt_...'"
            )
        raise Unauthenticated("malformed API token; send 'Authorization: Bearer tkt_...'")
    token_hash = hash_token(secret_key, secret)
    if cache is not None and (cached := cache.get(token_hash)) is not None:
        return cached
    generation = _generation
    found = await repo.token_with_holder(session, token_hash)
    now = clock.now()
    if found is None:
        raise Unauthenticated("unknown API token")
    token, user, merchant, staff_role = found
    if token.revoked_at is not None:
        raise Unauthenticated("this API token was revoked")
    if token.expires_at is not None and token.expires_at <= now:
        raise Unauthenticated("this API token has expired; create a new one")
    if not user.is_active:
        raise Unauthenticated("this credential's staff user is deactivated")
    tenant: Tenant | None = None
    role: Role | None = None
    led: frozenset[uuid.UUID] | None = None
    if token.merchant_id is not None:
        if merchant is None or staff_role is None:
            raise Unauthenticated("this credential's staff user no longer works for the merchant")
        tenant, role = Tenant.of(merchant), Role(staff_role.role)
        led = await _led(session, role, token.merchant_id, user.id)
    if token.last_used_at is None or token.last_used_at < now - repo.LAST_USED_GRANULARITY:
        # Recording use changes no principal: the cache is not forgotten for it.
        session.info[_QUIET] = True
        try:
            await repo.touch_token(session, token.id, now)
        finally:
            session.info.pop(_QUIET, None)
    principal = Principal(
        user.id, user.email, user.is_platform_admin, tenant, role, "token", token.id, led
    )
    if cache is not None:
        cache.put(token_hash, principal, generation, token.expires_at)
    return principal


async def create_own_token(
    session: AsyncSession, secret_key: str, principal: Principal, name: str, days: int | None
) -> tuple[ApiToken, str]:
    tenant = principal.require(Permission.TOKENS_OWN)
    return await issue_token(
        session,
        secret_key,
        user_id=principal.user_id,
        merchant_id=tenant.id,
        name=name,
        expires_in_days=days,
    )


async def list_tokens(
    session: AsyncSession, principal: Principal, *, limit: int, cursor: str | None
) -> Page[ApiToken]:
    """Everybody's tokens for those who manage tokens, one's own for everybody else."""
    tenant = principal.require(Permission.TOKENS_OWN)
    stmt = repo.tokens_of_merchant(tenant.id)
    if not principal.can(Permission.TOKENS_MANAGE):
        stmt = stmt.where(ApiToken.user_id == principal.user_id)
    return await paginate(session, stmt, key=ApiToken.id, limit=limit, cursor=cursor)


async def revoke_token(
    session: AsyncSession, principal: Principal, token_id: uuid.UUID
) -> ApiToken:
    tenant = principal.require(Permission.TOKENS_OWN)
    stmt = repo.tokens_of_merchant(tenant.id).where(ApiToken.id == token_id).with_for_update()
    token = await session.scalar(stmt)
    if token is None:
        raise NotFound(f"no API token with id {token_id} at this merchant")
    if token.user_id != principal.user_id and not principal.can(Permission.TOKENS_MANAGE):
        raise PermissionDenied("only owners and admins may revoke other people's tokens")
    if token.revoked_at is None:
        token.revoked_at = clock.now()
        await session.flush()
    return token


# -- web sessions --------------------------------------------------------------------------------


async def login(
    session: AsyncSession,
    secret_key: str,
    *,
    email: str,
    password: str,
    merchant_slug: str | None,
    ttl: timedelta,
    ip: str | None = None,
    user_agent: str | None = None,
) -> tuple[str, StaffSession, Principal]:
    """Check the password and open a session. Every failure gives the same 401, so a caller
    cannot learn which emails exist, and every attempt runs one argon2 verification (against a
    dummy hash when the email is unknown or has no password), so it takes as long either way."""
    user = await repo.user_by_email(session, email)
    password_ok = verify_password(user.password_hash if user is not None else None, password)
    if user is None or not user.is_active or not password_ok:
        raise Unauthenticated("wrong email or password")
    assert user.password_hash is not None
    if password_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    merchant_id = await _login_merchant(session, user, merchant_slug)
    secret, _ = new_token("s")
    now = clock.now()
    staff_session = StaffSession(
        user_id=user.id,
        merchant_id=merchant_id,
        token_hash=hash_token(secret_key, secret),
        created_at=now,
        expires_at=now + ttl,
        ip=ip,
        user_agent=(user_agent or "")[:300] or None,
    )
    session.add(staff_session)
    await session.flush()
    principal = await _principal(session, user.id, merchant_id, "session", staff_session.id)
    return secret, staff_session, principal


async def _login_merchant(
    session: AsyncSession, user: StaffUser, merchant_slug: str | None
) -> uuid.UUID | None:
    roles = await repo.roles_of_user(session, user.id)
    if merchant_slug is not None:
        merchant = await repo.merchant_by_slug(session, merchant_slug)
        if merchant is None or all(role.merchant_id != merchant.id for role in roles):
            raise field_error("merchant", "you do not work for a merchant with this slug")
        return merchant.id
    if len(roles) == 1:
        return roles[0].merchant_id
    if not roles and user.is_platform_admin:
        return None
    if not roles:
        raise PermissionDenied("this staff user works for no merchant yet")
    # Only after the password matched: the caller learns nothing about anyone else.
    slugs = await repo.slugs_of_merchants(session, [role.merchant_id for role in roles])
    message = f"you work for several merchants ({', '.join(slugs)}): send one slug as 'merchant'"
    raise ValidationFailed(
        f"merchant: {message}",
        errors=[FieldProblem(("body", "merchant"), message, "missing")],
        merchants=slugs,
    )


async def authenticate_session(
    session: AsyncSession, secret_key: str, secret: str, cache: PrincipalCache | None = None
) -> Principal:
    token_hash = hash_token(secret_key, secret)
    if cache is not None and (cached := cache.get(token_hash)) is not None:
        return cached
    generation = _generation
    staff_session = await repo.session_by_hash(session, token_hash)
    if staff_session is None or staff_session.expires_at <= clock.now():
        raise Unauthenticated("your session has ended; sign in again")
    principal = await _principal(
        session, staff_session.user_id, staff_session.merchant_id, "session", staff_session.id
    )
    if cache is not None:
        cache.put(token_hash, principal, generation, staff_session.expires_at)
    return principal


async def logout(session: AsyncSession, principal: Principal) -> None:
    if principal.via == "session":
        staff_session = await session.get(StaffSession, principal.credential_id)
        if staff_session is not None:
            await session.delete(staff_session)
            await session.flush()


# -- the principal cache -------------------------------------------------------------------------
#
# Checking a credential costs a query of four tables per request. A process keeps what it found
# for a few seconds (``TRIBEKIT_PRINCIPAL_CACHE_SECONDS``, default 5), keyed by the credential's
# keyed hash. Every unit of work of this process that commits a change to tokens, sessions, staff
# users, roles, merchants or community leaders (a leader's reach) forgets every cached principal
# (a generation count, read before the look-up, so an answer read before such a commit is never
# kept after it): a revocation, a logout, a role change, a removal, a deactivation or a change
# of leaders applies at once in the process that made it, and within the cache's seconds in
# every other process. Expiry is checked on every use. A leader's communities are read with the
# credential (one more indexed query, for leaders only, once per cache period).

_CREDENTIAL_TABLES = frozenset(
    {"api_tokens", "staff_sessions", "staff_users", "staff_roles", "merchants", "community_leaders"}
)
_CREDENTIAL_MODELS = (ApiToken, StaffSession, StaffUser, StaffRole, Merchant, CommunityLeader)
_CHANGED = "tribekit.credentials_changed"
_QUIET = "tribekit.recording_token_use"
_generation = 0


class PrincipalCache:
    """Principals of credentials this process checked in the last ``seconds`` (0: none)."""

    def __init__(self, seconds: float, *, max_entries: int = 10_000) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self._entries: dict[str, tuple[Principal, float, datetime | None, int]] = {}

    def get(self, key: str) -> Principal | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        principal, until, expires_at, generation = entry
        if (
            generation != _generation
            or time.monotonic() >= until
            or (expires_at is not None and expires_at <= clock.now())
        ):
            self._entries.pop(key, None)
            return None
        return principal

    def put(
        self, key: str, principal: Principal, generation: int, expires_at: datetime | None
    ) -> None:
        if self.seconds <= 0 or generation != _generation:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (principal, time.monotonic() + self.seconds, expires_at, generation)


def forget_principals() -> None:
    """Forget every cached principal of this process (done on commit of a credential change)."""
    global _generation  # one counter per process, read by every cache
    _generation += 1


@event.listens_for(Session, "do_orm_execute")
def _note_core_write(state: ORMExecuteState) -> None:
    if (state.is_update or state.is_delete or state.is_insert) and not state.session.info.get(
        _QUIET
    ):
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in _CREDENTIAL_TABLES:
            state.session.info[_CHANGED] = True


@event.listens_for(Session, "after_flush")
def _note_orm_write(session: Session, _context: Any) -> None:
    if any(
        isinstance(row, _CREDENTIAL_MODELS)
        for rows in (session.new, session.dirty, session.deleted)
        for row in rows
    ):
        session.info[_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _forget_on_commit(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        forget_principals()


@event.listens_for(Session, "after_rollback")
def _nothing_changed(session: Session) -> None:
    session.info.pop(_CHANGED, None)
