"""API shapes of moderation: policies (the body of a PUT is ``Policy`` itself), the ban list,
the moderation log, its undo, review and reports."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from tribekit.kit.schemas import Input, Output, UtcDatetime
from tribekit.robot.moderation.policy import Phrase, Policy


class PolicyOut(Output):
    version: int = Field(description="0: never saved (the defaults); send it in If-Match")
    updated_at: datetime | None
    updated_by: str | None
    policy: Policy


class CommunityPolicyOut(Output):
    community_id: uuid.UUID
    version: int = Field(description="The override's version; 0: the group has none")
    updated_at: datetime | None
    updated_by: str | None
    override: dict[str, Any] | None = Field(
        description="Only the fields the override sets (null: none); the rest is the merchant's"
    )
    effective: Policy = Field(description="The merchant's policy with the override laid over it")


class BanIn(Input):
    member_id: uuid.UUID
    reason: str = Field(min_length=1, max_length=300)
    until: UtcDatetime | None = Field(
        default=None, description="When the ban ends by itself; null: until it is lifted"
    )


class BanOut(Output):
    id: uuid.UUID
    member_id: uuid.UUID
    rule: str | None = Field(description="The rule whose strikes banned; null: banned by hand")
    reason: str
    banned_by: str = Field(description='"robot" or "staff:<user id>"')
    at: datetime
    until: datetime | None
    in_force: bool
    lifted_at: datetime | None
    lifted_by: str | None = Field(description='"expired" for a ban that ended by itself')


class BanPage(Output):
    items: list[BanOut]
    next_cursor: str | None


class EntryOut(Output):
    id: uuid.UUID
    community_id: uuid.UUID | None = Field(description="null: a decision of the ban list")
    member_id: uuid.UUID | None
    event_id: uuid.UUID | None
    message_id: str | None = Field(description="The message's id on its channel")
    rule: str | None = Field(description="The rule broken; null: a staff decision")
    action: str = Field(description="delete, warn, mute, kick, ban or unban")
    excerpt: str | None
    actor: str = Field(description='"robot" or "staff:<user id>"')
    at: datetime
    ban_id: uuid.UUID | None = Field(description="The ban this entry made")
    undone_at: datetime | None
    undone_by: str | None
    review: str | None = Field(description="Staff's verdict: fine or confirmed")
    reviewed_at: datetime | None
    reviewed_by: str | None


class EntryPage(Output):
    items: list[EntryOut]
    next_cursor: str | None


class UndoOut(Output):
    entry: EntryOut
    ban_lifted: bool = Field(description="The ban the entry made was lifted in every group")
    unmuted: bool = Field(description="Lifting the mute is owed in the group")
    strikes_removed: int
    not_restored: list[str] = Field(
        description="What cannot be undone, e.g. a message deleted on the platform"
    )


class ReviewIn(Input):
    verdict: Literal["fine", "confirmed"] = Field(
        description="fine: the robot was wrong (undo, and allow-list the domain or phrase); "
        "confirmed: it was right"
    )
    allow: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="For fine: the domain or phrase to allow-list; default: the entry's excerpt",
    )


class ReviewOut(Output):
    entry: EntryOut
    undo: UndoOut | None = Field(description="What the fine verdict undid; null: nothing")
    allow_listed: str | None = Field(
        description="The domain or phrase added to the merchant's allow list"
    )


class ReportIn(Input):
    """A message the robot missed, in a group it is in: removed, and logged with you as the
    actor."""

    community_id: uuid.UUID
    message_id: str = Field(min_length=1, max_length=64, description="Its id on the channel")
    event_id: uuid.UUID | None = Field(
        default=None, description="The robot's event of the message: gives its author and text"
    )
    member_id: uuid.UUID | None = Field(default=None, description="Its author")
    excerpt: str | None = Field(default=None, min_length=1, max_length=200)
    blocklist_phrase: Phrase | None = Field(
        default=None, description="Add this phrase to the merchant's blocklist"
    )
    strike: bool = Field(default=False, description="Count it as a strike of the author")
