"""What a group buy is made of, as staff (or a campaign schedule) give it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal


@dataclass(frozen=True)
class Tier:
    """``size`` participants (portions) or more pay ``unit_price`` (minor units) per portion."""

    size: int
    unit_price: int


@dataclass(frozen=True)
class GroupBuySpec:
    """A group buy to make: ``product_id`` (goods or a gift pack) priced by ``tiers`` (sizes
    increasing, prices not increasing; the first size is a team's minimum), teams of at most
    ``max_size``, open from ``starts_at`` until ``deadline``. ``grouping``: ``team`` (an
    initiator opens a team and shares its code) or ``address`` (one team per delivery
    address). ``join_price``: ``reached`` or ``lowest``. ``announcements``: texts by moment
    (``before``, ``start``, ``result``) and language."""

    product_id: uuid.UUID
    tiers: tuple[Tier, ...]
    starts_at: datetime
    deadline: datetime
    max_size: int | None = None  # None: the largest tier's size
    per_member_limit: int = 1
    grouping: Literal["team", "address"] = "team"
    join_price: Literal["reached", "lowest"] = "reached"
    name: str | None = None
    community_ids: tuple[uuid.UUID, ...] = ()
    announcements: dict[str, Any] = field(default_factory=dict)
    announce_before_seconds: int = 600
