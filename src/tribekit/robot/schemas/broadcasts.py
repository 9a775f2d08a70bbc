"""API shapes of broadcasts, their deliveries and previews. The content (a text per language,
buttons, an image) is the scheduled posts' shape too."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

from tribekit.kit.schemas import Input, Output, UtcDatetime
from tribekit.robot.broadcasts.content import Content
from tribekit.robot.broadcasts.service import BroadcastSpec, BroadcastView
from tribekit.robot.broadcasts.states import Audience
from tribekit.robot.channels import Button

AudienceName = Literal["communities", "all", "members"]
BroadcastStatusName = Literal["scheduled", "sending", "done", "cancelled"]
DeliveryStatusName = Literal["pending", "sent", "failed", "cancelled", "skipped"]


class ButtonIn(Input):
    text: str = Field(max_length=200)
    url: str | None = Field(default=None, max_length=4096, description="a link to open, or")
    data: str | None = Field(default=None, max_length=200, description="what a press sends back")


class ContentIn(Input):
    """A text per language (en, zh-CN; each group reads its own language's, else the first
    given), rows of buttons, an image; checked against the channels it will go out on."""

    texts: dict[str, str] = Field(
        max_length=8, examples=[{"en": "Flash sale at 20:00!", "zh-CN": "20:00 限时秒杀"}]
    )
    buttons: list[list[ButtonIn]] = Field(default_factory=list, max_length=20)
    image_url: str | None = Field(default=None, max_length=4096)

    def to_content(self) -> Content:
        return Content(
            texts=dict(self.texts),
            buttons=tuple(
                tuple(Button(text=b.text, data=b.data, url=b.url) for b in row)
                for row in self.buttons
            ),
            image_url=self.image_url,
        )


class ButtonOut(Output):
    text: str
    url: str | None
    data: str | None


class ContentOut(Output):
    texts: dict[str, str]
    buttons: list[list[ButtonOut]]
    image_url: str | None


class BroadcastIn(Input):
    """What to say, to whom, when. ``audience``: ``communities`` (those in ``community_ids``),
    ``all`` (every active community), ``members`` (direct messages: ``member_ids``, or the
    members in ``community_ids`` (any community when empty) with any of ``tags`` and at any of
    ``level_ids``). A marketing broadcast reaches only groups that accept marketing and members
    who consented; a service one every group and every member not blocked."""

    name: str | None = Field(
        default=None, min_length=1, max_length=200, description="Default: the text's start"
    )
    content: ContentIn
    audience: AudienceName = Field(examples=["all"])
    community_ids: list[uuid.UUID] = Field(default_factory=list, max_length=1000)
    member_ids: list[uuid.UUID] = Field(default_factory=list, max_length=10_000)
    tags: list[str] = Field(default_factory=list, max_length=50)
    level_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)
    marketing: bool = Field(default=False, description="an offer (needs consent) or a notice")
    send_at: UtcDatetime | None = Field(default=None, description="Default (or past): now")

    def to_spec(self) -> BroadcastSpec:
        return BroadcastSpec(
            content=self.content.to_content(),
            audience=Audience(self.audience),
            community_ids=tuple(self.community_ids),
            member_ids=tuple(self.member_ids),
            tags=tuple(self.tags),
            level_ids=tuple(self.level_ids),
            marketing=self.marketing,
            send_at=self.send_at,
            name=self.name,
        )


class CountsOut(Output):
    """The broadcast's deliveries by status."""

    pending: int
    sent: int
    failed: int
    cancelled: int
    skipped: int = Field(description="no consent (or no longer a target) when its turn came")
    total: int


class BroadcastOut(Output):
    id: uuid.UUID
    name: str
    content: ContentOut
    audience: AudienceName
    community_ids: list[uuid.UUID]
    member_ids: list[uuid.UUID]
    tags: list[str]
    level_ids: list[uuid.UUID]
    marketing: bool
    send_at: datetime
    status: BroadcastStatusName
    schedule_id: uuid.UUID | None
    occurrence_key: str | None
    created_by: str
    created_at: datetime
    expanded_at: datetime | None = Field(description="when its deliveries were written")
    finished_at: datetime | None
    cancelled_at: datetime | None
    counts: CountsOut

    @classmethod
    def of(cls, view: BroadcastView) -> BroadcastOut:
        b, c = view.broadcast, view.counts
        return cls(
            id=b.id,
            name=b.name,
            content=ContentOut.model_validate(b.content),
            audience=b.audience,
            community_ids=[uuid.UUID(i) for i in b.community_ids],
            member_ids=[uuid.UUID(i) for i in b.member_ids],
            tags=list(b.tags),
            level_ids=[uuid.UUID(i) for i in b.level_ids],
            marketing=b.marketing,
            send_at=b.send_at,
            status=b.status,
            schedule_id=b.schedule_id,
            occurrence_key=b.occurrence_key,
            created_by=b.created_by,
            created_at=b.created_at,
            expanded_at=b.expanded_at,
            finished_at=b.finished_at,
            cancelled_at=b.cancelled_at,
            counts=CountsOut(
                pending=c.pending,
                sent=c.sent,
                failed=c.failed,
                cancelled=c.cancelled,
                skipped=c.skipped,
                total=c.total,
            ),
        )


class BroadcastPage(Output):
    items: list[BroadcastOut]
    next_cursor: str | None


class DeliveryOut(Output):
    """One message of a broadcast to one group (``community_id``) or one member."""

    id: uuid.UUID
    community_id: uuid.UUID | None
    member_id: uuid.UUID | None
    robot_account_id: uuid.UUID
    channel: str
    chat_id: str | None
    language: str
    status: DeliveryStatusName
    attempts: int
    last_error: str | None = Field(description="why it failed, was skipped or is retried")
    due_at: datetime
    sent_at: datetime | None
    message_id: str | None = Field(description="the message's id on the platform")
    created_at: datetime


class DeliveryPage(Output):
    items: list[DeliveryOut]
    next_cursor: str | None


class PreviewIn(Input):
    content: ContentIn


class ChannelPreview(Output):
    """The message on one channel in one language."""

    channel: str
    language: str
    kind: Literal["text", "photo"] = Field(description="photo: the text is the caption")
    text: str = Field(description="the text as shown (Matrix: its buttons written out)")
    image_url: str | None
    buttons: list[list[ButtonOut]] = Field(description="buttons under it (Telegram's keyboard)")
    limit: int = Field(description="the most characters this channel takes here")
    problem: str | None = Field(description="why it cannot be sent there as it is")


class PreviewOut(Output):
    items: list[ChannelPreview]
