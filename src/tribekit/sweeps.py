"""Every worker sweep, listed explicitly. A domain with time-based work adds its ``SWEEPS`` here.

Some sweeps act outside the database after their claim commits (refunds at the payment
provider, the robot's actions on the chat platforms), so the list is built for one database,
one registry of payment providers and one of chat channels."""

from __future__ import annotations

from collections.abc import Mapping

from redis.asyncio import Redis

from tribekit.campaigns import tasks as campaign_tasks
from tribekit.idempotency import tasks as idempotency_tasks
from tribekit.kit.db import Database
from tribekit.kit.throttle import MemoryThrottle, Throttle
from tribekit.kit.worker import Sweep
from tribekit.membership import tasks as membership_tasks
from tribekit.orders import events as order_events
from tribekit.orders import tasks as order_tasks
from tribekit.orders.payments import PaymentProvider
from tribekit.robot import tasks as robot_tasks
from tribekit.robot.broadcasts import tasks as broadcast_tasks
from tribekit.robot.channels import Channel
from tribekit.robot.schedules import tasks as schedule_tasks
from tribekit.tenancy import tasks as tenancy_tasks


def all_sweeps(
    db: Database,
    providers: Mapping[str, PaymentProvider],
    channels: Mapping[str, Channel] | None = None,
    throttle: Throttle | None = None,
    schedule_horizon_hours: float = 24,
    redis: Redis | None = None,
    campaign_horizon_hours: float = 24,
    public_url: str | None = None,
) -> list[Sweep]:
    """``throttle`` paces the robot's broadcasts; one process's own (``MemoryThrottle``) when
    None, so pass the shared one wherever several processes send (``build_throttle``).
    Scheduled posts are planned ``schedule_horizon_hours`` ahead, campaigns
    ``campaign_horizon_hours``; ``redis`` holds the flash sales' Redis engine (None: SQL);
    campaign announcements' buttons link to member pages under ``public_url``."""
    return [
        *tenancy_tasks.SWEEPS,
        *membership_tasks.SWEEPS,
        *order_tasks.sweeps(db, providers),
        *order_events.SWEEPS,
        *idempotency_tasks.SWEEPS,
        *robot_tasks.sweeps(db, channels or {}),
        *broadcast_tasks.sweeps(db, channels or {}, throttle or MemoryThrottle()),
        *schedule_tasks.sweeps(schedule_horizon_hours),
        *campaign_tasks.sweeps(db, redis, campaign_horizon_hours, public_url, providers=providers),
    ]
