"""Merchants and their staff. ``check_*`` validates and raises 4xx errors; ``do_*`` writes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit.db import add_unique
from tribekit.kit.errors import Conflict, NotFound, PermissionDenied, ValidationFailed, field_error
from tribekit.kit.security import hash_password
from tribekit.models.enums import Role
from tribekit.models.tenancy import Merchant, StaffRole, StaffUser

from . import repository as repo
from .permissions import GRANTABLE_BY
from .principal import Principal, Tenant
from .schemas import MerchantCreate, MerchantUpdate, StaffCreate


@dataclass(frozen=True)
class StaffEntry:
    user_id: uuid.UUID
    email: str
    name: str
    role: Role
    since: datetime

    @classmethod
    def of(cls, role: StaffRole, user: StaffUser) -> StaffEntry:
        return cls(user.id, user.email, user.name, Role(role.role), role.created_at)


async def create_merchant(
    session: AsyncSession, data: MerchantCreate, *, default_timezone: str = "UTC"
) -> tuple[Merchant, StaffEntry]:
    """A new merchant and its first owner, a new login with ``data.owner.password``. An email
    that already has a login is refused: that person becomes owner only by accepting an
    invitation (``onboarding.create_merchant`` sends one)."""
    if data.owner.password is None:
        raise field_error("owner.password", "a new staff user needs a password", "missing")
    merchant = await add_merchant(session, data, default_timezone=default_timezone)
    email = data.owner.email.lower()
    owner = StaffUser(
        email=email, name=data.owner.name, password_hash=hash_password(data.owner.password)
    )
    await add_unique(session, f"{email} already has a login; invite it instead", owner)
    role = StaffRole(merchant_id=merchant.id, user_id=owner.id, role=Role.OWNER.value)
    session.add(role)
    await session.flush()
    return merchant, StaffEntry.of(role, owner)


async def add_merchant(
    session: AsyncSession, data: MerchantCreate, *, default_timezone: str
) -> Merchant:
    """The merchant row alone, nobody working for it yet."""
    if await repo.merchant_by_slug(session, data.slug) is not None:
        raise Conflict(f"the slug {data.slug!r} is taken; choose another", field="slug")
    merchant = Merchant(
        slug=data.slug,
        name=data.name,
        timezone=data.timezone or default_timezone,
        currency=data.currency,
        country=data.country,
        locale=data.locale,
    )
    # The unique index decides between two creations of one slug at once.
    await add_unique(session, f"the slug {data.slug!r} is taken; choose another", merchant)
    return merchant


async def get_merchant(session: AsyncSession, tenant: Tenant) -> Merchant:
    merchant = await repo.merchant_by_id(session, tenant.id)
    if merchant is None:  # deleted while the request ran
        raise NotFound("this merchant no longer exists")
    return merchant


async def update_merchant(session: AsyncSession, tenant: Tenant, data: MerchantUpdate) -> Merchant:
    merchant = await get_merchant(session, tenant)
    for field, value in data.model_dump(exclude_unset=True).items():
        if value is None:
            raise field_error(field, "may be changed but not removed", "null")
        setattr(merchant, field, value)
    await session.flush()
    return merchant


# -- staff ---------------------------------------------------------------------------------------


async def list_staff(session: AsyncSession, tenant: Tenant) -> list[StaffEntry]:
    roles = repo.StaffRoles(session, tenant.id)
    rows = (await session.execute(roles.with_users().order_by(StaffRole.id))).all()
    return [StaffEntry.of(role, user) for role, user in rows]


def check_can_grant(principal: Principal, role: Role) -> None:
    if principal.role is None or role not in GRANTABLE_BY.get(principal.role, frozenset()):
        raise PermissionDenied(f"the {principal.role} role may not give the {role} role")


async def add_staff(session: AsyncSession, principal: Principal, data: StaffCreate) -> StaffEntry:
    """A new login with a password, made straight away (the CLI and the demo; no route calls
    this). It never touches an existing login: an email that has one is refused, and joins only
    by accepting an invitation (``invitations.py``)."""
    tenant = principal.require_tenant()
    check_can_grant(principal, data.role)
    email = data.email.lower()
    user = StaffUser(email=email, name=data.name, password_hash=hash_password(data.password))
    await add_unique(session, f"{email} already has a login; invite it instead", user)
    role = StaffRole(merchant_id=tenant.id, user_id=user.id, role=data.role.value)
    session.add(role)
    await session.flush()
    return StaffEntry.of(role, user)


@dataclass(frozen=True)
class _Target:
    role: StaffRole
    owners: int  # owners at the merchant, counted under lock


async def _staff_target(
    roles: repo.StaffRoles, principal: Principal, user_id: uuid.UUID
) -> _Target:
    # Lock every owner row first, always in id order, then the target: two owners demoting each
    # other at once queue up instead of deadlocking, and the second sees the first's change.
    owners = await roles.lock_owners()
    target = await roles.of_user(user_id, for_update=True)
    if target is None:
        raise NotFound(f"no staff member with user id {user_id} at this merchant")
    check_can_grant(principal, Role(target.role))  # admins cannot touch owners or admins
    return _Target(target, len(owners))


def _check_keeps_an_owner(target: _Target) -> None:
    if target.role.role == Role.OWNER.value and target.owners <= 1:
        raise Conflict("a merchant needs at least one owner; make someone else owner first")


async def change_role(
    session: AsyncSession, principal: Principal, user_id: uuid.UUID, role: Role
) -> StaffEntry:
    tenant = principal.require_tenant()
    roles = repo.StaffRoles(session, tenant.id)
    target = await _staff_target(roles, principal, user_id)
    check_can_grant(principal, role)
    if role != Role.OWNER:
        _check_keeps_an_owner(target)
    target.role.role = role.value
    await session.flush()
    user = await session.get(StaffUser, user_id)
    assert user is not None
    return StaffEntry.of(target.role, user)


async def remove_staff(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> None:
    tenant = principal.require_tenant()
    roles = repo.StaffRoles(session, tenant.id)
    target = await _staff_target(roles, principal, user_id)
    _check_keeps_an_owner(target)
    await session.delete(target.role)
    await session.flush()


async def ensure_platform_admin(
    session: AsyncSession, email: str, name: str, password: str
) -> StaffUser:
    """Create the platform admin (or make an existing staff user one) — CLI only."""
    if len(password) < 10:
        raise ValidationFailed("the password needs at least 10 characters")
    user = await repo.user_by_email(session, email)
    if user is None:
        user = StaffUser(email=email.lower(), name=name, password_hash=hash_password(password))
        session.add(user)
    user.is_platform_admin = True
    await session.flush()
    return user
