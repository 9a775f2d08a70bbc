"""Request and response shapes of flash sales."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from tribekit.kit.schemas import Input, Output, UtcDatetime
from tribekit.models.enums import Channel

from .engine import SaleStatus
from .spec import FlashSaleSpec

_TEXTS: Any = Field(
    default_factory=dict,
    description="Announcement texts by moment (before, start, sold_out, result) and language: "
    '{"start": {"en": "..."}}',
)


class FlashSaleCreate(Input):
    product_id: uuid.UUID
    price: int = Field(ge=0, description="Sale price per unit, minor units")
    quantity: int = Field(ge=1, description="Units to sell, taken from stock when it starts")
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    per_member_limit: int = Field(default=2, ge=1, description="Units one member may hold")
    reservation_ttl_seconds: int = Field(
        default=600, description="How long a won unit waits for payment before it comes back"
    )
    name: str | None = Field(default=None, max_length=200)
    community_ids: list[uuid.UUID] = Field(
        default_factory=list, max_length=200, description="Empty: members of every group"
    )
    level_ids: list[uuid.UUID] = Field(
        default_factory=list, max_length=50, description="Empty: members of every level"
    )
    announcements: dict[str, dict[str, str]] = _TEXTS
    announce_before_seconds: int = Field(default=600, ge=0)

    def spec(self) -> FlashSaleSpec:
        return FlashSaleSpec(
            product_id=self.product_id,
            price=self.price,
            quantity=self.quantity,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            per_member_limit=self.per_member_limit,
            reservation_ttl_seconds=self.reservation_ttl_seconds,
            name=self.name,
            community_ids=tuple(self.community_ids),
            level_ids=tuple(self.level_ids),
            announcements=dict(self.announcements),
            announce_before_seconds=self.announce_before_seconds,
        )


class FlashSaleUpdate(Input):
    """Fields to change before the sale starts; those left out stay."""

    product_id: uuid.UUID | None = None
    price: int | None = Field(default=None, ge=0)
    quantity: int | None = Field(default=None, ge=1)
    starts_at: UtcDatetime | None = None
    ends_at: UtcDatetime | None = None
    per_member_limit: int | None = Field(default=None, ge=1)
    reservation_ttl_seconds: int | None = None
    name: str | None = Field(default=None, max_length=200)
    community_ids: list[uuid.UUID] | None = Field(default=None, max_length=200)
    level_ids: list[uuid.UUID] | None = Field(default=None, max_length=50)
    announcements: dict[str, dict[str, str]] | None = None
    announce_before_seconds: int | None = Field(default=None, ge=0)

    def changes(self) -> dict[str, Any]:
        given = self.model_dump(exclude_unset=True)
        for name in ("community_ids", "level_ids"):
            if given.get(name) is not None:
                given[name] = tuple(given[name])
        return {k: v for k, v in given.items() if v is not None}


class CountsOut(Output):
    allotted: int
    reserved: int
    paid: int
    expired: int
    returned: int
    left: int


class FlashSaleOut(Output):
    id: uuid.UUID
    name: str
    product_id: uuid.UUID
    price: int
    quantity: int
    per_member_limit: int
    reservation_ttl_seconds: int
    starts_at: datetime
    ends_at: datetime
    community_ids: list[uuid.UUID]
    level_ids: list[uuid.UUID]
    status: SaleStatus
    engine: str
    announcements: dict[str, Any]
    announced: list[str]
    announce_before_seconds: int
    started_at: datetime | None
    sold_out_at: datetime | None
    ended_at: datetime | None
    schedule_id: uuid.UUID | None
    occurrence_key: str | None
    version: int
    created_by: str
    created_at: datetime
    counts: CountsOut


class FlashSalePage(Output):
    items: list[FlashSaleOut]
    next_cursor: str | None


class LiveStateOut(Output):
    sale_id: uuid.UUID
    name: str
    status: SaleStatus
    price: int
    regular_price: int
    currency: str
    per_member_limit: int
    left: int = Field(description="Units left (approximate while the sale sells)")
    starts_at: datetime
    ends_at: datetime
    seconds_to_start: int
    seconds_to_end: int


class FlashTokenOut(Output):
    token: str = Field(description="Send as 'Authorization: Bearer tkf_...' to purchase")
    expires_at: datetime


class PurchaseIn(Input):
    quantity: int = Field(default=1, ge=1, le=100)
    community_id: uuid.UUID | None = Field(
        default=None, description="The group the member came from (an announcement's button)"
    )
    channel: Channel = Field(default=Channel.WEB, description="Where the purchase was made")


class PurchaseOut(Output):
    reservation_id: uuid.UUID
    sale_id: uuid.UUID
    order_id: uuid.UUID = Field(description="The order to pay (it may take a moment to appear)")
    quantity: int
    unit_price: int
    total: int
    currency: str
    expires_at: datetime = Field(description="Pay before this, or the units go back")
    left: int
    pay_url: str = Field(description="POST here (member session) to start paying")
