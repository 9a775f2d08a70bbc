"""API shapes for communities."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import Field, model_validator

from tribekit.kit.schemas import Input, Output, TimezoneName
from tribekit.models.enums import Channel, CommunityStatus

#: The languages the robot speaks in a group.
Language = Literal["en", "zh-CN"]

NAME_MAX = 200
TEXT_MAX = 4000  # a welcome or rules text: one chat message on every channel


class CommunityCreate(Input):
    name: str = Field(min_length=1, max_length=NAME_MAX, examples=["Greenwood Fruit Lovers"])
    channel: Channel
    external_id: str | None = Field(
        default=None, max_length=255, description="The group's chat id on its channel"
    )


class CommunityUpdate(Input):
    """Only the fields sent change. ``timezone``, ``welcome_text`` and ``rules_text`` may be
    set to null (the merchant's timezone; no text)."""

    name: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)
    timezone: TimezoneName | None = Field(
        default=None, description="An IANA name, e.g. Asia/Shanghai; null: the merchant's"
    )
    language: Language | None = None
    welcome_text: str | None = Field(default=None, min_length=1, max_length=TEXT_MAX)
    rules_text: str | None = Field(default=None, min_length=1, max_length=TEXT_MAX)

    @model_validator(mode="after")
    def _required_not_null(self) -> CommunityUpdate:
        for name in ("name", "language"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} may be changed but not set to null")
        return self


class LeaderOut(Output):
    id: uuid.UUID
    staff_user_id: uuid.UUID | None
    member_id: uuid.UUID | None
    since: datetime


class LeaderIn(Input):
    """One of the two: a staff user with the leader role at this merchant, or a member."""

    staff_user_id: uuid.UUID | None = None
    member_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _one_of(self) -> LeaderIn:
        if (self.staff_user_id is None) == (self.member_id is None):
            raise ValueError("send exactly one of staff_user_id and member_id")
        return self


class LeaderList(Output):
    items: list[LeaderOut]


class CommunityOut(Output):
    id: uuid.UUID
    name: str
    channel: Channel
    external_id: str | None
    status: CommunityStatus
    robot_account_id: uuid.UUID | None
    timezone: str | None = Field(description="null: the merchant's timezone")
    language: Language
    welcome_text: str | None
    rules_text: str | None
    member_count: int = Field(description="Members in the group now, kept live")
    leaders: list[LeaderOut]
    created_at: datetime
    confirmed_at: datetime | None
    archived_at: datetime | None


class CommunityPage(Output):
    items: list[CommunityOut]
    next_cursor: str | None


class CommunityJoin(Input):
    member_id: uuid.UUID


class CommunityMemberOut(Output):
    member_id: uuid.UUID
    display_name: str
    joined_at: datetime
    left_at: datetime | None = Field(description="null while the member is in the group")
    join_source: str | None
    last_active_at: datetime | None
    messages: int


class CommunityMemberPage(Output):
    items: list[CommunityMemberOut]
    next_cursor: str | None


class ActivityDay(Output):
    day: date = Field(description="A day in the community's timezone")
    messages: int
    active_members: int = Field(description="Members who posted that day")
    joins: int
    leaves: int
    moderation_actions: int


class ActiveMember(Output):
    member_id: uuid.UUID
    display_name: str
    messages: int = Field(description="Messages within the range")
    last_active_at: datetime | None = Field(description="Their last message in the group")


class CommunityActivity(Output):
    community_id: uuid.UUID
    timezone: str = Field(description="The timezone the days are in")
    from_: date = Field(alias="from", serialization_alias="from")
    to: date
    days: list[ActivityDay] = Field(description="Every day of the range, oldest first")
    top_members: list[ActiveMember] = Field(description="Who posted most within the range")
