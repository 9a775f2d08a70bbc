"""Where a broadcast and each of its deliveries are (``models/broadcasts.py``), and the names of
the worker sweeps that move them on (``tasks.py``)."""

from __future__ import annotations

from enum import StrEnum


class BroadcastStatus(StrEnum):
    SCHEDULED = "scheduled"  # until ``send_at``
    SENDING = "sending"  # its deliveries are written
    DONE = "done"  # none is pending
    CANCELLED = "cancelled"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"  # no consent (or no longer a target) when it came to be sent


class Audience(StrEnum):
    COMMUNITIES = "communities"  # the listed communities
    ALL = "all"  # every active community of the merchant
    MEMBERS = "members"  # direct messages


#: The sweep that writes a due broadcast's deliveries.
EXPAND_SWEEP = "robot.broadcasts.expand"
#: The sweep that sends due deliveries.
DELIVER_SWEEP = "robot.broadcasts.deliver"
