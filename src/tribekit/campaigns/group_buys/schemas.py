"""Request and response shapes of group buys. Amounts are integer minor units."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from tribekit.kit.schemas import Input, Output, UtcDatetime
from tribekit.models.enums import Channel
from tribekit.orders.schemas import AddressIn, Fulfilment

from .spec import GroupBuySpec, Tier

GroupBuyStatus = Literal["scheduled", "open", "settling", "closed", "cancelled"]


class TierIn(Input):
    size: int = Field(ge=1, le=1_000, description="Paid portions a team needs for this price")
    unit_price: int = Field(ge=0, le=10**9, description="Price per portion, minor units")


class GroupBuyCreate(Input):
    product_id: uuid.UUID = Field(description="Goods or a gift pack (kind bundle)")
    tiers: list[TierIn] = Field(
        min_length=1,
        max_length=20,
        description="Sizes increasing, prices not increasing; the first size is the minimum",
        examples=[[{"size": 2, "unit_price": 9000}, {"size": 3, "unit_price": 8500}]],
    )
    starts_at: UtcDatetime
    deadline: UtcDatetime
    max_size: int | None = Field(default=None, ge=1, description="Default: the largest tier")
    per_member_limit: int = Field(default=1, ge=1, description="Portions one member may take")
    grouping: Literal["team", "address"] = Field(
        default="team",
        description="team: an initiator opens a team and shares its code; address: one team "
        "per delivery address",
    )
    join_price: Literal["reached", "lowest"] = Field(
        default="reached",
        description="What a joiner pays up front: the tier the team reaches with them (its "
        "paid portions plus theirs) or the first tier's price; the rest comes back at close",
    )
    name: str | None = Field(default=None, max_length=200)
    community_ids: list[uuid.UUID] = Field(default_factory=list, max_length=200)
    announcements: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description='Texts by moment (before, start, result) and language: {"start": {"en": ""}}',
    )
    announce_before_seconds: int = Field(default=600, ge=0)

    def spec(self) -> GroupBuySpec:
        return GroupBuySpec(
            product_id=self.product_id,
            tiers=tuple(Tier(t.size, t.unit_price) for t in self.tiers),
            starts_at=self.starts_at,
            deadline=self.deadline,
            max_size=self.max_size,
            per_member_limit=self.per_member_limit,
            grouping=self.grouping,
            join_price=self.join_price,
            name=self.name,
            community_ids=tuple(self.community_ids),
            announcements=dict(self.announcements),
            announce_before_seconds=self.announce_before_seconds,
        )


class TierOut(Output):
    size: int
    unit_price: int


class TeamOut(Output):
    id: uuid.UUID
    code: str
    status: Literal["open", "closing", "succeeded", "failed"]
    size: int = Field(description="Seats taken (paid and unpaid portions)")
    max_size: int
    paid_portions: int
    final_unit_price: int | None
    community_id: uuid.UUID | None
    created_at: datetime
    closed_at: datetime | None


class GroupBuyOut(Output):
    id: uuid.UUID
    name: str
    product_id: uuid.UUID
    tiers: list[TierOut]
    min_size: int
    max_size: int
    per_member_limit: int
    grouping: Literal["team", "address"]
    join_price: Literal["reached", "lowest"]
    starts_at: datetime
    deadline: datetime
    community_ids: list[uuid.UUID]
    status: GroupBuyStatus
    closed_at: datetime | None
    announcements: dict[str, Any]
    announced: list[str]
    schedule_id: uuid.UUID | None
    occurrence_key: str | None
    created_by: str
    created_at: datetime
    teams: list[TeamOut] | None = Field(default=None, description="With one group buy only")


class GroupBuyPage(Output):
    items: list[GroupBuyOut]
    next_cursor: str | None


class JoinAttribution(Input):
    channel: Channel = Channel.WEB
    community_id: uuid.UUID | None = Field(default=None, description="The group joined from")


class JoinIn(Input):
    code: str | None = Field(
        default=None,
        min_length=4,
        max_length=16,
        description="Grouping team: the shared team's code; leave out to open a new team",
    )
    portions: int = Field(default=1, ge=1, le=1_000)
    fulfilment: Fulfilment = "store_pickup"
    pickup_point_id: uuid.UUID | None = None
    address: AddressIn | None = Field(
        default=None, description="Grouping address: the delivery address names the team"
    )
    attribution: JoinAttribution = Field(default_factory=JoinAttribution)
    note: str | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _fulfilment_needs(self) -> JoinIn:
        if self.fulfilment == "delivery" and self.address is None:
            raise ValueError("address: a delivery needs an address")
        if self.fulfilment == "leader_pickup" and self.pickup_point_id is None:
            raise ValueError("pickup_point_id: a leader pickup needs a pickup point")
        return self


class ProgressOut(Output):
    """A team's progress: only real, paid participants are shown, by display name."""

    group_buy_id: uuid.UUID
    group_buy_name: str
    team_id: uuid.UUID
    code: str
    status: Literal["open", "closing", "succeeded", "failed"]
    members: list[str] = Field(description="Display names of the paid participants")
    paid_portions: int
    seats_taken: int
    max_size: int
    current_tier: TierOut | None = Field(description="Null below the minimum")
    unit_price: int = Field(description="A portion's price now (at close: the final price)")
    next_tier: TierOut | None
    needed_for_next: int
    deadline: datetime
    seconds_left: int
    share_path: str
    share_url: str | None = Field(description="With the public URL configured")


class JoinedOut(Output):
    participant_id: uuid.UUID
    team: ProgressOut
    order_id: uuid.UUID
    order_number: str
    unit_price: int
    total: int
    pay_path: str = Field(description="POST here to pay the order (the ordinary payments)")


class ParticipantOut(Output):
    id: uuid.UUID
    team_id: uuid.UUID
    order_id: uuid.UUID
    portions: int
    unit_price_paid: int
    status: Literal["joined", "paid", "left", "cancelled", "settled"]
    joined_at: datetime
    paid_at: datetime | None
    left_at: datetime | None
