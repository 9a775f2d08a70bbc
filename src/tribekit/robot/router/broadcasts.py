"""HTTP routes of the robot's broadcasts: made, listed with their deliveries' counts, previewed
as each channel will show them, cancelled, and their deliveries read one by one."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from tribekit.api.deps import CurrentPrincipal, Cursor, DbSession, PageLimit, State, authorized
from tribekit.robot.broadcasts import service
from tribekit.robot.broadcasts.content import check_content
from tribekit.robot.broadcasts.preview import preview
from tribekit.robot.broadcasts.states import BroadcastStatus, DeliveryStatus
from tribekit.robot.schemas.broadcasts import (
    BroadcastIn,
    BroadcastOut,
    BroadcastPage,
    BroadcastStatusName,
    ButtonOut,
    ChannelPreview,
    DeliveryOut,
    DeliveryPage,
    DeliveryStatusName,
    PreviewIn,
    PreviewOut,
)
from tribekit.tenancy.permissions import Permission
from tribekit.tenancy.principal import Principal, Tenant

router = APIRouter(prefix="/broadcasts", tags=["robot"])

Reader = Annotated[Tenant, authorized(Permission.BROADCASTS_READ)]


async def _sender(principal: CurrentPrincipal) -> Principal:
    principal.require(Permission.BROADCASTS_SEND)
    return principal


# A broadcast records who made it (``staff:<id>``), so the writes take the principal.
Sender = Annotated[Principal, Depends(_sender)]


@router.get("", summary="The merchant's broadcasts, newest first, with their counts")
async def list_broadcasts(
    session: DbSession,
    tenant: Reader,
    limit: PageLimit = 50,
    cursor: Cursor = None,
    status: BroadcastStatusName | None = None,
) -> BroadcastPage:
    page = await service.page(
        session,
        tenant,
        status=BroadcastStatus(status) if status else None,
        limit=limit,
        cursor=cursor,
    )
    return BroadcastPage(
        items=[BroadcastOut.of(v) for v in page.items], next_cursor=page.next_cursor
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Make a broadcast: sent at send_at (now when left out or past)",
)
async def create_broadcast(
    data: BroadcastIn, session: DbSession, state: State, principal: Sender
) -> BroadcastOut:
    view = await service.create(
        session,
        principal.require_tenant(),
        data.to_spec(),
        state.channels,
        created_by=principal.actor,
    )
    return BroadcastOut.of(view)


@router.post("/preview", summary="The message as each channel will show it, in each language")
async def preview_broadcast(data: PreviewIn, state: State, principal: Sender) -> PreviewOut:
    content = data.content.to_content()
    check_content(content, {})  # languages, buttons, image; lengths are shown per channel
    found = preview(content, {n: c.capabilities for n, c in state.channels.items()})
    return PreviewOut(
        items=[
            ChannelPreview(
                channel=r.channel,
                language=r.language,
                kind="photo" if r.kind == "photo" else "text",
                text=r.text,
                image_url=r.image_url,
                buttons=[
                    [ButtonOut(text=b.text, url=b.url, data=b.data) for b in row]
                    for row in r.buttons
                ],
                limit=r.limit,
                problem=r.problem,
            )
            for r in found
        ]
    )


@router.get("/{broadcast_id}", summary="One broadcast, with its deliveries' counts")
async def get_broadcast(
    broadcast_id: uuid.UUID, session: DbSession, tenant: Reader
) -> BroadcastOut:
    return BroadcastOut.of(await service.get(session, tenant, broadcast_id))


@router.post(
    "/{broadcast_id}/cancel",
    summary="Cancel a broadcast: its deliveries not yet on their way are cancelled at once",
)
async def cancel_broadcast(
    broadcast_id: uuid.UUID, session: DbSession, principal: Sender
) -> BroadcastOut:
    return BroadcastOut.of(await service.cancel(session, principal.require_tenant(), broadcast_id))


@router.get("/{broadcast_id}/deliveries", summary="A broadcast's deliveries, newest first")
async def list_deliveries(
    broadcast_id: uuid.UUID,
    session: DbSession,
    tenant: Reader,
    limit: PageLimit = 50,
    cursor: Cursor = None,
    status: DeliveryStatusName | None = None,
) -> DeliveryPage:
    page = await service.deliveries(
        session,
        tenant,
        broadcast_id,
        status=DeliveryStatus(status) if status else None,
        limit=limit,
        cursor=cursor,
    )
    return DeliveryPage(
        items=[DeliveryOut.model_validate(d) for d in page.items], next_cursor=page.next_cursor
    )
