"""HTTP routes of the robot, one module per concern, joined into one router:

* ``accounts``: the merchant's robots (register a Telegram bot, set its webhook, remove it);
* ``webhook``: the platforms' inbound calls (Telegram's webhook, one route per bot);
* ``moderation``: policies, the ban list, the moderation log (undo, review);
* ``replies``: keyword auto-replies / FAQ.

The webhook is its own router, which the app mounts before every other route: every message
of every group comes in through it, and a route is found by trying each in turn.
"""

from __future__ import annotations

from fastapi import APIRouter

from tribekit.api.deps import API_PREFIX

from . import accounts, moderation, replies, webhook

router = APIRouter(prefix=f"{API_PREFIX}/robot")
for _part in (accounts, moderation, replies):
    router.include_router(_part.router)

webhook_router = APIRouter(prefix=f"{API_PREFIX}/robot")
webhook_router.include_router(webhook.router)
