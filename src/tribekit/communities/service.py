"""Community rules. Groups are registered by staff now; the robot will register them itself."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit.db import add_unique
from tribekit.kit.errors import NotFound
from tribekit.kit.pagination import Page, paginate
from tribekit.members.repository import Members
from tribekit.models.communities import Community, CommunityMember
from tribekit.tenancy.principal import Tenant

from .repository import Communities
from .schemas import CommunityCreate


@dataclass(frozen=True)
class CommunityView:
    community: Community
    member_count: int


async def create_community(
    session: AsyncSession, tenant: Tenant, data: CommunityCreate
) -> CommunityView:
    community = Community(merchant_id=tenant.id, **data.model_dump())
    await add_unique(
        session,
        f"a {data.channel} community with chat id {data.external_id!r} already exists",
        community,
    )
    return CommunityView(community, 0)


async def list_communities(
    session: AsyncSession, tenant: Tenant, *, limit: int, cursor: str | None
) -> Page[CommunityView]:
    communities = Communities(session, tenant.id)
    page = await paginate(
        session, communities.select(), key=Community.id, limit=limit, cursor=cursor
    )
    counts = await communities.member_counts([c.id for c in page.items])
    return Page([CommunityView(c, counts.get(c.id, 0)) for c in page.items], page.next_cursor)


async def get_community(
    session: AsyncSession, tenant: Tenant, community_id: uuid.UUID
) -> CommunityView:
    communities = Communities(session, tenant.id)
    community = await communities.get_or_404(community_id)
    counts = await communities.member_counts([community.id])
    return CommunityView(community, counts.get(community.id, 0))


async def add_member(
    session: AsyncSession, tenant: Tenant, community_id: uuid.UUID, member_id: uuid.UUID
) -> CommunityView:
    """Idempotent: a member already in the community stays in it once."""
    communities = Communities(session, tenant.id)
    community = await communities.get_or_404(community_id)
    member = await Members(session, tenant.id).get_current(member_id)
    if member is None:
        raise NotFound(f"no member with id {member_id} at this merchant")
    if await communities.membership(community.id, member.id) is None:
        row = CommunityMember(merchant_id=tenant.id, community_id=community.id, member_id=member.id)
        await add_unique(session, "the member joined this community concurrently", row)
    return await get_community(session, tenant, community_id)


async def remove_member(
    session: AsyncSession, tenant: Tenant, community_id: uuid.UUID, member_id: uuid.UUID
) -> None:
    communities = Communities(session, tenant.id)
    community = await communities.get_or_404(community_id)
    membership = await communities.membership(community.id, member_id)
    if membership is None:
        raise NotFound(f"member {member_id} is not in community {community_id}")
    await session.delete(membership)
    await session.flush()
