"""The web community's queries: messages by place and by change, a member's standing, who
leads a group, the merchant's web robot. (The merchant's ban list is the robot's:
``robot.bans.in_force``.)"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit.repository import TenantRepository
from tribekit.models.communities import CommunityLeader
from tribekit.models.members import MemberIdentity
from tribekit.models.web import WebCounter, WebMemberState, WebMessage


class WebMessages(TenantRepository[WebMessage]):
    model = WebMessage

    async def before(
        self, community_id: uuid.UUID, before_seq: int | None, limit: int
    ) -> Sequence[WebMessage]:
        """Up to ``limit`` messages of the group placed before ``before_seq`` (the newest when
        None), oldest first."""
        stmt = self.select().where(WebMessage.community_id == community_id)
        if before_seq is not None:
            stmt = stmt.where(WebMessage.seq < before_seq)
        rows = (await self.session.scalars(stmt.order_by(WebMessage.seq.desc()).limit(limit))).all()
        return list(reversed(rows))

    async def changed_after(
        self, community_id: uuid.UUID, rev: int, limit: int
    ) -> Sequence[WebMessage]:
        """Messages posted or removed after change ``rev``, in the order they changed."""
        stmt = (
            self.select()
            .where(WebMessage.community_id == community_id, WebMessage.rev > rev)
            .order_by(WebMessage.rev)
            .limit(limit)
        )
        return (await self.session.scalars(stmt)).all()

    async def last_change(self, community_id: uuid.UUID) -> int:
        last = await self.session.scalar(
            select(WebCounter.last).where(
                WebCounter.merchant_id == self.merchant_id, WebCounter.community_id == community_id
            )
        )
        return int(last or 0)

    async def in_group(self, community_id: uuid.UUID, message_id: uuid.UUID) -> WebMessage | None:
        found: WebMessage | None = await self.session.scalar(
            self.select().where(
                WebMessage.community_id == community_id, WebMessage.id == message_id
            )
        )
        return found


async def member_state(
    session: AsyncSession, merchant_id: uuid.UUID, community_id: uuid.UUID, member_id: uuid.UUID
) -> WebMemberState | None:
    return await session.scalar(
        select(WebMemberState).where(
            WebMemberState.merchant_id == merchant_id,
            WebMemberState.community_id == community_id,
            WebMemberState.member_id == member_id,
        )
    )


async def clear_removal(
    session: AsyncSession, merchant_id: uuid.UUID, community_id: uuid.UUID, member_id: uuid.UUID
) -> None:
    """A removed (kicked) member is back: one statement, so a read unit of work may run it."""
    await session.execute(
        update(WebMemberState)
        .where(
            WebMemberState.merchant_id == merchant_id,
            WebMemberState.community_id == community_id,
            WebMemberState.member_id == member_id,
            WebMemberState.removed_at.is_not(None),
        )
        .values(removed_at=None)
    )


async def leads(
    session: AsyncSession,
    merchant_id: uuid.UUID,
    community_id: uuid.UUID,
    *,
    staff_user_id: uuid.UUID | None = None,
    member_id: uuid.UUID | None = None,
) -> bool:
    """Whether this staff user or member leads the group."""
    stmt = select(func.count()).where(
        CommunityLeader.merchant_id == merchant_id, CommunityLeader.community_id == community_id
    )
    if staff_user_id is not None:
        stmt = stmt.where(CommunityLeader.staff_user_id == staff_user_id)
    elif member_id is not None:
        stmt = stmt.where(CommunityLeader.member_id == member_id)
    else:
        return False
    return bool(await session.scalar(stmt))


async def has_identity(
    session: AsyncSession, merchant_id: uuid.UUID, member_id: uuid.UUID, channel: str
) -> bool:
    found = await session.scalar(
        select(MemberIdentity.id).where(
            MemberIdentity.merchant_id == merchant_id,
            MemberIdentity.channel == channel,
            MemberIdentity.external_id == str(member_id),
        )
    )
    return found is not None
