"""HTTP routes for communities."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from tribekit.api.deps import (
    API_PREFIX,
    CurrentPrincipal,
    Cursor,
    DbSession,
    PageLimit,
    authorized,
)
from tribekit.kit import clock
from tribekit.kit.errors import field_error
from tribekit.models.enums import Channel, CommunityStatus
from tribekit.robot import activity
from tribekit.tenancy.permissions import Permission
from tribekit.tenancy.principal import Reach, Tenant

from . import service
from .schemas import (
    ActiveMember,
    ActivityDay,
    CommunityActivity,
    CommunityCreate,
    CommunityJoin,
    CommunityMemberOut,
    CommunityMemberPage,
    CommunityOut,
    CommunityPage,
    CommunityUpdate,
    LeaderIn,
    LeaderList,
    LeaderOut,
)

router = APIRouter(prefix=f"{API_PREFIX}/communities", tags=["communities"])


async def _community_reader(principal: CurrentPrincipal) -> Reach:
    return principal.reach(Permission.COMMUNITIES_READ)


async def _member_reader(principal: CurrentPrincipal) -> Reach:
    return principal.reach(Permission.MEMBERS_READ)


# A leader reads only the communities they lead (``Principal.reach``).
Reader = Annotated[Reach, Depends(_community_reader)]
MemberReader = Annotated[Reach, Depends(_member_reader)]
Writer = Annotated[Tenant, authorized(Permission.COMMUNITIES_WRITE)]
LeaderWriter = Annotated[Tenant, authorized(Permission.COMMUNITIES_LEADERS)]


def _out(view: service.CommunityView) -> CommunityOut:
    c = view.community
    return CommunityOut(
        id=c.id,
        name=c.name,
        channel=c.channel,
        external_id=c.external_id,
        status=c.status,
        robot_account_id=c.robot_account_id,
        timezone=c.timezone,
        language=c.language,
        welcome_text=c.welcome_text,
        rules_text=c.rules_text,
        member_count=c.member_count,
        leaders=[LeaderOut.model_validate(leader) for leader in view.leaders],
        created_at=c.created_at,
        confirmed_at=c.confirmed_at,
        archived_at=c.archived_at,
    )


@router.get("", summary="List communities (chat groups), newest first, with filters")
async def list_communities(
    session: DbSession,
    reach: Reader,
    limit: PageLimit = 50,
    cursor: Cursor = None,
    status: CommunityStatus | None = None,
    channel: Channel | None = None,
) -> CommunityPage:
    page = await service.list_communities(
        session, reach, status=status, channel=channel, limit=limit, cursor=cursor
    )
    return CommunityPage(items=[_out(v) for v in page.items], next_cursor=page.next_cursor)


@router.post("", status_code=201, summary="Register a community (active at once)")
async def create_community(
    data: CommunityCreate, session: DbSession, tenant: Writer
) -> CommunityOut:
    return _out(await service.create_community(session, tenant, data))


@router.get("/{community_id}", summary="One community")
async def get_community(community_id: uuid.UUID, session: DbSession, reach: Reader) -> CommunityOut:
    return _out(await service.get_community(session, reach, community_id))


@router.patch("/{community_id}", summary="Change a community; only the fields sent change")
async def update_community(
    community_id: uuid.UUID, data: CommunityUpdate, session: DbSession, tenant: Writer
) -> CommunityOut:
    return _out(await service.update_community(session, tenant, community_id, data))


@router.post("/{community_id}/confirm", summary="Confirm a pending group: the robot acts in it")
async def confirm_community(
    community_id: uuid.UUID, session: DbSession, tenant: Writer
) -> CommunityOut:
    return _out(await service.confirm_community(session, tenant, community_id))


@router.post("/{community_id}/refuse", summary="Refuse a pending group: archived, the robot leaves")
async def refuse_community(
    community_id: uuid.UUID, session: DbSession, tenant: Writer
) -> CommunityOut:
    return _out(await service.refuse_community(session, tenant, community_id))


@router.post("/{community_id}/archive", summary="Archive a community: kept, the robot silent")
async def archive_community(
    community_id: uuid.UUID, session: DbSession, tenant: Writer
) -> CommunityOut:
    return _out(await service.archive_community(session, tenant, community_id))


@router.get("/{community_id}/members", summary="Who is in the community, newest member first")
async def list_community_members(
    community_id: uuid.UUID,
    session: DbSession,
    reach: MemberReader,
    limit: PageLimit = 50,
    cursor: Cursor = None,
    include_left: bool = False,
) -> CommunityMemberPage:
    page = await service.page_members(
        session, reach, community_id, include_left=include_left, limit=limit, cursor=cursor
    )
    return CommunityMemberPage(
        items=[
            CommunityMemberOut(
                member_id=row.member_id,
                display_name=name,
                joined_at=row.joined_at,
                left_at=row.left_at,
                join_source=row.join_source,
                last_active_at=row.last_active_at,
                messages=row.messages,
            )
            for row, name in page.items
        ],
        next_cursor=page.next_cursor,
    )


@router.get(
    "/{community_id}/activity",
    summary="What happened in the community per day, and who posted most (its timezone)",
)
async def community_activity(
    community_id: uuid.UUID,
    session: DbSession,
    reach: Reader,
    start: Annotated[
        date | None, Query(alias="from", description="First day; default: 29 days before to")
    ] = None,
    end: Annotated[date | None, Query(alias="to", description="Last day; default: today")] = None,
) -> CommunityActivity:
    community = (await service.get_community(session, reach, community_id)).community
    tenant = reach.tenant
    # Default: 30 days, ending today in the community's timezone.
    today = activity.day_of(community, tenant, clock.now())
    end = end or (start + timedelta(days=29) if start else today)
    start = start or end - timedelta(days=29)
    if start > end:
        raise field_error("from", "from is after to; send from <= to")
    if (end - start).days + 1 > activity.MAX_DAYS:
        raise field_error("to", f"the range is longer than {activity.MAX_DAYS} days; split it")
    read = await activity.read(session, tenant, community, start, end)
    return CommunityActivity.model_validate(
        {
            "community_id": community.id,
            "timezone": community.timezone or tenant.timezone,
            "from": read.start,
            "to": read.end,
            "days": [ActivityDay.model_validate(d) for d in read.days],
            "top_members": [ActiveMember.model_validate(m) for m in read.top_members],
        }
    )


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


@router.get("/{community_id}/leaders", summary="Who leads the community")
async def list_leaders(community_id: uuid.UUID, session: DbSession, reach: Reader) -> LeaderList:
    leaders = await service.list_leaders(session, reach, community_id)
    return LeaderList(items=[LeaderOut.model_validate(leader) for leader in leaders])


@router.post(
    "/{community_id}/leaders",
    status_code=status.HTTP_201_CREATED,
    summary="Name a leader: a staff user with the leader role, or a member",
)
async def add_leader(
    community_id: uuid.UUID, data: LeaderIn, session: DbSession, tenant: LeaderWriter
) -> LeaderOut:
    return LeaderOut.model_validate(await service.add_leader(session, tenant, community_id, data))


@router.delete(
    "/{community_id}/leaders/{leader_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="The leader no longer leads the community",
)
async def remove_leader(
    community_id: uuid.UUID, leader_id: uuid.UUID, session: DbSession, tenant: LeaderWriter
) -> None:
    await service.remove_leader(session, tenant, community_id, leader_id)
