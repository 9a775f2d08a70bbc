"""Every worker sweep, listed explicitly. A domain with time-based work adds its ``SWEEPS`` here."""

from __future__ import annotations

from tribekit.idempotency import tasks as idempotency_tasks
from tribekit.kit.worker import Sweep
from tribekit.membership import tasks as membership_tasks
from tribekit.orders import events as order_events
from tribekit.orders import tasks as order_tasks
from tribekit.tenancy import tasks as tenancy_tasks


def all_sweeps() -> list[Sweep]:
    return [
        *tenancy_tasks.SWEEPS,
        *membership_tasks.SWEEPS,
        *order_tasks.SWEEPS,
        *order_events.SWEEPS,
        *idempotency_tasks.SWEEPS,
    ]
