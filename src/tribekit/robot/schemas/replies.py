"""API shapes of keyword auto-replies (FAQ)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from tribekit.kit.schemas import Input, Output

Match = Literal["exact", "contains", "regex"]
PATTERN_MAX = 300
REPLY_MAX = 4000


class ReplyIn(Input):
    match: Match = Field(description="exact and contains ignore case; regex searches the text")
    pattern: str = Field(min_length=1, max_length=PATTERN_MAX, examples=["opening hours"])
    reply: str = Field(min_length=1, max_length=REPLY_MAX)
    community_id: uuid.UUID | None = Field(default=None, description="null: every group")
    active: bool = True


class ReplyUpdate(Input):
    """Only the fields sent change; ``community_id`` may be set to null (every group)."""

    match: Match | None = None
    pattern: str | None = Field(default=None, min_length=1, max_length=PATTERN_MAX)
    reply: str | None = Field(default=None, min_length=1, max_length=REPLY_MAX)
    community_id: uuid.UUID | None = None
    active: bool | None = None

    @model_validator(mode="after")
    def _required_not_null(self) -> ReplyUpdate:
        for name in ("match", "pattern", "reply", "active"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} may be changed but not set to null")
        return self


class ReplyOut(Output):
    id: uuid.UUID
    match: Match
    pattern: str
    reply: str
    community_id: uuid.UUID | None
    active: bool
    created_at: datetime


class ReplyPage(Output):
    items: list[ReplyOut]
    next_cursor: str | None
