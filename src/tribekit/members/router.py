"""HTTP routes for members."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status

from tribekit.api.deps import (
    API_PREFIX,
    CurrentPrincipal,
    Cursor,
    DbSession,
    PageLimit,
    State,
    authorized,
)
from tribekit.kit.schemas import UtcDatetime
from tribekit.models.enums import MemberSource
from tribekit.tenancy.permissions import Permission
from tribekit.tenancy.principal import Reach, Tenant

from . import service
from .repository import MemberFilters
from .schemas import (
    IdentityIn,
    IdentityOut,
    MemberCreate,
    MemberEventOut,
    MemberEventPage,
    MemberLinkOut,
    MemberMerge,
    MemberOut,
    MemberPage,
    MemberUpdate,
)

router = APIRouter(prefix=f"{API_PREFIX}/members", tags=["members"])

Reader = Annotated[Tenant, authorized(Permission.MEMBERS_READ)]
Writer = Annotated[Tenant, authorized(Permission.MEMBERS_WRITE)]


async def _reach(principal: CurrentPrincipal) -> Reach:
    return principal.reach(Permission.MEMBERS_READ)


#: The list and one member: a leader reads the members of their communities (``Principal.reach``).
ScopedReader = Annotated[Reach, Depends(_reach)]


@router.get("", summary="List members, newest first, with filters")
async def list_members(
    session: DbSession,
    reach: ScopedReader,
    limit: PageLimit = 50,
    cursor: Cursor = None,
    tag: Annotated[str | None, Query(max_length=50)] = None,
    source: MemberSource | None = None,
    source_ref: Annotated[str | None, Query(max_length=100)] = None,
    community_id: uuid.UUID | None = None,
    joined_from: UtcDatetime | None = None,
    joined_to: UtcDatetime | None = None,
    blocked: bool | None = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=100, description="Search name or phone digits")
    ] = None,
) -> MemberPage:
    filters = MemberFilters(
        tag=tag,
        source=source.value if source else None,
        source_ref=source_ref,
        community_id=community_id,
        joined_from=joined_from,
        joined_to=joined_to,
        search=q,
        blocked=blocked,
    )
    page = await service.list_members(session, reach, filters, limit=limit, cursor=cursor)
    return MemberPage(items=[MemberOut.of(v) for v in page.items], next_cursor=page.next_cursor)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a member")
async def create_member(
    data: MemberCreate, session: DbSession, tenant: Writer, principal: CurrentPrincipal
) -> MemberOut:
    return MemberOut.of(await service.create_member(session, tenant, principal.actor, data))


@router.get("/{member_id}", summary="One member")
async def get_member(member_id: uuid.UUID, session: DbSession, reach: ScopedReader) -> MemberOut:
    return MemberOut.model_validate(await service.read_member(session, reach, member_id))


@router.patch("/{member_id}", summary="Change a member; only the fields sent change")
async def update_member(
    member_id: uuid.UUID,
    data: MemberUpdate,
    session: DbSession,
    tenant: Writer,
    principal: CurrentPrincipal,
) -> MemberOut:
    view = await service.update_member(session, tenant, principal.actor, member_id, data)
    return MemberOut.of(view)


@router.delete(
    "/{member_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Erase a member: personal data wiped, history kept under a pseudonymous id",
)
async def erase_member(
    member_id: uuid.UUID,
    session: DbSession,
    tenant: Annotated[Tenant, authorized(Permission.MEMBERS_ERASE)],
    principal: CurrentPrincipal,
) -> None:
    await service.erase_member(session, tenant, principal.actor, member_id)


@router.get("/{member_id}/export", summary="Everything held about one member, as JSON")
async def export_member(member_id: uuid.UUID, session: DbSession, tenant: Reader) -> dict[str, Any]:
    return await service.export_member(session, tenant, member_id)


@router.get("/{member_id}/events", summary="The member's timeline, newest first")
async def member_events(
    member_id: uuid.UUID,
    session: DbSession,
    tenant: Reader,
    limit: PageLimit = 50,
    cursor: Cursor = None,
) -> MemberEventPage:
    page = await service.events_page(session, tenant, member_id, limit=limit, cursor=cursor)
    return MemberEventPage(
        items=[MemberEventOut.model_validate(e) for e in page.items], next_cursor=page.next_cursor
    )


@router.post("/{member_id}/merge", summary="Merge a duplicate member into this one")
async def merge_member(
    member_id: uuid.UUID,
    data: MemberMerge,
    session: DbSession,
    tenant: Writer,
    principal: CurrentPrincipal,
) -> MemberOut:
    view = await service.merge_members(
        session, tenant, principal.actor, member_id, data.source_member_id
    )
    return MemberOut.of(view)


@router.post(
    "/{member_id}/identities",
    status_code=status.HTTP_201_CREATED,
    summary="Link a channel identity (Telegram id, Matrix id...) to the member",
)
async def add_identity(
    member_id: uuid.UUID,
    data: IdentityIn,
    session: DbSession,
    tenant: Writer,
    principal: CurrentPrincipal,
) -> IdentityOut:
    identity = await service.add_identity(session, tenant, principal.actor, member_id, data)
    return IdentityOut.model_validate(identity)


@router.delete(
    "/{member_id}/identities/{identity_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Unlink a channel identity",
)
async def remove_identity(
    member_id: uuid.UUID,
    identity_id: uuid.UUID,
    session: DbSession,
    tenant: Writer,
    principal: CurrentPrincipal,
) -> None:
    await service.remove_identity(session, tenant, principal.actor, member_id, identity_id)


@router.post(
    "/{member_id}/access-links",
    status_code=status.HTTP_201_CREATED,
    summary="A signed link token that lets the member see and place their own orders (72 h)",
)
async def create_access_link(
    member_id: uuid.UUID, state: State, session: DbSession, tenant: Writer
) -> MemberLinkOut:
    token, expires_at = await service.member_link(session, tenant, state.secret_key, member_id)
    return MemberLinkOut(token=token, expires_at=expires_at)
