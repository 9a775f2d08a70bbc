"""The moderation policy a group follows: the merchant's (or the default one) with the group's
override merged over it, and the compiled engine for it, rebuilt only when either changes."""

from __future__ import annotations

import uuid

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.models.moderation import ModerationPolicy
from tribekit.tenancy.principal import Tenant

from .moderation.engine import Engine, compile
from .moderation.policy import Policy, merge


async def effective(
    session: AsyncSession, tenant: Tenant, community_id: uuid.UUID | None
) -> tuple[Policy, Engine]:
    """The merged policy of a group, and its engine (cached by both rows' versions)."""
    rows = (
        await session.scalars(
            select(ModerationPolicy).where(
                ModerationPolicy.merchant_id == tenant.id,
                or_(
                    ModerationPolicy.community_id.is_(None),
                    ModerationPolicy.community_id == community_id,
                ),
            )
        )
    ).all()
    base = next((r for r in rows if r.community_id is None), None)
    override = next((r for r in rows if r.community_id is not None), None)
    policy = merge(
        Policy.model_validate(base.rules) if base else Policy(),
        Policy.model_validate(override.rules) if override else None,
    )
    version = (
        tenant.id,
        base.version if base else 0,
        override.community_id if override else None,
        override.version if override else 0,
    )
    return policy, compile(policy, version=version)
