"""Community rules: registering groups (by staff, or found by the robot), their status, their
texts, who is in them and who leads them.

A community registered by staff is ``active`` at once; a group the robot finds is ``pending``
until staff confirm it (``active``) or refuse it (``archived``; the robot leaves). The moves:

=========  ===========================  =====================
action     from                         to
=========  ===========================  =====================
confirm    pending                      active
refuse     pending                      archived
archive    pending, active              archived
=========  ===========================  =====================

Any other move is a 409 whose code names the status the community is in
(``community_pending``, ``community_active``, ``community_archived``).

Reads take a ``Reach``: a leader's reaches only the communities they lead, and everything
outside it is answered as a missing id. Writes take the ``Tenant``. The robot calls
``register_found_group``, ``member_joined``, ``member_left``, ``refuse_community`` and
``is_active`` with the merchant it acts for.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock
from tribekit.kit.db import add_unique
from tribekit.kit.errors import Conflict, NotFound, field_error
from tribekit.kit.ids import new_id
from tribekit.kit.pagination import Page, decode_cursor, encode_cursor, paginate
from tribekit.members.repository import Members
from tribekit.models.communities import Community, CommunityLeader, CommunityMember
from tribekit.models.enums import Channel, CommunityStatus, Role
from tribekit.tenancy.principal import Reach, Tenant
from tribekit.tenancy.repository import StaffRoles

from .repository import Communities
from .schemas import CommunityCreate, CommunityUpdate, LeaderIn


class CommunityStateError(Conflict):
    """The community is not in a status that allows this; the code names its status."""

    status_name: ClassVar[CommunityStatus]


class CommunityPending(CommunityStateError):
    code = "community_pending"
    title = "The community is pending"
    status_name = CommunityStatus.PENDING


class CommunityActive(CommunityStateError):
    code = "community_active"
    title = "The community is active"
    status_name = CommunityStatus.ACTIVE


class CommunityArchived(CommunityStateError):
    code = "community_archived"
    title = "The community is archived"
    status_name = CommunityStatus.ARCHIVED


_STATE_ERRORS: dict[CommunityStatus, type[CommunityStateError]] = {
    error.status_name: error for error in (CommunityPending, CommunityActive, CommunityArchived)
}


def _refuse(community: Community, action: str, hint: str) -> CommunityStateError:
    error = _STATE_ERRORS[community.status]
    return error(
        f"community {community.id} is {community.status}; it cannot be {action} ({hint})",
        community_status=community.status.value,
    )


@dataclass(frozen=True)
class CommunityView:
    community: Community
    leaders: list[CommunityLeader] = field(default_factory=list)


def _not_found(community_id: uuid.UUID) -> NotFound:
    return NotFound(f"no community with id {community_id} at this merchant")


async def _get(session: AsyncSession, reach: Reach, community_id: uuid.UUID) -> Community:
    if not reach.sees(community_id):
        raise _not_found(community_id)
    return await Communities(session, reach.tenant.id).get_or_404(community_id)


async def _views(communities: Communities, rows: Sequence[Community]) -> list[CommunityView]:
    leaders = await communities.leaders([c.id for c in rows])
    return [CommunityView(c, leaders.get(c.id, [])) for c in rows]


# -- registering ---------------------------------------------------------------------------------


async def create_community(
    session: AsyncSession, tenant: Tenant, data: CommunityCreate
) -> CommunityView:
    """Staff register a group: it is active at once (they know it)."""
    now = clock.now()
    community = Community(
        merchant_id=tenant.id,
        **data.model_dump(),
        status=CommunityStatus.ACTIVE,
        member_count=0,
        created_at=now,
        confirmed_at=now,
    )
    await add_unique(
        session,
        f"a {data.channel} community with chat id {data.external_id!r} already exists",
        community,
    )
    return CommunityView(community)


async def register_found_group(
    session: AsyncSession,
    tenant: Tenant,
    robot_account_id: uuid.UUID,
    channel: Channel,
    external_id: str,
    title: str,
) -> Community:
    """The group the robot ``robot_account_id`` was added to: a new ``pending`` community, or
    the one the merchant has for this chat already (whatever its status; a staff-registered one
    is linked to the robot if it had none). Idempotent, also when called concurrently."""
    communities = Communities(session, tenant.id)
    await communities.insert_if_absent(
        {
            "id": new_id(),
            "name": (title.strip() or external_id)[:200],
            "channel": channel,
            "external_id": external_id,
            "status": CommunityStatus.PENDING,
            "robot_account_id": robot_account_id,
            "language": "en",
            "member_count": 0,
            "created_at": clock.now(),
        }
    )
    community = await communities.by_chat(channel, external_id)
    assert community is not None  # inserted now, or there already
    if community.robot_account_id is None:
        community.robot_account_id = robot_account_id
        await session.flush()
    return community


async def is_active(session: AsyncSession, tenant: Tenant, community_id: uuid.UUID) -> bool:
    """Whether the robot may moderate and send in the group (staff confirmed it)."""
    community = await Communities(session, tenant.id).get(community_id)
    return community is not None and community.status == CommunityStatus.ACTIVE


# -- reading -------------------------------------------------------------------------------------


async def list_communities(
    session: AsyncSession,
    reach: Reach,
    *,
    status: CommunityStatus | None = None,
    channel: Channel | None = None,
    limit: int,
    cursor: str | None,
) -> Page[CommunityView]:
    communities = Communities(session, reach.tenant.id)
    stmt = communities.filtered(status=status, channel=channel, within=reach.community_ids)
    page = await paginate(session, stmt, key=Community.id, limit=limit, cursor=cursor)
    return Page(await _views(communities, page.items), page.next_cursor)


async def get_community(
    session: AsyncSession, reach: Reach, community_id: uuid.UUID
) -> CommunityView:
    community = await _get(session, reach, community_id)
    return (await _views(Communities(session, reach.tenant.id), [community]))[0]


async def page_members(
    session: AsyncSession,
    reach: Reach,
    community_id: uuid.UUID,
    *,
    include_left: bool,
    limit: int,
    cursor: str | None,
) -> Page[tuple[CommunityMember, str]]:
    """The community's members, newest member first; those who left only with
    ``include_left``."""
    await _get(session, reach, community_id)
    stmt = Communities(session, reach.tenant.id).members(community_id, include_left=include_left)
    if cursor:
        stmt = stmt.where(CommunityMember.member_id < decode_cursor(cursor))
    stmt = stmt.order_by(CommunityMember.member_id.desc()).limit(limit + 1)
    rows = [(row[0], row[1]) for row in (await session.execute(stmt)).all()]
    items = rows[:limit]
    next_cursor = encode_cursor(items[-1][0].member_id) if len(rows) > limit else None
    return Page(items, next_cursor)


# -- status --------------------------------------------------------------------------------------


async def _move(
    session: AsyncSession,
    tenant: Tenant,
    community_id: uuid.UUID,
    from_states: list[CommunityStatus],
    to: CommunityStatus,
    action: str,
    hint: str,
    **values: Any,
) -> CommunityView:
    communities = Communities(session, tenant.id)
    community = await communities.get_or_404(community_id)
    if not await communities.move(community, from_states, to, **values):
        raise _refuse(await communities.refresh(community), action, hint)
    return (await _views(communities, [community]))[0]


async def confirm_community(
    session: AsyncSession, tenant: Tenant, community_id: uuid.UUID
) -> CommunityView:
    """Staff confirm a group the robot found: the robot starts moderating and speaking in it."""
    return await _move(
        session,
        tenant,
        community_id,
        [CommunityStatus.PENDING],
        CommunityStatus.ACTIVE,
        "confirmed",
        "only pending communities are confirmed",
        confirmed_at=clock.now(),
    )


async def refuse_community(
    session: AsyncSession, tenant: Tenant, community_id: uuid.UUID
) -> CommunityView:
    """Staff refuse a group the robot found: it is archived and the robot is to leave it
    (``robot_account_id`` says which robot). The robot calls this too, when it decides."""
    return await _move(
        session,
        tenant,
        community_id,
        [CommunityStatus.PENDING],
        CommunityStatus.ARCHIVED,
        "refused",
        "only pending communities are refused; archive an active one",
        archived_at=clock.now(),
    )


async def archive_community(
    session: AsyncSession, tenant: Tenant, community_id: uuid.UUID
) -> CommunityView:
    """The group is no longer run: kept with its members and history, the robot silent in it."""
    return await _move(
        session,
        tenant,
        community_id,
        [CommunityStatus.PENDING, CommunityStatus.ACTIVE],
        CommunityStatus.ARCHIVED,
        "archived",
        "it is archived already",
        archived_at=clock.now(),
    )


async def update_community(
    session: AsyncSession, tenant: Tenant, community_id: uuid.UUID, data: CommunityUpdate
) -> CommunityView:
    """Change the name, timezone, language or texts; only the fields sent change."""
    communities = Communities(session, tenant.id)
    community = await communities.get_or_404(community_id)
    changes = data.model_dump(exclude_unset=True)
    if community.status == CommunityStatus.ARCHIVED and changes:
        raise _refuse(community, "changed", "archived communities are kept as they were")
    for name, value in changes.items():
        setattr(community, name, value)
    await session.flush()
    return (await _views(communities, [community]))[0]


# -- members -------------------------------------------------------------------------------------


async def _check_member(session: AsyncSession, tenant: Tenant, member_id: uuid.UUID) -> None:
    if await Members(session, tenant.id).get_current(member_id) is None:
        raise NotFound(f"no member with id {member_id} at this merchant")


async def member_joined(
    session: AsyncSession,
    tenant: Tenant,
    community_id: uuid.UUID,
    member_id: uuid.UUID,
    *,
    source: str | None,
    at: datetime | None = None,
) -> bool:
    """The member joined the group (a channel's join event, or staff recording it). True if
    they were not in it; a member already in it changes nothing. ``member_count`` follows."""
    communities = Communities(session, tenant.id)
    await communities.get_or_404(community_id)
    await _check_member(session, tenant, member_id)
    return await communities.join(
        community_id, member_id, source=source[:64] if source else None, at=at or clock.now()
    )


async def member_left(
    session: AsyncSession,
    tenant: Tenant,
    community_id: uuid.UUID,
    member_id: uuid.UUID,
    *,
    at: datetime | None = None,
) -> bool:
    """The member left the group. True if they were in it; a member not in it changes
    nothing. Their membership stays, with ``left_at``, so their activity stays theirs."""
    communities = Communities(session, tenant.id)
    await communities.get_or_404(community_id)
    return await communities.leave(community_id, member_id, at=at or clock.now())


async def add_member(
    session: AsyncSession, tenant: Tenant, community_id: uuid.UUID, member_id: uuid.UUID
) -> CommunityView:
    """Staff record that a member is in the group. Idempotent: a member in it stays in once."""
    await member_joined(session, tenant, community_id, member_id, source="staff")
    return await get_community(session, Reach(tenant), community_id)


async def remove_member(
    session: AsyncSession, tenant: Tenant, community_id: uuid.UUID, member_id: uuid.UUID
) -> None:
    """Staff record that a member left the group; 404 if they are not in it."""
    if not await member_left(session, tenant, community_id, member_id):
        raise NotFound(f"member {member_id} is not in community {community_id}")


# -- leaders -------------------------------------------------------------------------------------


async def list_leaders(
    session: AsyncSession, reach: Reach, community_id: uuid.UUID
) -> list[CommunityLeader]:
    community = await _get(session, reach, community_id)
    leaders = await Communities(session, reach.tenant.id).leaders([community.id])
    return leaders.get(community.id, [])


async def check_leader(session: AsyncSession, tenant: Tenant, data: LeaderIn) -> None:
    """A staff leader must hold the leader role here (the other roles see every community
    already); a member leader must be a member of the merchant."""
    if data.member_id is not None:
        await _check_member(session, tenant, data.member_id)
        return
    assert data.staff_user_id is not None
    # Locked: a role change cannot slip in between this check and the new leader row.
    role = await StaffRoles(session, tenant.id).of_user(data.staff_user_id, for_update=True)
    if role is None:
        raise NotFound(f"no staff user with id {data.staff_user_id} at this merchant")
    if role.role != Role.LEADER:
        raise field_error(
            "staff_user_id",
            f"this staff user has the {role.role} role; only staff with the leader role lead "
            "communities (the other roles see every community already)",
            "not_a_leader",
        )


async def add_leader(
    session: AsyncSession, tenant: Tenant, community_id: uuid.UUID, data: LeaderIn
) -> CommunityLeader:
    communities = Communities(session, tenant.id)
    community = await communities.get_or_404(community_id)
    await check_leader(session, tenant, data)
    leader = CommunityLeader(
        merchant_id=tenant.id,
        community_id=community.id,
        staff_user_id=data.staff_user_id,
        member_id=data.member_id,
        since=clock.now(),
    )
    who = "staff user" if data.staff_user_id else "member"
    await add_unique(session, f"this {who} leads this community already", leader)
    return leader


async def remove_leader(
    session: AsyncSession, tenant: Tenant, community_id: uuid.UUID, leader_id: uuid.UUID
) -> None:
    communities = Communities(session, tenant.id)
    await communities.get_or_404(community_id)
    leader = await communities.leader(community_id, leader_id)
    if leader is None:
        raise NotFound(f"community {community_id} has no leader with id {leader_id}")
    await session.delete(leader)
    await session.flush()
