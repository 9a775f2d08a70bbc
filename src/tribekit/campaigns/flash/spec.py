"""What a flash sale is made of, as staff (or a campaign schedule) give it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class FlashSaleSpec:
    """A flash sale to make: ``quantity`` units of ``product_id`` at ``price`` (minor units)
    from ``starts_at`` to ``ends_at``, at most ``per_member_limit`` per member, for members of
    ``community_ids`` and ``level_ids`` (empty: everyone). ``announcements``: texts by moment
    (``before``, ``start``, ``sold_out``) and language, e.g. ``{"start": {"en": "..."}}``."""

    product_id: uuid.UUID
    price: int
    quantity: int
    starts_at: datetime
    ends_at: datetime
    per_member_limit: int = 2
    reservation_ttl_seconds: int = 600
    name: str | None = None
    community_ids: tuple[uuid.UUID, ...] = ()
    level_ids: tuple[uuid.UUID, ...] = ()
    announcements: dict[str, Any] = field(default_factory=dict)
    announce_before_seconds: int = 600
