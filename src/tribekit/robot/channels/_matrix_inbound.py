"""The Matrix channel's reading side: one timeline event of one room, as the homeserver sent it
and the sync loop wrapped it (``matrix.py`` says how), becomes channel-neutral events."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from .base import Button, EventKind, InboundEvent, MediaKind, Person

#: Where a robot message keeps its buttons (rows of {"text", "data", "url"}).
BUTTONS_KEY = "org.tribekit.buttons"
#: The power level from which a member counts as the room's admin (Element's "Moderator").
ADMIN_LEVEL = 50

_MEDIA = {
    "m.image": MediaKind.PHOTO,
    "m.video": MediaKind.VIDEO,
    "m.file": MediaKind.DOCUMENT,
    "m.audio": MediaKind.AUDIO,
}
_HREF = re.compile(r"""href\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_MENTION = re.compile(r"(?<![\w@])@[a-z0-9._=/+-]+:[a-z0-9.-]+(?::\d+)?", re.IGNORECASE)
_PERMALINK_USER = re.compile(r"^https://matrix\.to/#/(@[^/?]+)")
_PRESENT = {"join"}


def parse_update(update: Mapping[str, Any], robot: str) -> list[InboundEvent]:
    """The events in one wrapped timeline event; ``robot``: the robot's own user id."""
    event = update["event"]
    kind = event.get("type")
    if kind == "m.room.member":
        return _member_event(update, event, robot)
    if event.get("sender") == robot:
        return []  # the robot's own words
    if kind in ("m.room.message", "m.sticker"):
        return _message_event(update, event, robot)
    return []  # reactions, state changes, encrypted events: nothing the robot acts on


def _at(event: Mapping[str, Any]) -> datetime:
    ts = event.get("origin_server_ts")
    return datetime.fromtimestamp(int(ts) / 1000, UTC) if ts else datetime.now(UTC)


def _localpart(user_id: str) -> str:
    return user_id[1:].partition(":")[0] if user_id.startswith("@") else user_id


def person(user_id: str, name: str | None = None, level: int | None = None) -> Person:
    return Person(
        external_id=user_id,
        display_name=name or _localpart(user_id),
        username=user_id,
        is_admin=level is not None and level >= ADMIN_LEVEL,
    )


def _without_reply_fallback(body: str) -> str:
    """A reply's body starts with the quoted message ("> <@a:b> text" lines and a blank line):
    the member's own words are what follows."""
    if not body.startswith("> "):
        return body
    lines = body.split("\n")
    i = 0
    while i < len(lines) and lines[i].startswith(">"):
        i += 1
    return "\n".join(lines[i:]).lstrip("\n")


def _links_and_mentions(content: Mapping[str, Any], text: str) -> tuple[list[str], list[str]]:
    links: list[str] = []
    mentions: list[str] = []
    formatted = content.get("formatted_body")
    if isinstance(formatted, str):
        for href in _HREF.findall(formatted):
            user = _PERMALINK_USER.match(href)
            if user:
                mentions.append(unquote(user.group(1)))
            elif href.lower().startswith(("http://", "https://")):
                links.append(href)
    said = content.get("m.mentions")
    if isinstance(said, Mapping):
        mentions.extend(str(u) for u in said.get("user_ids") or () if isinstance(u, str))
    mentions.extend(_MENTION.findall(text))
    return list(dict.fromkeys(links)), list(dict.fromkeys(mentions))


def _command(text: str) -> tuple[str, str] | None:
    """``!name args`` or ``/name args`` -> (name, args)."""
    if text[:1] not in ("!", "/"):
        return None
    head, _, args = text[1:].partition(" ")
    name = head.partition("@")[0].strip().lower()
    if not name or not name.isidentifier():
        return None
    return name, args.strip()


def _pressed(replied: Mapping[str, Any] | None, robot: str, text: str) -> str | None:
    """The data of the button a numbered reply to a robot message with buttons chose."""
    if not replied or replied.get("sender") != robot or not text.strip().isdigit():
        return None
    choices = [b for b in buttons_of(replied.get("content") or {}) if b.data is not None]
    number = int(text.strip())
    if 1 <= number <= len(choices):
        return choices[number - 1].data
    return None


def buttons_of(content: Mapping[str, Any]) -> list[Button]:
    found: list[Button] = []
    for row in content.get(BUTTONS_KEY) or ():
        for item in row or ():
            if isinstance(item, Mapping) and isinstance(item.get("text"), str):
                found.append(Button(item["text"], data=item.get("data"), url=item.get("url")))
    return found


def _member_event(
    update: Mapping[str, Any], event: Mapping[str, Any], robot: str
) -> list[InboundEvent]:
    content = event.get("content") or {}
    target = str(event.get("state_key") or "")
    membership = content.get("membership")
    before = ((event.get("unsigned") or {}).get("prev_content") or {}).get("membership")
    room_id = str(update["room_id"])
    title = update.get("room_name")
    if target == robot:
        if membership in ("invite", "join"):
            kind = EventKind.ROBOT_ADDED
        elif membership in ("leave", "ban"):
            kind = EventKind.ROBOT_REMOVED
        else:
            return []
    elif membership == "join" and before not in _PRESENT:
        kind = EventKind.MEMBER_JOINED
    elif membership in ("leave", "ban") and before in _PRESENT:
        kind = EventKind.MEMBER_LEFT
    else:
        return []  # a new display name, an invite, a knock: no one came or went
    who = person(target, content.get("displayname") or update.get("sender_name"))
    if target == robot:
        who = Person(who.external_id, who.display_name, who.username, is_bot=True)
    return [
        InboundEvent(
            event_id=_event_id(event, room_id),
            kind=kind,
            chat_id=room_id,
            chat_title=title,
            person=who,
            at=_at(event),
            message_id=event.get("event_id"),
        )
    ]


def _event_id(event: Mapping[str, Any], room_id: str) -> str:
    """The event's id (unique on the homeserver); an invite shown in a sync's stripped state
    has none, so it is named by its room."""
    found = event.get("event_id")
    if found:
        return str(found)
    return "invite:" + hashlib.sha256(room_id.encode()).hexdigest()[:40]


def _message_event(
    update: Mapping[str, Any], event: Mapping[str, Any], robot: str
) -> list[InboundEvent]:
    content = event.get("content") or {}
    if not content:
        return []  # redacted
    relates = content.get("m.relates_to") or {}
    if relates.get("rel_type") == "m.replace":
        return []  # an edit
    room_id = str(update["room_id"])
    sender = str(event["sender"])
    author = person(sender, update.get("sender_name"), update.get("sender_level"))
    media = (
        MediaKind.STICKER
        if event.get("type") == "m.sticker"
        else _MEDIA.get(str(content.get("msgtype")), MediaKind.NONE)
    )
    body = str(content.get("body") or "")
    if media != MediaKind.NONE and not content.get("filename"):
        body = ""  # a file's body is its name unless it has a caption (Matrix v1.10)
    reply_to = (relates.get("m.in_reply_to") or {}).get("event_id")
    text = _without_reply_fallback(body) if reply_to else body
    replied = update.get("replied_to")
    base: dict[str, Any] = {
        "event_id": str(event["event_id"]),
        "chat_id": room_id,
        "chat_title": update.get("room_name"),
        "person": author,
        "at": _at(event),
        "message_id": str(event["event_id"]),
    }
    pressed = _pressed(replied, robot, text) if reply_to else None
    if pressed is not None:
        assert replied is not None
        return [
            InboundEvent(
                **{**base, "message_id": str(reply_to)},
                kind=EventKind.BUTTON,
                text=text,
                button_data=pressed,
            )
        ]
    links, mentions = _links_and_mentions(content, text)
    command = _command(text)
    replied_sender = replied.get("sender") if replied else None
    return [
        InboundEvent(
            **base,
            kind=EventKind.COMMAND if command else EventKind.MESSAGE,
            text=text,
            links=tuple(links),
            mentions=tuple(mentions),
            media=media,
            reply_to_message_id=str(reply_to) if reply_to else None,
            reply_to_person=person(str(replied_sender)) if replied_sender else None,
            reply_to_text=str((replied.get("content") or {}).get("body") or "") if replied else "",
            command=command[0] if command else None,
            command_args=command[1] if command else "",
        )
    ]
