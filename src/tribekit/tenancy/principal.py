"""Who is calling, for which merchant, with which role. Built by the API face from a token or a
session cookie; services receive the ``Tenant`` (and the actor for the audit trail)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from tribekit.kit.errors import PermissionDenied
from tribekit.models.enums import Role
from tribekit.models.tenancy import Merchant

from .permissions import ROLE_PERMISSIONS, Permission


@dataclass(frozen=True)
class Tenant:
    """The merchant a piece of work is done for."""

    id: uuid.UUID
    slug: str
    timezone: str
    currency: str
    country: str
    locale: str

    @classmethod
    def of(cls, merchant: Merchant) -> Tenant:
        return cls(
            merchant.id,
            merchant.slug,
            merchant.timezone,
            merchant.currency,
            merchant.country,
            merchant.locale,
        )


@dataclass(frozen=True)
class Principal:
    user_id: uuid.UUID
    email: str
    is_platform_admin: bool
    tenant: Tenant | None
    role: Role | None
    via: Literal["token", "session"]
    credential_id: uuid.UUID

    @property
    def actor(self) -> str:
        return f"staff:{self.user_id}"

    def can(self, permission: Permission) -> bool:
        return self.role is not None and permission in ROLE_PERMISSIONS[self.role]

    def require_tenant(self) -> Tenant:
        if self.tenant is None:
            raise PermissionDenied(
                "this credential is not bound to a merchant; use a merchant API token"
            )
        return self.tenant

    def require(self, permission: Permission) -> Tenant:
        tenant = self.require_tenant()
        if not self.can(permission):
            raise PermissionDenied(
                f"the {self.role} role may not do this (needs {permission.value})",
                permission=permission.value,
            )
        return tenant
