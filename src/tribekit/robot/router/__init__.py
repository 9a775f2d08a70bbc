"""HTTP routes of the robot, one module per concern, joined into one router:

* ``accounts``: the merchant's robots (register a Telegram bot, set its webhook, remove it);
* ``webhook``: the platforms' inbound calls (Telegram's webhook, one route per bot);
* ``moderation``: policies, the ban list, the moderation log (undo, review);
* ``replies``: keyword auto-replies / FAQ;
* ``broadcasts``: broadcasts to many groups or members, their previews and deliveries;
* ``schedules``: recurring scheduled posts and the calendar of what will be posted where.

The webhook is its own router, which the app mounts before every other route: every message
of every group comes in through it, and a route is found by trying each in turn.
"""

from __future__ import annotations

from fastapi import APIRouter

from tribekit.api.deps import API_PREFIX

from . import accounts, broadcasts, moderation, replies, schedules, webhook

router = APIRouter(prefix=f"{API_PREFIX}/robot")
for _part in (accounts, moderation, replies, broadcasts, schedules):
    router.include_router(_part.router)

webhook_router = APIRouter(prefix=f"{API_PREFIX}/robot")
webhook_router.include_router(webhook.router)
