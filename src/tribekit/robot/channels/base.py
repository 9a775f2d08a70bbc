"""The chat-channel interface. The robot talks to platforms only through this Protocol; each
channel is registered by name in ``registry.py`` (the payment providers are the model).

A channel turns a platform's update into channel-neutral **inbound events** (``parse``) and
carries out channel-neutral **outbound actions** (``perform``). It declares what it can do and
its limits (``Capabilities``), so the pipeline decides the same way for every channel and a
channel that cannot delete, or may send only a few mass messages a month, fits without changing
the pipeline. ``perform`` is called by the worker after commit, never inside a transaction; it
raises ``RetryLater`` (the platform's ``retry_after`` or a network failure: try again) or
``ActionRefused`` (the platform said no for good: a deleted message, a missing right).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

__all__ = ["ActionKind"]  # re-exported: channels name actions by it

from tribekit.kit.errors import TribekitError
from tribekit.models.enums import ActionKind

# ---- what a channel can do ---------------------------------------------------------------------


@dataclass(frozen=True)
class Capabilities:
    can_delete: bool = True
    can_ban: bool = True
    can_restrict: bool = True  # mute until a time
    can_pin: bool = True
    can_buttons: bool = True
    #: A mute or ban can be given an end the platform keeps (Telegram's ``until_date``);
    #: where it cannot (Matrix's power levels), the end is owed as an action of its own.
    can_time_restrict: bool = True
    #: Messages the robot may send per minute into one group, and per second over all groups;
    #: None where the platform declares no such limit (Matrix: the homeserver answers 429).
    per_group_per_minute: int | None = 20
    per_bot_per_second: int | None = 30
    #: Mass messages (broadcasts) per calendar month per group; None: no quota.
    monthly_mass_messages: int | None = None
    #: Longest text one message may carry, and a picture's caption where it is shorter.
    max_text: int = 4096
    max_caption: int | None = None


# ---- inbound: what happened in a group ----------------------------------------------------------


class EventKind(StrEnum):
    MESSAGE = "message"
    COMMAND = "command"  # a message that starts with /name
    MEMBER_JOINED = "member_joined"
    MEMBER_LEFT = "member_left"
    BUTTON = "button"  # an inline button pressed
    ROBOT_ADDED = "robot_added"  # the robot was added to a group
    ROBOT_REMOVED = "robot_removed"


class MediaKind(StrEnum):
    NONE = "none"
    PHOTO = "photo"
    VIDEO = "video"
    DOCUMENT = "document"
    AUDIO = "audio"
    STICKER = "sticker"
    OTHER = "other"


@dataclass(frozen=True)
class Person:
    """Someone on the channel: their id there, and what the channel tells about them."""

    external_id: str
    display_name: str
    username: str | None = None
    is_bot: bool = False
    is_admin: bool = False  # a group admin on the platform


@dataclass(frozen=True)
class InboundEvent:
    """One thing that happened, in channel-neutral terms. ``event_id`` is unique per robot
    account on the channel (Telegram: the ``update_id``): an event is processed once."""

    event_id: str
    kind: EventKind
    chat_id: str
    chat_title: str | None
    person: Person | None
    at: datetime
    message_id: str | None = None
    text: str = ""
    links: tuple[str, ...] = ()  # URLs the platform marked (entities), besides any in the text
    mentions: tuple[str, ...] = ()
    forwarded_from_channel: bool = False
    media: MediaKind = MediaKind.NONE
    reply_to_message_id: str | None = None
    reply_to_person: Person | None = None  # whose message this one replies to
    reply_to_text: str = ""  # the replied message's text, where the platform sends it along
    command: str | None = None  # without the slash and any @robot suffix, lower case
    command_args: str = ""
    button_data: str | None = None  # what the pressed button carries
    button_query_id: str | None = None  # to answer the press


# ---- outbound: what the robot does ------------------------------------------------------------


@dataclass(frozen=True)
class Button:
    text: str
    data: str | None = None  # sent back when pressed
    url: str | None = None  # or a link to open


@dataclass(frozen=True)
class OutboundAction:
    """One thing to do in one group. Built by the pipeline, stored as a durable row, performed
    by the worker after commit."""

    kind: ActionKind
    chat_id: str
    text: str = ""
    message_id: str | None = None  # the message to reply to, delete or pin
    person_id: str | None = None  # whom to restrict, kick, ban or unban
    until: datetime | None = None  # restrict or ban until; None: for good
    buttons: tuple[tuple[Button, ...], ...] = ()  # rows of buttons
    button_query_id: str | None = None
    image_url: str | None = None  # a send's picture; its text is the caption

    def to_row(self) -> dict[str, Any]:
        """The action as the JSON a durable row keeps."""
        return {
            "kind": self.kind.value,
            "chat_id": self.chat_id,
            "text": self.text,
            "message_id": self.message_id,
            "person_id": self.person_id,
            "until": self.until.isoformat() if self.until else None,
            "buttons": [[vars(b) for b in row] for row in self.buttons],
            "button_query_id": self.button_query_id,
            "image_url": self.image_url,
        }

    @classmethod
    def from_row(cls, data: Mapping[str, Any]) -> OutboundAction:
        until = data.get("until")
        return cls(
            kind=ActionKind(data["kind"]),
            chat_id=data["chat_id"],
            text=data.get("text", ""),
            message_id=data.get("message_id"),
            person_id=data.get("person_id"),
            until=datetime.fromisoformat(until) if until else None,
            buttons=tuple(tuple(Button(**b) for b in row) for row in data.get("buttons", ())),
            button_query_id=data.get("button_query_id"),
            image_url=data.get("image_url"),
        )


@dataclass(frozen=True)
class Performed:
    """What the platform answered: the id of a message the robot sent, if any."""

    message_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class RetryLater(TribekitError):
    """The platform asked to slow down (``retry_after`` seconds) or could not be reached."""

    status = 503
    code = "channel_retry_later"
    title = "The chat platform asked to retry later"

    def __init__(self, detail: str, *, retry_after: float | None = None) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.retry_after = retry_after


class ActionRefused(TribekitError):
    """The platform refused the action for good (the message is gone, a right is missing)."""

    status = 422
    code = "channel_action_refused"
    title = "The chat platform refused the action"


# ---- the channel --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RobotAccount:
    """What a channel needs to act as one robot account (a Telegram bot, the web robot)."""

    id: str  # our robot account's id
    channel: str
    token: str  # the platform credential ("" for the web channel)
    username: str | None = None
    homeserver: str | None = None  # Matrix: the homeserver's URL


class Channel(Protocol):
    name: str
    capabilities: Capabilities

    def parse(self, account: RobotAccount, update: Mapping[str, Any]) -> list[InboundEvent]:
        """The events in one platform update (none for an update the robot ignores)."""
        ...

    async def perform(self, account: RobotAccount, action: OutboundAction) -> Performed:
        """Carry out one action; raises ``RetryLater`` or ``ActionRefused``."""
        ...

    async def aclose(self) -> None:
        """Release network connections (at shutdown)."""
        ...


@runtime_checkable
class DirectChats(Protocol):
    """A channel that can message one person directly (a broadcast's direct messages)."""

    async def direct_chat(self, account: RobotAccount, person_id: str) -> str:
        """The chat in which the robot talks to ``person_id`` alone, opened if need be;
        called by the worker outside any transaction."""
        ...
