"""The worker's part of campaigns: every sweep of coupons (birthday gifts), flash sales, group
buys and campaign schedules, listed together for ``tribekit.sweeps``."""

from __future__ import annotations

from collections.abc import Mapping

from redis.asyncio import Redis

from tribekit.kit.db import Database
from tribekit.kit.worker import Sweep
from tribekit.orders.payments import PaymentProvider

from . import announcements
from .coupons import tasks as coupon_tasks
from .flash import stream as flash_stream
from .flash import tasks as flash_tasks
from .group_buys import tasks as group_buy_tasks
from .schedules import tasks as schedule_tasks


def sweeps(
    db: Database,
    redis: Redis | None,
    horizon_hours: float = 24,
    public_url: str | None = None,
    *,
    providers: Mapping[str, PaymentProvider] | None = None,
) -> list[Sweep]:
    """``redis``: the flash sales' Redis engine drains its reservation stream from it (None:
    the SQL engine only). Campaign occurrences are made ``horizon_hours`` ahead; their
    announcements' buttons link to member pages under ``public_url``. Group buys settle
    through refunds at ``providers`` (None: their sweep is left out, e.g. a schedules-only
    test)."""
    return [
        *coupon_tasks.SWEEPS,
        *flash_tasks.sweeps(db, redis),
        *flash_stream.sweeps(db, redis),
        *(group_buy_tasks.sweeps(providers) if providers is not None else []),
        *schedule_tasks.sweeps(horizon_hours),
        *announcements.sweeps(public_url),
    ]
