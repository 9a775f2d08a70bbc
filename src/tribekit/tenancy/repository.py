"""Queries for merchants, staff and credentials."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import Select, and_, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit.repository import TenantRepository
from tribekit.models.tenancy import (
    ApiToken,
    Merchant,
    StaffInvitation,
    StaffRole,
    StaffSession,
    StaffUser,
)

LAST_USED_GRANULARITY = timedelta(minutes=1)


async def merchant_by_slug(session: AsyncSession, slug: str) -> Merchant | None:
    return await session.scalar(select(Merchant).where(Merchant.slug == slug))


async def all_merchants(session: AsyncSession) -> list[Merchant]:
    return list((await session.scalars(select(Merchant).order_by(Merchant.slug))).all())


async def merchant_by_id(session: AsyncSession, merchant_id: uuid.UUID) -> Merchant | None:
    return await session.get(Merchant, merchant_id)


async def user_by_email(session: AsyncSession, email: str) -> StaffUser | None:
    return await session.scalar(select(StaffUser).where(StaffUser.email == email.lower()))


async def slugs_of_merchants(session: AsyncSession, merchant_ids: list[uuid.UUID]) -> list[str]:
    stmt = select(Merchant.slug).where(Merchant.id.in_(merchant_ids)).order_by(Merchant.slug)
    return list((await session.scalars(stmt)).all())


async def roles_of_user(session: AsyncSession, user_id: uuid.UUID) -> list[StaffRole]:
    stmt = select(StaffRole).where(StaffRole.user_id == user_id).order_by(StaffRole.id)
    return list((await session.scalars(stmt)).all())


class StaffRoles(TenantRepository[StaffRole]):
    model = StaffRole
    noun = "staff member"

    def with_users(self) -> Select[StaffRole, StaffUser]:
        return self.select(StaffRole, StaffUser).join(StaffUser, StaffUser.id == StaffRole.user_id)

    async def of_user(self, user_id: uuid.UUID, *, for_update: bool = False) -> StaffRole | None:
        stmt = self.select().where(StaffRole.user_id == user_id)
        if for_update:
            stmt = stmt.with_for_update()
        role: StaffRole | None = await self.session.scalar(stmt)
        return role

    async def lock_owners(self) -> list[StaffRole]:
        """Lock every owner row (in id order) so two demotions cannot leave the shop ownerless."""
        stmt = self.select().where(StaffRole.role == "owner").order_by(StaffRole.id)
        return list((await self.session.scalars(stmt.with_for_update())).all())


# Built once: composing a four-table select costs about a millisecond of Python per request.
_TOKEN_WITH_HOLDER = (
    select(ApiToken, StaffUser, Merchant, StaffRole)
    .join(StaffUser, StaffUser.id == ApiToken.user_id)
    .outerjoin(Merchant, Merchant.id == ApiToken.merchant_id)
    .outerjoin(
        StaffRole,
        and_(StaffRole.merchant_id == ApiToken.merchant_id, StaffRole.user_id == ApiToken.user_id),
    )
    .where(ApiToken.token_hash == bindparam("token_hash"))
)


async def token_with_holder(
    session: AsyncSession, token_hash: str
) -> tuple[ApiToken, StaffUser, Merchant | None, StaffRole | None] | None:
    """The token, its user, and the merchant and role it acts with: one query per request."""
    row = (await session.execute(_TOKEN_WITH_HOLDER, {"token_hash": token_hash})).first()
    if row is None:
        return None
    token, user, merchant, role = row
    return token, user, merchant, role


def tokens_of_merchant(merchant_id: uuid.UUID) -> Select[ApiToken]:
    return select(ApiToken).where(ApiToken.merchant_id == merchant_id)


async def touch_token(session: AsyncSession, token_id: uuid.UUID, now: datetime) -> None:
    """Record use at most once a minute, so that reads do not all turn into writes. A request
    that finds the row locked by another request of the same token skips the touch instead of
    waiting for that whole transaction."""
    stale = (
        select(ApiToken.id)
        .where(
            ApiToken.id == token_id,
            or_(
                ApiToken.last_used_at.is_(None),
                ApiToken.last_used_at < now - LAST_USED_GRANULARITY,
            ),
        )
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    await session.execute(update(ApiToken).where(ApiToken.id == stale).values(last_used_at=now))


async def revoke_tokens_named(
    session: AsyncSession, merchant_id: uuid.UUID, user_id: uuid.UUID, name: str, now: datetime
) -> None:
    await session.execute(
        update(ApiToken)
        .where(
            ApiToken.merchant_id == merchant_id,
            ApiToken.user_id == user_id,
            ApiToken.name == name,
            ApiToken.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )


async def session_by_hash(session: AsyncSession, token_hash: str) -> StaffSession | None:
    return await session.scalar(select(StaffSession).where(StaffSession.token_hash == token_hash))


# -- invitations ---------------------------------------------------------------------------------


class Invitations(TenantRepository[StaffInvitation]):
    model = StaffInvitation
    noun = "invitation"

    async def is_staff(self, email: str) -> bool:
        """Whether a staff user with this email already works for this merchant."""
        stmt = (
            select(StaffRole.id)
            .join(StaffUser, StaffUser.id == StaffRole.user_id)
            .where(StaffRole.merchant_id == self.merchant_id, StaffUser.email == email)
        )
        return await self.session.scalar(stmt) is not None

    async def revoke_pending(self, email: str, now: datetime) -> None:
        await self.session.execute(
            update(StaffInvitation)
            .where(
                StaffInvitation.merchant_id == self.merchant_id,
                StaffInvitation.email == email,
                StaffInvitation.accepted_at.is_(None),
                StaffInvitation.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )


async def invitation_by_hash(session: AsyncSession, token_hash: str) -> StaffInvitation | None:
    stmt = select(StaffInvitation).where(StaffInvitation.token_hash == token_hash)
    return await session.scalar(stmt)


async def claim_invitation(session: AsyncSession, invitation_id: uuid.UUID, now: datetime) -> bool:
    """Mark the invitation accepted if it still can be: the database decides, so of two accepts
    at once exactly one wins (the other waits for the row, then finds it taken)."""
    claimed = await session.scalar(
        update(StaffInvitation)
        .where(
            StaffInvitation.id == invitation_id,
            StaffInvitation.accepted_at.is_(None),
            StaffInvitation.revoked_at.is_(None),
            StaffInvitation.expires_at > now,
        )
        .values(accepted_at=now)
        .returning(StaffInvitation.id)
    )
    return claimed is not None
