"""HTTP routes of keyword auto-replies (FAQ): per community or merchant-wide."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, status

from tribekit.api.deps import Cursor, DbSession, PageLimit, authorized
from tribekit.robot import replies
from tribekit.robot.schemas.replies import ReplyIn, ReplyOut, ReplyPage, ReplyUpdate
from tribekit.tenancy.permissions import Permission
from tribekit.tenancy.principal import Tenant

router = APIRouter(tags=["robot"])

Reader = Annotated[Tenant, authorized(Permission.ROBOT_READ)]
Writer = Annotated[Tenant, authorized(Permission.ROBOT_CONFIGURE)]


@router.get("/replies", summary="Keyword auto-replies, newest first")
async def list_replies(
    session: DbSession,
    tenant: Reader,
    limit: PageLimit = 50,
    cursor: Cursor = None,
    community_id: uuid.UUID | None = None,
    merchant_wide: bool | None = None,
) -> ReplyPage:
    page = await replies.page(
        session,
        tenant,
        community_id=community_id,
        merchant_wide=merchant_wide,
        limit=limit,
        cursor=cursor,
    )
    return ReplyPage(
        items=[ReplyOut.model_validate(r) for r in page.items], next_cursor=page.next_cursor
    )


@router.post(
    "/replies",
    status_code=status.HTTP_201_CREATED,
    summary="Add an auto-reply (a regex must compile and not look catastrophic)",
)
async def create_reply(data: ReplyIn, session: DbSession, tenant: Writer) -> ReplyOut:
    row = await replies.create(session, tenant, **data.model_dump())
    return ReplyOut.model_validate(row)


@router.patch("/replies/{reply_id}", summary="Change an auto-reply; only the fields sent change")
async def update_reply(
    reply_id: uuid.UUID, data: ReplyUpdate, session: DbSession, tenant: Writer
) -> ReplyOut:
    row = await replies.change(session, tenant, reply_id, data.model_dump(exclude_unset=True))
    return ReplyOut.model_validate(row)


@router.delete(
    "/replies/{reply_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove an auto-reply",
)
async def delete_reply(reply_id: uuid.UUID, session: DbSession, tenant: Writer) -> None:
    await replies.remove(session, tenant, reply_id)
