"""HTTP routes for communities."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, status

from tribekit.api.deps import API_PREFIX, Cursor, DbSession, PageLimit, authorized
from tribekit.tenancy.permissions import Permission
from tribekit.tenancy.principal import Tenant

from . import service
from .schemas import CommunityCreate, CommunityJoin, CommunityOut, CommunityPage

router = APIRouter(prefix=f"{API_PREFIX}/communities", tags=["communities"])

Reader = Annotated[Tenant, authorized(Permission.COMMUNITIES_READ)]
Writer = Annotated[Tenant, authorized(Permission.COMMUNITIES_WRITE)]


def _out(view: service.CommunityView) -> CommunityOut:
    c = view.community
    return CommunityOut(
        id=c.id,
        name=c.name,
        channel=c.channel,
        external_id=c.external_id,
        member_count=view.member_count,
        created_at=c.created_at,
    )


@router.get("", summary="List communities (chat groups)")
async def list_communities(
    session: DbSession, tenant: Reader, limit: PageLimit = 50, cursor: Cursor = None
) -> CommunityPage:
    page = await service.list_communities(session, tenant, limit=limit, cursor=cursor)
    return CommunityPage(items=[_out(v) for v in page.items], next_cursor=page.next_cursor)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Register a community")
async def create_community(
    data: CommunityCreate, session: DbSession, tenant: Writer
) -> CommunityOut:
    return _out(await service.create_community(session, tenant, data))


@router.get("/{community_id}", summary="One community")
async def get_community(
    community_id: uuid.UUID, session: DbSession, tenant: Reader
) -> CommunityOut:
    return _out(await service.get_community(session, tenant, community_id))


@router.post("/{community_id}/members", summary="Record that a member is in the community")
async def add_member(
    community_id: uuid.UUID, data: CommunityJoin, session: DbSession, tenant: Writer
) -> CommunityOut:
    return _out(await service.add_member(session, tenant, community_id, data.member_id))


@router.delete(
    "/{community_id}/members/{member_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Record that a member left the community",
)
async def remove_member(
    community_id: uuid.UUID, member_id: uuid.UUID, session: DbSession, tenant: Writer
) -> None:
    await service.remove_member(session, tenant, community_id, member_id)
