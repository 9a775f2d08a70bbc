"""Queries for communities."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select

from tribekit.kit.repository import TenantRepository
from tribekit.models.communities import Community, CommunityMember


class Communities(TenantRepository[Community]):
    model = Community
    noun = "community"

    async def member_counts(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
        stmt = (
            select(CommunityMember.community_id, func.count())
            .where(CommunityMember.merchant_id == self.merchant_id)
            .where(CommunityMember.community_id.in_(ids))
            .group_by(CommunityMember.community_id)
        )
        return {cid: int(n) for cid, n in (await self.session.execute(stmt)).all()}

    async def membership(
        self, community_id: uuid.UUID, member_id: uuid.UUID
    ) -> CommunityMember | None:
        return await self.session.get(CommunityMember, (community_id, member_id))
