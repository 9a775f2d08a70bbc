"""HTTP routes: Telegram's webhook, one route per bot.

The caller is known only by the secret Telegram echoes in ``X-Telegram-Bot-Api-Secret-Token``
(compared in constant time): a missing or wrong secret, an unknown or removed robot are one
answer, 403, and nothing is recorded or processed. The body is read raw (no model of the
update) and handed to ``receive.py``; a redelivered update is answered 200 and done nothing
with. No unit of work is opened for the request itself: ``Receiver.receive`` runs its own.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request

from tribekit.api.deps import State
from tribekit.kit.errors import PermissionDenied
from tribekit.robot.receive import NotAnUpdate, Receiver
from tribekit.robot.schemas.accounts import WebhookAnswer

router = APIRouter(tags=["robot"])


class WebhookRefused(PermissionDenied):
    code = "robot_webhook_forbidden"
    title = "Not a call from Telegram for a robot of this server"


def _update(body: bytes) -> dict[str, Any]:
    """The body as a Telegram update: a JSON object with an integer ``update_id``."""
    try:
        update = json.loads(body)
    except ValueError as exc:
        raise NotAnUpdate("the body is not JSON") from exc
    if not isinstance(update, dict) or type(update.get("update_id")) is not int:
        raise NotAnUpdate("the body is not a Telegram update: no integer update_id")
    return update


@router.post(
    "/telegram/{account_id}/webhook",
    summary="Telegram's webhook for one bot (the secret token header checked)",
)
async def telegram_webhook(
    account_id: str,
    request: Request,
    state: State,
    secret: Annotated[str | None, Header(alias="X-Telegram-Bot-Api-Secret-Token")] = None,
) -> WebhookAnswer:
    receiver = Receiver(
        state.db,
        state.channels,
        redis=state.redis,
        secret_key=state.secret_key,
        public_url=state.settings.public_url,
    )
    served = await receiver.for_webhook(account_id, secret)
    if served is None:
        raise WebhookRefused("this call does not carry the robot's webhook secret")
    update = _update(await request.body())
    return WebhookAnswer(outcomes=await receiver.receive(served, update))
