"""API shapes for communities."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from tribekit.kit.schemas import Input, Output
from tribekit.models.enums import Channel


class CommunityCreate(Input):
    name: str = Field(min_length=1, max_length=200, examples=["Greenwood Fruit Lovers"])
    channel: Channel
    external_id: str | None = Field(
        default=None, max_length=255, description="The group's chat id on its channel"
    )


class CommunityOut(Output):
    id: uuid.UUID
    name: str
    channel: Channel
    external_id: str | None
    member_count: int
    created_at: datetime


class CommunityPage(Output):
    items: list[CommunityOut]
    next_cursor: str | None


class CommunityJoin(Input):
    member_id: uuid.UUID
