"""Who is calling, for which merchant, with which role. Built by the API face from a token or a
session cookie; services receive the ``Tenant`` (and the actor for the audit trail)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from tribekit.kit.errors import PermissionDenied
from tribekit.models.enums import Role
from tribekit.models.tenancy import Merchant

from .permissions import ROLE_PERMISSIONS, SCOPED_PERMISSIONS, Permission


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
class Reach:
    """What a read may see: the merchant's data, all of it (``community_ids`` None) or only
    what belongs to these communities (a leader's). A service filters by it, and answers
    anything outside it as it answers a missing id."""

    tenant: Tenant
    community_ids: frozenset[uuid.UUID] | None = None

    @property
    def everything(self) -> bool:
        return self.community_ids is None

    def sees(self, community_id: uuid.UUID | None) -> bool:
        return self.community_ids is None or community_id in self.community_ids


@dataclass(frozen=True)
class Principal:
    user_id: uuid.UUID
    email: str
    is_platform_admin: bool
    tenant: Tenant | None
    role: Role | None
    via: Literal["token", "session"]
    credential_id: uuid.UUID
    #: The communities a leader leads at ``tenant`` (read with the credential); None for the
    #: other roles, whose reach is not limited to communities.
    community_ids: frozenset[uuid.UUID] | None = None

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
            raise self._denied(permission)
        return tenant

    def reach(self, permission: Permission) -> Reach:
        """The tenant and how far a read with ``permission`` reaches: everything for a role
        that holds it, the led communities for a role that holds it only there
        (``SCOPED_PERMISSIONS``), else 403. Only routes that filter by the reach ask this."""
        tenant = self.require_tenant()
        if self.can(permission):
            return Reach(tenant)
        if self.role is not None and permission in SCOPED_PERMISSIONS.get(self.role, ()):
            return Reach(tenant, self.community_ids or frozenset())
        raise self._denied(permission)

    def _denied(self, permission: Permission) -> PermissionDenied:
        return PermissionDenied(
            f"the {self.role} role may not do this (needs {permission.value})",
            permission=permission.value,
        )
