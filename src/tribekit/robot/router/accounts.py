"""HTTP routes: the merchant's robot accounts (register a Telegram bot or a Matrix user, rename
it, switch its mode, remove it, point a Telegram bot's webhook at this server)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Response, status

from tribekit.api.deps import DbSession, State, authorized
from tribekit.models.robot import RobotAccount
from tribekit.robot import accounts
from tribekit.robot.channels.telegram import ALLOWED_UPDATES
from tribekit.robot.schemas.accounts import (
    MatrixRobotIn,
    RobotAccountIn,
    RobotAccountList,
    RobotAccountOut,
    RobotAccountUpdate,
    WebhookSet,
)
from tribekit.tenancy.permissions import Permission
from tribekit.tenancy.principal import Tenant

router = APIRouter(prefix="/accounts", tags=["robot"])

Reader = Annotated[Tenant, authorized(Permission.ROBOT_READ)]
Manager = Annotated[Tenant, authorized(Permission.ROBOT_ACCOUNTS)]


def _out(account: RobotAccount) -> RobotAccountOut:
    return RobotAccountOut(
        id=account.id,
        channel=account.channel,
        name=account.name,
        username=account.username,
        external_id=account.external_id,
        homeserver=account.homeserver,
        mode="poll" if account.mode == "poll" else "webhook",
        active=account.active,
        webhook_path=accounts.webhook_path(account.id),
        created_at=account.created_at,
    )


@router.get("", summary="The merchant's robots (removed ones last)")
async def list_accounts(session: DbSession, tenant: Reader) -> RobotAccountList:
    return RobotAccountList(items=[_out(a) for a in await accounts.list_accounts(session, tenant)])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Register a Telegram bot (its token checked with Telegram's getMe) or a Matrix user "
    "(channel 'matrix': its access token checked with the homeserver's whoami)",
)
async def register_account(
    data: RobotAccountIn, session: DbSession, state: State, tenant: Manager
) -> RobotAccountOut:
    if isinstance(data, MatrixRobotIn):
        account = await accounts.register_matrix_robot(
            session,
            tenant,
            state.channels,
            homeserver=data.homeserver,
            token=data.token,
            name=data.name,
        )
    else:
        account = await accounts.register_telegram_bot(
            session, tenant, state.channels, token=data.token, name=data.name, mode=data.mode
        )
    return _out(account)


@router.get("/{account_id}", summary="One robot")
async def get_account(account_id: uuid.UUID, session: DbSession, tenant: Reader) -> RobotAccountOut:
    return _out(await accounts.get_account(session, tenant, account_id))


@router.patch("/{account_id}", summary="Rename a robot or switch its mode (webhook or poll)")
async def update_account(
    account_id: uuid.UUID, data: RobotAccountUpdate, session: DbSession, tenant: Manager
) -> RobotAccountOut:
    account = await accounts.update_account(
        session, tenant, account_id, name=data.name, mode=data.mode
    )
    return _out(account)


@router.delete(
    "/{account_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a robot: its webhook is refused from now on; its groups stay",
)
async def remove_account(
    account_id: uuid.UUID, session: DbSession, state: State, tenant: Manager
) -> Response:
    await accounts.remove_account(session, tenant, state.channels, account_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{account_id}/webhook",
    summary="Point the bot's Telegram webhook at this server (TRIBEKIT_PUBLIC_URL)",
)
async def set_webhook(
    account_id: uuid.UUID, session: DbSession, state: State, tenant: Manager
) -> WebhookSet:
    url = await accounts.set_webhook(
        session, tenant, state.channels, account_id, state.settings.public_url
    )
    return WebhookSet(account_id=account_id, url=url, allowed_updates=list(ALLOWED_UPDATES))
