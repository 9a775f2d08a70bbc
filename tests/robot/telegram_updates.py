"""The shapes of Telegram objects for the fake Bot API server: text entities, formatting, media.

Pure functions, no state: ``fake_telegram.FakeTelegram`` uses them to answer ``sendMessage`` with
the entities Telegram would compute (``parse_mode`` HTML / MarkdownV2 / Markdown, and the links,
mentions, hashtags and commands it detects on its own) and to build realistic inbound updates.
Offsets and lengths are in UTF-16 code units, as in the Bot API.
"""

from __future__ import annotations

import re
import secrets
from html.parser import HTMLParser
from typing import Any, Literal

Json = dict[str, Any]
MediaKind = Literal["photo", "video", "document", "sticker", "voice", "audio", "animation"]

# The 16 member permissions of ChatPermissions / ChatMemberRestricted, in the Bot API's order.
PERMISSIONS = (
    "can_send_messages",
    "can_send_audios",
    "can_send_documents",
    "can_send_photos",
    "can_send_videos",
    "can_send_video_notes",
    "can_send_voice_notes",
    "can_send_polls",
    "can_send_other_messages",
    "can_add_web_page_previews",
    "can_react_to_messages",
    "can_edit_tag",
    "can_change_info",
    "can_invite_users",
    "can_pin_messages",
    "can_manage_topics",
)
_MEDIA_PERMISSIONS = PERMISSIONS[1:7]

# An administrator's rights as ChatMemberAdministrator requires them (all are answered).
ADMIN_RIGHTS = (
    "can_be_edited",
    "is_anonymous",
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_send_welcome_messages",
    "can_pin_messages",
    "can_manage_topics",
)

# Update types a bot gets when it has not asked for others (``allowed_updates`` empty).
ALL_UPDATE_TYPES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "message_reaction",
        "message_reaction_count",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)
DEFAULT_UPDATE_TYPES = ALL_UPDATE_TYPES - {
    "chat_member",
    "message_reaction",
    "message_reaction_count",
}


class EntityParseError(ValueError):
    """Text that Telegram refuses with ``Bad Request: can't parse entities: ...``."""


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def permissions_from(given: Json, *, independent: bool) -> dict[str, bool]:
    """A member's permissions from a ChatPermissions object: what is absent is False, and without
    ``use_independent_chat_permissions`` the Bot API's implications apply."""
    result = {name: bool(given.get(name, False)) for name in PERMISSIONS}
    if not independent:
        if result["can_send_other_messages"] or result["can_add_web_page_previews"]:
            for name in ("can_send_messages", *_MEDIA_PERMISSIONS):
                result[name] = True
        if result["can_send_polls"]:
            result["can_send_messages"] = True
    return result


# -- entities Telegram detects by itself ---------------------------------------------------------

_TLDS = (
    "com|net|org|info|io|me|app|dev|xyz|top|shop|site|online|store|club|biz|tech|link|live|"
    "news|blog|cloud|space|website|vip|win|bid|icu|cc|tv|ly|gg|[a-z]{2}"
)
_DETECTORS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("email", re.compile(r"(?<![\w.+-])[\w.+-]+@(?:[\w-]+\.)+[a-z]{2,}\b", re.IGNORECASE)),
    (
        "url",
        re.compile(
            rf"(?<![\w@./-])(?:https?://[\w.-]+|(?:[\w-]+\.)+(?:{_TLDS})\b)(?::\d{{1,5}})?"
            r"(?:/[^\s]*)?",
            re.IGNORECASE,
        ),
    ),
    ("bot_command", re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")),
    ("mention", re.compile(r"(?<![\w@])@[A-Za-z0-9_]{4,32}\b")),
    ("hashtag", re.compile(r"(?<![\w#])#\w*[^\W\d]\w*")),
)


def detect_entities(text: str, *, skip: list[Json] | None = None) -> list[Json]:
    """Entities for links, e-mails, commands, mentions and hashtags, as Telegram adds them to a
    message; spans overlapping ``skip`` (entities already there) or an earlier find are left."""
    taken: list[tuple[int, int]] = [(e["offset"], e["offset"] + e["length"]) for e in skip or []]
    found: list[Json] = []
    for kind, pattern in _DETECTORS:
        for match in pattern.finditer(text):
            start = utf16_len(text[: match.start()])
            end = start + utf16_len(match.group())
            if any(start < b and a < end for a, b in taken):
                continue
            taken.append((start, end))
            found.append({"type": kind, "offset": start, "length": end - start})
    return sorted(found, key=lambda e: (e["offset"], e["type"]))


# -- parse_mode ----------------------------------------------------------------------------------


def parse_text(text: str, parse_mode: str | None) -> tuple[str, list[Json]]:
    """The plain text and entities of ``text`` sent with ``parse_mode`` (None: as it is)."""
    if not parse_mode:
        return text, []
    mode = parse_mode.lower()
    if mode == "html":
        return _parse_html(text)
    if mode == "markdownv2":
        return _MarkdownParser(text, v2=True).parse()
    if mode == "markdown":
        return _MarkdownParser(text, v2=False).parse()
    raise ValueError(parse_mode)


_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "code": "code",
    "pre": "pre",
    "a": "text_link",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}


class _HtmlParser(HTMLParser):
    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source = source
        self.lines = source.splitlines(keepends=True)
        self.out: list[str] = []
        self.length = 0  # UTF-16 units written so far
        self.open: list[tuple[str, Json | None]] = []  # (tag, entity or None when merged)
        self.entities: list[Json] = []

    def _at(self) -> int:
        line, column = self.getpos()
        prefix = (
            "".join(self.lines[: line - 1]) + self.lines[line - 1][:column] if self.lines else ""
        )
        return len(prefix.encode())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        kind = _HTML_TAGS.get(tag)
        if kind is None or (tag == "span" and values.get("class") != "tg-spoiler"):
            raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {self._at()}')
        base: Json = {"type": kind, "offset": self.length}
        entity: Json | None = base
        if tag == "a":
            href = values.get("href") or ""
            if not href:
                raise EntityParseError(f"Empty URL at byte offset {self._at()}")
            entity = {**base, "url": href}
        elif tag == "blockquote" and "expandable" in values:
            entity = {**base, "type": "expandable_blockquote"}
        elif tag == "tg-emoji":
            entity = {**base, "custom_emoji_id": values.get("emoji-id") or ""}
        elif tag == "code" and self.open and self.open[-1][0] == "pre":
            pre = self.open[-1][1]
            if pre is not None and pre["offset"] == self.length:
                language = (values.get("class") or "").removeprefix("language-")
                if language:
                    pre["language"] = language
                entity = None  # <pre><code class="language-x"> is one pre entity
        self.open.append((tag, entity))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {self._at()}')

    def handle_endtag(self, tag: str) -> None:
        if not self.open:
            raise EntityParseError(f"Unexpected end tag at byte offset {self._at()}")
        expected, entity = self.open.pop()
        if expected != tag:
            raise EntityParseError(
                f'Unmatched end tag at byte offset {self._at()}, expected "</{expected}>", '
                f'found "</{tag}>"'
            )
        if entity is not None and self.length > entity["offset"]:
            entity["length"] = self.length - entity["offset"]
            self.entities.append(entity)

    def handle_data(self, data: str) -> None:
        self.out.append(data)
        self.length += utf16_len(data)


def _parse_html(source: str) -> tuple[str, list[Json]]:
    parser = _HtmlParser(source)
    parser.feed(source)
    parser.close()
    if parser.open:
        tag = parser.open[-1][0]
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{tag}"')
    entities = sorted(parser.entities, key=lambda e: (e["offset"], -e["length"]))
    return "".join(parser.out), entities


_MD_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
}
_MD_RESERVED = set("_*[]()~`>#+-=|{}.!")


class _MarkdownParser:
    """MarkdownV2 (``v2``) or the legacy Markdown: markers, escapes and Telegram's errors."""

    def __init__(self, source: str, *, v2: bool) -> None:
        self.src = source
        self.v2 = v2
        self.i = 0
        self.out: list[str] = []
        self.length = 0
        self.open: list[tuple[str, int, int]] = []  # (type, offset, byte offset of the marker)
        self.entities: list[Json] = []

    def _byte(self, index: int) -> int:
        return len(self.src[:index].encode())

    def _emit(self, text: str) -> None:
        self.out.append(text)
        self.length += utf16_len(text)

    def _toggle(self, kind: str, width: int) -> None:
        if any(k == kind for k, _, _ in self.open):
            top, offset, at = self.open[-1]
            if top != kind:
                raise EntityParseError(
                    f"Can't find end of {_MD_NAMES[top]} entity at byte offset {at}"
                )
            self.open.pop()
            if self.length > offset:
                self.entities.append(
                    {"type": kind, "offset": offset, "length": self.length - offset}
                )
        else:
            if not self.v2 and self.open:  # legacy Markdown does not nest
                raise EntityParseError(
                    f"Can't find end of the entity starting at byte offset {self.open[-1][2]}"
                )
            self.open.append((kind, self.length, self._byte(self.i)))
        self.i += width

    def _until(self, marker: str, start: int) -> int:
        end = self.src.find(marker, self.i)
        while (
            end > 0 and self.v2 and self.src[end - 1] == "\\" and self.src[end - 2 : end] != "\\\\"
        ):
            end = self.src.find(marker, end + 1)
        if end < 0:
            if self.v2:
                name = "Pre" if marker == "```" else "Code"
                raise EntityParseError(f"Can't find end of {name} entity at byte offset {start}")
            raise EntityParseError(f"Can't find end of the entity starting at byte offset {start}")
        return end

    def _unescape(self, text: str) -> str:
        return re.sub(r"\\(.)", r"\1", text) if self.v2 else text

    def _code(self) -> None:
        start = self._byte(self.i)
        if self.src.startswith("```", self.i):
            self.i += 3
            end = self._until("```", start)
            body = self.src[self.i : end]
            language, _, rest = body.partition("\n")
            text = rest if "\n" in body and language.strip() and " " not in language else body
            entity: Json = {"type": "pre", "offset": self.length}
            if text is rest:
                entity["language"] = language.strip()
            text = self._unescape(text)
            self.i = end + 3
        else:
            self.i += 1
            end = self._until("`", start)
            text = self._unescape(self.src[self.i : end])
            entity = {"type": "code", "offset": self.length}
            self.i = end + 1
        self._emit(text)
        if utf16_len(text):
            self.entities.append({**entity, "length": utf16_len(text)})

    def _link_end(self) -> None:
        kind, offset, at = self.open[-1]
        if kind != "text_link":
            raise EntityParseError(
                f"Can't find end of {_MD_NAMES[kind]} entity at byte offset {at}"
            )
        if not self.src.startswith("(", self.i + 1):
            raise EntityParseError(f"Can't find end of a URL at byte offset {self._byte(self.i)}")
        close = self.i + 2
        while close < len(self.src) and self.src[close] != ")":
            close += 2 if self.v2 and self.src[close] == "\\" else 1
        close = close if close < len(self.src) else -1
        if close < 0:
            raise EntityParseError(f"Can't find end of a URL at byte offset {self._byte(self.i)}")
        url = self._unescape(self.src[self.i + 2 : close])
        self.open.pop()
        if self.length > offset:
            self.entities.append(
                {"type": "text_link", "offset": offset, "length": self.length - offset, "url": url}
            )
        self.i = close + 1

    def parse(self) -> tuple[str, list[Json]]:
        src = self.src
        line_start = True
        quote: int | None = None
        while self.i < len(src):
            ch = src[self.i]
            if self.v2 and line_start and ch == ">":
                if quote is None:
                    quote = self.length
                self.i += 1
                line_start = False
                continue
            line_start = False
            if ch == "\\" and self.i + 1 < len(src) and (self.v2 or src[self.i + 1] in "_*`["):
                self._emit(src[self.i + 1])
                self.i += 2
            elif ch == "`":
                self._code()
            elif ch == "*":
                self._toggle("bold", 1)
            elif ch == "_" and self.v2 and src.startswith("__", self.i):
                self._toggle("underline", 2)
            elif ch == "_":
                self._toggle("italic", 1)
            elif ch == "~" and self.v2:
                self._toggle("strikethrough", 1)
            elif ch == "|" and self.v2 and src.startswith("||", self.i):
                self._toggle("spoiler", 2)
            elif ch == "[":
                if not self.v2 and self.open:
                    raise EntityParseError(
                        f"Can't find end of the entity starting at byte offset {self.open[-1][2]}"
                    )
                self.open.append(("text_link", self.length, self._byte(self.i)))
                self.i += 1
            elif ch == "]" and self.open and self.open[-1][0] == "text_link":
                self._link_end()
            elif self.v2 and ch in _MD_RESERVED:
                raise EntityParseError(
                    f"Character '{ch}' is reserved and must be escaped with the preceding '\\'"
                )
            else:
                if ch == "\n":
                    line_start = True
                    if quote is not None and not src.startswith(">", self.i + 1):
                        self._quote(quote)
                        quote = None
                self._emit(ch)
                self.i += 1
        if quote is not None:
            self._quote(quote)
        if self.open:
            kind, _, at = self.open[-1]
            if self.v2:
                raise EntityParseError(
                    f"Can't find end of {_MD_NAMES[kind]} entity at byte offset {at}"
                )
            raise EntityParseError(f"Can't find end of the entity starting at byte offset {at}")
        entities = sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.out), entities

    def _quote(self, offset: int) -> None:
        if self.length > offset:
            self.entities.append(
                {"type": "blockquote", "offset": offset, "length": self.length - offset}
            )


# -- objects for inbound updates -----------------------------------------------------------------


def file_ids() -> Json:
    token = secrets.token_hex(8)
    return {"file_id": f"AgAC{token}", "file_unique_id": f"AQAD{token[:8]}"}


def media_object(kind: MediaKind) -> tuple[str, Any]:
    """The message field and object for one piece of media, as a client uploads it."""
    if kind == "photo":
        return "photo", [
            {**file_ids(), "width": 90, "height": 90, "file_size": 1200},
            {**file_ids(), "width": 800, "height": 800, "file_size": 64000},
        ]
    if kind == "video":
        return "video", {**file_ids(), "width": 640, "height": 360, "duration": 12}
    if kind == "animation":
        return "animation", {**file_ids(), "width": 320, "height": 240, "duration": 3}
    if kind == "sticker":
        sticker = {"type": "regular", "width": 512, "height": 512, "is_animated": False}
        return "sticker", {**file_ids(), **sticker, "is_video": False, "emoji": "🙂"}
    if kind == "voice":
        return "voice", {**file_ids(), "duration": 4, "mime_type": "audio/ogg"}
    if kind == "audio":
        return "audio", {**file_ids(), "duration": 180, "mime_type": "audio/mpeg"}
    return "document", {**file_ids(), "file_name": "file.pdf", "mime_type": "application/pdf"}


def origin_channel(
    chat_id: int, title: str, message_id: int, *, date: int, username: str | None = None
) -> Json:
    """``forward_origin`` of a post forwarded from a channel."""
    chat: Json = {"id": chat_id, "type": "channel", "title": title}
    if username:
        chat["username"] = username
    return {"type": "channel", "date": date, "chat": chat, "message_id": message_id}


def origin_user(user: Json, *, date: int) -> Json:
    """``forward_origin`` of a message forwarded from a user who allows linking to them."""
    return {"type": "user", "date": date, "sender_user": user}


def origin_hidden_user(name: str, *, date: int) -> Json:
    """``forward_origin`` of a message forwarded from a user who hides their account."""
    return {"type": "hidden_user", "date": date, "sender_user_name": name}
