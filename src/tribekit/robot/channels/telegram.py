"""Telegram through the Bot API, with aiogram's client (its API server base URL configurable:
Telegram's, a local Bot API server, or the test suite's).

``parse`` reads an update as the plain JSON Telegram sends (no model objects on the webhook's
hot path) and turns it into channel-neutral events; ``perform`` carries out one action with the
robot account's bot. Telegram's answers map onto the channel interface: a 429 ``retry_after``
or a network or server failure is ``RetryLater``; a refusal (the message is gone, the robot is
not an admin, the token was revoked) is ``ActionRefused``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import TelegramMethod
from aiogram.types import (
    ChatPermissions,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyParameters,
)

from .base import (
    ActionKind,
    ActionRefused,
    Button,
    Capabilities,
    EventKind,
    InboundEvent,
    MediaKind,
    OutboundAction,
    Performed,
    Person,
    RetryLater,
    RobotAccount,
)

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.telegram.org"
#: The update kinds ``parse`` reads, asked for on ``setWebhook`` and ``getUpdates``
#: (``chat_member`` is sent only when asked for).
ALLOWED_UPDATES = ("message", "chat_member", "my_chat_member", "callback_query")
#: Telegram's limits for bots: about 20 messages a minute into one group, 30 a second overall;
#: a photo's caption holds at most 1024 characters (``sendPhoto``).
CAPABILITIES = Capabilities(
    per_group_per_minute=20, per_bot_per_second=30, max_text=4096, max_caption=1024
)
_MEDIA = {
    "photo": MediaKind.PHOTO,
    "video": MediaKind.VIDEO,
    "animation": MediaKind.VIDEO,
    "document": MediaKind.DOCUMENT,
    "audio": MediaKind.AUDIO,
    "voice": MediaKind.AUDIO,
    "sticker": MediaKind.STICKER,
}
_MUTED = ChatPermissions(
    can_send_messages=False,
    can_send_audios=False,
    can_send_documents=False,
    can_send_photos=False,
    can_send_videos=False,
    can_send_video_notes=False,
    can_send_voice_notes=False,
    can_send_polls=False,
    can_send_other_messages=False,
    can_add_web_page_previews=False,
)
_UNMUTED = ChatPermissions(
    can_send_messages=True,
    can_send_audios=True,
    can_send_documents=True,
    can_send_photos=True,
    can_send_videos=True,
    can_send_video_notes=True,
    can_send_voice_notes=True,
    can_send_polls=True,
    can_send_other_messages=True,
    can_add_web_page_previews=True,
)


def _at(unix: Any) -> datetime:
    return datetime.fromtimestamp(int(unix), UTC) if unix else datetime.now(UTC)


def _person(user: Mapping[str, Any] | None) -> Person | None:
    if not user:
        return None
    name = " ".join(p for p in (user.get("first_name"), user.get("last_name")) if p)
    return Person(
        external_id=str(user["id"]),
        display_name=name or str(user.get("username") or user["id"]),
        username=user.get("username"),
        is_bot=bool(user.get("is_bot")),
    )


def _utf16_slice(text: str, offset: int, length: int) -> str:
    """Telegram's entity offsets count UTF-16 code units, not characters."""
    encoded = text.encode("utf-16-le")
    return encoded[offset * 2 : (offset + length) * 2].decode("utf-16-le", errors="replace")


def _entities(text: str, entities: list[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    links: list[str] = []
    mentions: list[str] = []
    for entity in entities:
        kind = entity.get("type")
        if kind == "text_link" and entity.get("url"):
            links.append(str(entity["url"]))
        elif kind == "url":
            links.append(_utf16_slice(text, entity["offset"], entity["length"]))
        elif kind in ("mention", "text_mention"):
            mentions.append(_utf16_slice(text, entity["offset"], entity["length"]))
    return links, mentions


def _command(text: str, username: str | None) -> tuple[str, str] | None:
    """``/name@robot args`` -> (name, args); None when the text is no command for this robot."""
    if not text.startswith("/"):
        return None
    head, _, args = text[1:].partition(" ")
    name, _, addressed = head.partition("@")
    if addressed and username and addressed.lower() != username.lower():
        return None  # a command for another bot in the group
    if not name:
        return None
    return name.lower(), args.strip()


def _message_event(
    update_id: str, message: Mapping[str, Any], account: RobotAccount
) -> list[InboundEvent]:
    chat = message.get("chat") or {}
    chat_id, title = str(chat.get("id")), chat.get("title")
    at = _at(message.get("date"))
    author = _person(message.get("from"))
    joined = message.get("new_chat_members")
    if joined:
        return [
            InboundEvent(
                event_id=f"{update_id}:{i}",
                kind=(
                    EventKind.ROBOT_ADDED
                    if account.username and user.get("username") == account.username
                    else EventKind.MEMBER_JOINED
                ),
                chat_id=chat_id,
                chat_title=title,
                person=_person(user),
                at=at,
                message_id=str(message.get("message_id")),
            )
            for i, user in enumerate(joined)
        ]
    left = message.get("left_chat_member")
    if left:
        robot_left = bool(account.username) and left.get("username") == account.username
        return [
            InboundEvent(
                event_id=update_id,
                kind=EventKind.ROBOT_REMOVED if robot_left else EventKind.MEMBER_LEFT,
                chat_id=chat_id,
                chat_title=title,
                person=_person(left),
                at=at,
                message_id=str(message.get("message_id")),
            )
        ]
    text = message.get("text") or message.get("caption") or ""
    entities = message.get("entities") or message.get("caption_entities") or []
    links, mentions = _entities(text, entities)
    media = next((kind for key, kind in _MEDIA.items() if key in message), MediaKind.NONE)
    origin = message.get("forward_origin") or {}
    replied = message.get("reply_to_message") or {}
    command = _command(text, account.username)
    return [
        InboundEvent(
            event_id=update_id,
            kind=EventKind.COMMAND if command else EventKind.MESSAGE,
            chat_id=chat_id,
            chat_title=title,
            person=author,
            at=at,
            message_id=str(message.get("message_id")),
            text=text,
            links=tuple(links),
            mentions=tuple(mentions),
            forwarded_from_channel=origin.get("type") == "channel",
            media=media,
            reply_to_message_id=str(replied["message_id"]) if replied else None,
            reply_to_person=_person(replied.get("from")) if replied else None,
            reply_to_text=str(replied.get("text") or replied.get("caption") or ""),
            command=command[0] if command else None,
            command_args=command[1] if command else "",
        )
    ]


def _member_update(update_id: str, change: Mapping[str, Any], robot: bool) -> list[InboundEvent]:
    """``chat_member`` / ``my_chat_member``: someone (or the robot) joined or left."""
    chat = change.get("chat") or {}
    old = (change.get("old_chat_member") or {}).get("status")
    new_member = change.get("new_chat_member") or {}
    new = new_member.get("status")
    present = {"member", "administrator", "creator", "restricted"}
    if (old in present) == (new in present):
        return []  # a change of rights, not of presence
    joined = new in present
    if robot:
        kind = EventKind.ROBOT_ADDED if joined else EventKind.ROBOT_REMOVED
    else:
        kind = EventKind.MEMBER_JOINED if joined else EventKind.MEMBER_LEFT
    return [
        InboundEvent(
            event_id=update_id,
            kind=kind,
            chat_id=str(chat.get("id")),
            chat_title=chat.get("title"),
            person=_person(new_member.get("user")),
            at=_at(change.get("date")),
        )
    ]


def _button(update_id: str, query: Mapping[str, Any]) -> list[InboundEvent]:
    message = query.get("message") or {}
    chat = message.get("chat") or {}
    return [
        InboundEvent(
            event_id=update_id,
            kind=EventKind.BUTTON,
            chat_id=str(chat.get("id")),
            chat_title=chat.get("title"),
            person=_person(query.get("from")),
            at=datetime.now(UTC),
            message_id=str(message.get("message_id")) if message else None,
            button_data=query.get("data"),
            button_query_id=str(query.get("id")),
        )
    ]


def _keyboard(rows: tuple[tuple[Button, ...], ...]) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=b.text, callback_data=b.data, url=b.url) for b in row]
            for row in rows
        ]
    )


class _RawUpdates(TelegramMethod[list[dict[str, Any]]]):
    """``getUpdates`` answered as the plain JSON Telegram sends, as a webhook receives it (no
    model objects: the same ``parse`` reads both)."""

    __returning__ = list[dict[str, Any]]
    __api_method__ = "getUpdates"

    offset: int | None = None
    limit: int | None = None
    timeout: int | None = None
    allowed_updates: list[str] | None = None


class TelegramChannel:
    """One aiogram HTTP session shared by every bot of the process; a ``Bot`` per token."""

    name = "telegram"
    capabilities = CAPABILITIES

    def __init__(self, api_base: str = DEFAULT_API_BASE, *, timeout: float = 30) -> None:
        self._session = AiohttpSession(
            api=TelegramAPIServer.from_base(api_base.rstrip("/")), timeout=timeout
        )
        self._bots: dict[str, Bot] = {}

    def __repr__(self) -> str:
        return "<TelegramChannel>"  # never a token

    def bot(self, token: str) -> Bot:
        if token not in self._bots:
            self._bots[token] = Bot(token, session=self._session)
        return self._bots[token]

    def parse(self, account: RobotAccount, update: Mapping[str, Any]) -> list[InboundEvent]:
        update_id = str(update.get("update_id"))
        if "message" in update:
            return _message_event(update_id, update["message"], account)
        if "chat_member" in update:
            return _member_update(update_id, update["chat_member"], robot=False)
        if "my_chat_member" in update:
            return _member_update(update_id, update["my_chat_member"], robot=True)
        if "callback_query" in update:
            return _button(update_id, update["callback_query"])
        return []  # edits, channel posts, polls...: nothing the robot acts on

    async def who_am_i(self, token: str) -> Person:
        """The bot behind a token (``getMe``); ``ActionRefused`` for a token Telegram refuses."""
        try:
            me = await self.bot(token).get_me()
        except TelegramAPIError as exc:
            self._bots.pop(token, None)
            raise _mapped(exc) from exc
        return Person(
            external_id=str(me.id), display_name=me.first_name, username=me.username, is_bot=True
        )

    async def set_webhook(self, token: str, url: str, secret: str) -> None:
        """Ask Telegram to POST the bot's updates to ``url`` with ``secret`` in the
        ``X-Telegram-Bot-Api-Secret-Token`` header."""
        try:
            await self.bot(token).set_webhook(
                url, secret_token=secret, allowed_updates=list(ALLOWED_UPDATES)
            )
        except TelegramAPIError as exc:
            raise _mapped(exc) from exc

    async def delete_webhook(self, token: str) -> None:
        """Stop webhook delivery (updates wait for ``getUpdates`` again)."""
        try:
            await self.bot(token).delete_webhook()
        except TelegramAPIError as exc:
            raise _mapped(exc) from exc

    async def get_updates(
        self, token: str, *, offset: int | None, wait: int, limit: int = 100
    ) -> list[dict[str, Any]]:
        """The bot's next updates, waiting up to ``wait`` seconds for one (long polling).
        ``offset`` confirms every update before it: Telegram forgets them."""
        method = _RawUpdates(
            offset=offset, limit=limit, timeout=wait, allowed_updates=list(ALLOWED_UPDATES)
        )
        try:
            return await self.bot(token)(method, request_timeout=wait + 10)
        except TelegramAPIError as exc:
            raise _mapped(exc) from exc

    async def perform(self, account: RobotAccount, action: OutboundAction) -> Performed:
        bot = self.bot(account.token)
        chat, kind = action.chat_id, action.kind
        try:
            if kind in (ActionKind.SEND, ActionKind.REPLY):
                reply = (
                    ReplyParameters(
                        message_id=int(action.message_id), allow_sending_without_reply=True
                    )
                    if kind == ActionKind.REPLY and action.message_id
                    else None
                )
                if action.image_url:
                    # A photo by its URL (Telegram fetches it), the text as its caption.
                    sent = await bot.send_photo(
                        chat,
                        action.image_url,
                        caption=action.text or None,
                        reply_parameters=reply,
                        reply_markup=_keyboard(action.buttons),
                        parse_mode=None,
                    )
                    return Performed(message_id=str(sent.message_id))
                sent = await bot.send_message(
                    chat,
                    action.text,
                    reply_parameters=reply,
                    reply_markup=_keyboard(action.buttons),
                    parse_mode=None,  # text is text: nothing a member wrote is read as markup
                )
                return Performed(message_id=str(sent.message_id))
            if kind == ActionKind.DELETE:
                await bot.delete_message(chat, int(_needed(action.message_id, "message_id")))
            elif kind == ActionKind.RESTRICT:
                await bot.restrict_chat_member(
                    chat, _user(action), permissions=_MUTED, until_date=action.until
                )
            elif kind == ActionKind.UNRESTRICT:
                await bot.restrict_chat_member(chat, _user(action), permissions=_UNMUTED)
            elif kind == ActionKind.BAN:
                await bot.ban_chat_member(chat, _user(action), until_date=action.until)
            elif kind == ActionKind.KICK:
                await bot.ban_chat_member(chat, _user(action))
                await bot.unban_chat_member(chat, _user(action), only_if_banned=True)
            elif kind == ActionKind.UNBAN:
                await bot.unban_chat_member(chat, _user(action), only_if_banned=True)
            elif kind == ActionKind.PIN:
                await bot.pin_chat_message(chat, int(_needed(action.message_id, "message_id")))
            elif kind == ActionKind.ANSWER_BUTTON:
                await bot.answer_callback_query(
                    _needed(action.button_query_id, "button_query_id"), text=action.text or None
                )
            elif kind == ActionKind.LEAVE:
                await bot.leave_chat(chat)
        except TelegramAPIError as exc:
            raise _mapped(exc) from exc
        return Performed()

    async def admins(self, account: RobotAccount, chat_id: str) -> list[str]:
        """The group's admins' user ids (``getChatAdministrators``), bots left out; called by
        the worker outside any transaction."""
        try:
            found = await self.bot(account.token).get_chat_administrators(chat_id)
        except TelegramAPIError as exc:
            raise _mapped(exc) from exc
        return [str(member.user.id) for member in found if not member.user.is_bot]

    async def direct_chat(self, account: RobotAccount, person_id: str) -> str:
        """A private chat's id is the person's user id (they must have started the robot)."""
        return person_id

    async def aclose(self) -> None:
        await self._session.close()


def _needed(value: str | None, name: str) -> str:
    if value is None:
        raise ActionRefused(f"the action has no {name}")
    return value


def _user(action: OutboundAction) -> int:
    return int(_needed(action.person_id, "person_id"))


def _mapped(exc: TelegramAPIError) -> RetryLater | ActionRefused:
    if isinstance(exc, TelegramRetryAfter):
        wait = exc.retry_after
        return RetryLater(f"Telegram asked to wait {wait} s", retry_after=wait)
    if isinstance(exc, TelegramNetworkError | TelegramServerError):
        return RetryLater(f"Telegram could not be reached: {exc.message}")
    return ActionRefused(f"Telegram refused: {exc.message}")
