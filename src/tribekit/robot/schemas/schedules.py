"""API shapes of scheduled posts and the calendar."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import Field, model_validator

from tribekit.kit.schemas import Input, Output
from tribekit.robot.schemas.broadcasts import ContentIn, ContentOut

RULE_EXAMPLES = [
    "Mon-Thu 19:50",
    "every Friday 20:00",
    "1st of the month 09:00",
    "last day of the month 18:00",
    "3 days after a member joins",
    "周一至周四 19:50",
]


class ScheduleIn(Input):
    name: str = Field(min_length=1, max_length=200, examples=["Flash sale announcement"])
    rule: str = Field(
        min_length=1,
        max_length=200,
        examples=RULE_EXAMPLES,
        description="when it posts, in words: see docs/schedules.md for the forms",
    )
    community_id: uuid.UUID | None = Field(
        default=None, description="null: every active community, each in its own timezone"
    )
    content: ContentIn
    marketing: bool = Field(
        default=False,
        description="marketing goes only to groups that accept it and members who consented",
    )
    active: bool = True


class ScheduleUpdate(Input):
    """Only the fields sent change; ``community_id`` may be set to null (merchant-wide);
    ``active`` false pauses the schedule, true resumes it."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    rule: str | None = Field(default=None, min_length=1, max_length=200)
    community_id: uuid.UUID | None = None
    content: ContentIn | None = None
    marketing: bool | None = None
    active: bool | None = None

    @model_validator(mode="after")
    def _required_not_null(self) -> ScheduleUpdate:
        for name in ("name", "rule", "content", "marketing", "active"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} may be changed but not set to null")
        return self


class OccurrenceOut(Output):
    at: datetime = Field(description="UTC")
    local_at: str = Field(description="the community's wall clock", examples=["2026-12-07T19:50"])
    timezone: str


class ScheduleOut(Output):
    id: uuid.UUID
    name: str
    rule: str
    words: dict[str, str] = Field(
        description="the rule said back, per language",
        examples=[{"en": "every Monday to Thursday at 19:50", "zh-CN": "每周一至周四 19:50"}],
    )
    kind: Literal["recurring", "after_join"]
    cron: str | None
    after_join_seconds: int | None
    community_id: uuid.UUID | None
    timezone: str = Field(description="the community's, or the merchant's when merchant-wide")
    content: ContentOut
    marketing: bool
    active: bool
    version: int
    due_at: datetime = Field(description="when the worker next plans its coming occurrences")
    created_by: str
    created_at: datetime
    updated_at: datetime
    coming: list[OccurrenceOut] = Field(
        description="the next occurrences in ``timezone`` (none for a rule counted from a join)"
    )


class SchedulePage(Output):
    items: list[ScheduleOut]
    next_cursor: str | None


class CalendarPostOut(Output):
    at: datetime = Field(description="UTC")
    local_at: str = Field(examples=["2026-12-07T19:50"])
    name: str
    status: Literal["scheduled", "sending", "done", "planned"] = Field(
        description="planned: a schedule's occurrence the worker has not made yet"
    )
    marketing: bool
    broadcast_id: uuid.UUID | None
    schedule_id: uuid.UUID | None


class DirectDayOut(Output):
    day: date = Field(description="the community's local date")
    schedule_id: uuid.UUID
    name: str
    count: int = Field(description="direct messages to members who joined this community")


class CalendarCommunityOut(Output):
    community_id: uuid.UUID
    name: str
    channel: str
    timezone: str
    monthly_mass_messages: int | None = Field(description="the channel's quota; null: none")
    posts: list[CalendarPostOut]
    direct_messages: list[DirectDayOut]


class QuotaWarningOut(Output):
    code: Literal["monthly_quota_exceeded"] = "monthly_quota_exceeded"
    community_id: uuid.UUID
    community_name: str
    channel: str
    month: str = Field(examples=["2026-12"], description="in the community's timezone")
    planned: int
    quota: int
    message: str


class DirectBroadcastOut(Output):
    broadcast_id: uuid.UUID
    name: str
    at: datetime
    status: str
    marketing: bool


class CalendarOut(Output):
    start: datetime
    end: datetime
    communities: list[CalendarCommunityOut]
    warnings: list[QuotaWarningOut]
    direct_broadcasts: list[DirectBroadcastOut] = Field(
        description="broadcasts of direct messages to members chosen by staff"
    )
