"""A fake Telegram Bot API server on loopback, for tests that drive the real aiogram client.

It answers ``POST/GET {base_url}/bot<token>/<method>`` (JSON, form-encoded or multipart bodies)
with the Bot API's envelope and error texts, over a small world of bots, users, chats, members
and messages::

    with FakeTelegram() as fake:
        bot_user = fake.add_bot("123456:TEST-token", "shop_robot")
        fake.add_chat(-1001, "Shop fans")
        fake.add_member(-1001, bot_user, status="administrator")
        alice = fake.add_user(501, "Alice")
        fake.feed(fake.message(-1001, alice, "hello, see http://spam.example"))
        api = TelegramAPIServer.from_base(fake.base_url)
        bot = Bot("123456:TEST-token", session=AiohttpSession(api=api))
        updates = await bot.get_updates(timeout=1)  # the message, with its url entity

The server runs in a background thread with its own event loop, so sync and async tests both use
it; the world (``chat()``, ``member()``, ``messages()``) and ``calls`` are plain data to assert on.
Deliberate differences from Telegram: a webhook may be a plain ``http://`` loopback URL; updates
are delivered as if privacy mode were off; nothing expires but ``until_date``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.loopback_server import LoopbackServer

from .telegram_updates import (
    ADMIN_RIGHTS,
    ALL_UPDATE_TYPES,
    DEFAULT_UPDATE_TYPES,
    PERMISSIONS,
    EntityParseError,
    MediaKind,
    detect_entities,
    media_object,
    parse_text,
    permissions_from,
)

Json = dict[str, Any]
Status = Literal["creator", "administrator", "member", "restricted", "left", "kicked"]
ChatType = Literal["private", "group", "supergroup"]
_PRESENT = ("creator", "administrator", "member", "restricted")
_ADMINS = ("creator", "administrator")
_MAX_TEXT = 4096
_MAX_CAPTION = 1024


class ApiError(Exception):
    """An answer with ``ok: false``: the Bot API's error code, description and parameters."""

    def __init__(self, code: int, description: str, **parameters: int) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


@dataclass
class FakeUser:
    id: int
    first_name: str
    username: str | None = None
    last_name: str | None = None
    language_code: str | None = None
    is_bot: bool = False

    def to_api(self) -> Json:
        user: Json = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        for name in ("last_name", "username", "language_code"):
            if getattr(self, name) is not None:
                user[name] = getattr(self, name)
        return user


@dataclass
class Member:
    user_id: int
    status: Status
    until_date: int = 0  # unix seconds; 0 is forever
    rights: dict[str, bool] = field(default_factory=dict)  # an administrator's
    permissions: dict[str, bool] = field(default_factory=dict)  # a restricted member's
    is_member: bool = True  # a restricted member's: still in the chat
    custom_title: str | None = None


@dataclass
class StoredMessage:
    chat_id: int
    message_id: int
    from_id: int
    date: int
    api: Json  # the Message object as Telegram shows it now
    text: str | None = None
    entities: list[Json] = field(default_factory=list)
    reply_markup: Json | None = None  # as sent, whatever its kind
    parse_mode: str | None = None
    deleted: bool = False
    pinned: bool = False
    photo: str | None = None  # a sent photo: its URL (or file) as given


@dataclass
class FakeChat:
    id: int
    type: ChatType
    title: str | None = None
    username: str | None = None
    description: str | None = None
    members: dict[int, Member] = field(default_factory=dict)
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    next_message_id: int = 1
    pinned_message_id: int | None = None
    permissions: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(PERMISSIONS, True))
    private_user: FakeUser | None = None

    def to_api(self) -> Json:
        if self.type == "private" and self.private_user is not None:
            user = self.private_user.to_api()
            chat = {"id": self.id, "type": "private", "first_name": user["first_name"]}
            chat.update({k: user[k] for k in ("last_name", "username") if k in user})
            return chat
        chat = {"id": self.id, "type": self.type, "title": self.title}
        if self.username:
            chat["username"] = self.username
        return chat


@dataclass
class FakeBot:
    token: str
    user: FakeUser
    updates: list[Json] = field(default_factory=list)  # queued, not yet confirmed
    next_update_id: int = 1
    allowed_updates: frozenset[str] = DEFAULT_UPDATE_TYPES
    webhook_url: str = ""
    webhook_secret: str | None = None
    webhook_max_connections: int = 40
    webhook_last_error: tuple[int, str] | None = None
    commands: dict[tuple[str, str], list[Json]] = field(default_factory=dict)
    poll_generation: int = 0


@dataclass(frozen=True)
class Call:
    token: str
    bot_id: int | None  # None: an unknown token
    method: str
    params: Json
    at: float  # unix seconds
    status: int
    result: Any  # the ``result`` answered, or None on an error
    description: str | None = None  # the error's
    via: Literal["http", "webhook_reply"] = "http"


@dataclass(frozen=True)
class WebhookDelivery:
    token: str
    url: str
    update: Json
    secret_token: str | None
    status: int | None  # None: the receiver could not be reached
    body: str


@dataclass
class _Failure:
    method: str
    token: str | None
    code: int
    description: str
    parameters: dict[str, int]
    times: int


_STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "photo",
        "parse_mode",
        "url",
        "secret_token",
        "ip_address",
        "callback_query_id",
        "language_code",
        "inline_message_id",
        "business_connection_id",
        "title",
        "description",
    }
)
_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


def _decode(name: str, value: Any) -> Any:
    """A form value as the Bot API reads it: JSON for objects, arrays, numbers and booleans."""
    if isinstance(value, UploadFile):
        return f"<file {value.filename}>"
    if not isinstance(value, str) or name in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _int(params: Json, name: str, *, required: bool = True, default: int = 0) -> int:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise _bad(f"{name} is empty")
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _bad(f"invalid {name} specified") from None


def _json_param(params: Json, name: str) -> Any:
    value = params.get(name)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise _bad(f"can't parse {name} JSON object") from None
    return value


class FakeTelegram(LoopbackServer):
    """The fake server. Use it as a context manager, or call ``start()`` and ``stop()``.

    * ``group_messages_per_minute``: more sends than this to one group chat within 60 s are
      answered 429 with the seconds until the oldest leaves the window (Telegram's is 20).
    * ``bot_messages_per_second``: the same for all of one bot's sends within 1 s (Telegram's 30).
    * ``clock``: unix seconds, for message dates and ``until_date`` (waits use real time).
    """

    def __init__(
        self,
        *,
        group_messages_per_minute: int | None = None,
        bot_messages_per_second: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._limits = (group_messages_per_minute, bot_messages_per_second)
        self.group_messages_per_minute = group_messages_per_minute
        self.bot_messages_per_second = bot_messages_per_second
        self.clock = clock
        self.bots: dict[str, FakeBot] = {}
        self.users: dict[int, FakeUser] = {}
        self.chats: dict[int, FakeChat] = {}
        self.calls: list[Call] = []
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.callback_answers: dict[str, Json] = {}  # query id -> the answer's params
        self._callbacks: dict[str, str] = {}  # query id pending an answer -> bot token
        self._failures: list[_Failure] = []
        self._sends: dict[object, deque[float]] = {}
        self._lock = threading.RLock()
        self._called = threading.Condition(self._lock)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed: asyncio.Event | None = None
        super().__init__()
        self.app = Starlette(
            routes=[Route("/{path:path}", self._endpoint, methods=["GET", "POST"])]
        )
        self._methods: dict[str, Callable[[FakeBot, Json], Any]] = {
            "getMe": self._get_me,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "deleteMessages": self._delete_messages,
            "banChatMember": self._ban_chat_member,
            "unbanChatMember": self._unban_chat_member,
            "restrictChatMember": self._restrict_chat_member,
            "pinChatMessage": self._pin_chat_message,
            "leaveChat": self._leave_chat,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "getChatAdministrators": self._get_chat_administrators,
            "getChatMemberCount": self._get_chat_member_count,
            "answerCallbackQuery": self._answer_callback_query,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
        }
        # Method names are case-insensitive in the Bot API.
        self._names = {name.lower(): name for name in [*self._methods, "getUpdates"]}

    # -- lifecycle --------------------------------------------------------------------------------

    name = "fake Telegram server"

    def on_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()

    def on_stop(self) -> None:
        self._notify()  # long polls end at once

    def stop(self) -> None:
        super().stop()
        self._loop = None

    def reset(self) -> None:
        """Forget everything (between tests that share one server); waiting polls get a 409."""
        with self._lock:
            for bot in self.bots.values():
                bot.poll_generation += 1
            self.group_messages_per_minute, self.bot_messages_per_second = self._limits
            self.bots.clear()
            self.users.clear()
            self.chats.clear()
            self.calls.clear()
            self.webhook_deliveries.clear()
            self.callback_answers.clear()
            self._callbacks.clear()
            self._failures.clear()
            self._sends.clear()
        self._notify()

    def _notify(self) -> None:
        """Wake the long polls: something was queued (safe from any thread)."""
        loop, changed = self._loop, self._changed
        if loop is None or changed is None or loop.is_closed():
            return

        def wake() -> None:
            assert self._changed is not None
            self._changed.set()
            self._changed = asyncio.Event()

        loop.call_soon_threadsafe(wake)

    # -- the world, from the test's side ----------------------------------------------------------

    def add_bot(self, token: str, username: str, *, first_name: str | None = None) -> FakeUser:
        """A bot whose token works; its user id is the token's number, as in Telegram."""
        number, sep, _ = token.partition(":")
        if not sep or not number.isdigit():
            raise ValueError(f"a bot token looks like '123456:secret', not {token!r}")
        user = FakeUser(int(number), first_name or username, username=username, is_bot=True)
        with self._lock:
            self.users[user.id] = user
            self.bots[token] = FakeBot(token, user)
        return user

    def add_user(
        self,
        user_id: int,
        first_name: str,
        *,
        username: str | None = None,
        last_name: str | None = None,
        language_code: str | None = None,
    ) -> FakeUser:
        user = FakeUser(user_id, first_name, username, last_name, language_code)
        with self._lock:
            self.users[user_id] = user
        return user

    def add_chat(
        self,
        chat_id: int,
        title: str,
        *,
        type: Literal["group", "supergroup"] = "supergroup",  # the API's name
        username: str | None = None,
        description: str | None = None,
    ) -> FakeChat:
        chat = FakeChat(chat_id, type, title, username, description)
        with self._lock:
            self.chats[chat_id] = chat
        return chat

    def add_private_chat(self, user: int | FakeUser, token: str) -> FakeChat:
        """The user has started the bot: their private chat (its id is the user's)."""
        with self._lock:
            person = self._user(user)
            chat = self.chats.get(person.id)
            if chat is None:
                chat = self.chats[person.id] = FakeChat(person.id, "private", private_user=person)
                chat.members[person.id] = Member(person.id, "member")
            chat.members[self.bots[token].user.id] = Member(self.bots[token].user.id, "member")
        return chat

    def add_member(
        self,
        chat_id: int,
        user: int | FakeUser,
        *,
        status: Status = "member",
        until_date: int = 0,
        rights: dict[str, bool] | None = None,
        permissions: dict[str, bool] | None = None,
        custom_title: str | None = None,
    ) -> Member:
        """Set a member's status. An administrator has every right unless ``rights`` says
        otherwise; a restricted member has no permission unless ``permissions`` grants it."""
        with self._lock:
            person = self._user(user)
            chat = self._chat(chat_id)
            member = Member(person.id, status, until_date, custom_title=custom_title)
            if status == "administrator":
                member.rights = {
                    **dict.fromkeys(ADMIN_RIGHTS, True),
                    "is_anonymous": False,
                    **(rights or {}),
                }
            if status == "restricted":
                member.permissions = {**dict.fromkeys(PERMISSIONS, False), **(permissions or {})}
            chat.members[person.id] = member
        return member

    def chat(self, chat_id: int) -> FakeChat:
        with self._lock:
            return self._chat(chat_id)

    def member(self, chat_id: int, user_id: int) -> Member:
        """The member as Telegram sees them now (a ban or restriction past its date is lifted)."""
        with self._lock:
            return self._member(self._chat(chat_id), user_id)

    def status(self, chat_id: int, user_id: int) -> Status:
        return self.member(chat_id, user_id).status

    def messages(self, chat_id: int, *, deleted: bool | None = None) -> list[StoredMessage]:
        """The chat's messages in order; ``deleted`` True/False keeps only those (not) deleted."""
        with self._lock:
            found = list(self._chat(chat_id).messages.values())
        return [m for m in found if deleted is None or m.deleted is deleted]

    def sent(self, chat_id: int | None = None, *, token: str | None = None) -> list[StoredMessage]:
        """Messages that bots sent (to one chat, by one bot), in order of sending."""
        with self._lock:
            bot_ids = {b.user.id for t, b in self.bots.items() if token is None or t == token}
            chats = [self._chat(chat_id)] if chat_id is not None else list(self.chats.values())
            found = [m for c in chats for m in c.messages.values() if m.from_id in bot_ids]
        return sorted(found, key=lambda m: (m.date, m.chat_id, m.message_id))

    def calls_to(self, method: str, *, token: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method and token in (None, c.token)]

    def wait_for_calls(self, method: str, count: int, *, within: float = 5.0) -> list[Call]:
        """Block until ``count`` calls of ``method`` were answered (a sync test's wait)."""
        deadline = time.monotonic() + within
        with self._called:
            while len(found := self.calls_to(method)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(found)} of {count} {method} calls after {within}s")
                self._called.wait(left)
        return found

    async def until_calls(self, method: str, count: int, *, within: float = 5.0) -> list[Call]:
        """Wait until ``count`` calls of ``method`` were answered (an async test's wait)."""
        deadline = time.monotonic() + within
        while len(found := self.calls_to(method)) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(found)} of {count} {method} calls after {within}s")
            await asyncio.sleep(0.005)
        return found

    def fail_next(
        self,
        method: str,
        error_code: int = 429,
        *,
        retry_after: int | None = None,
        times: int = 1,
        description: str | None = None,
        token: str | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` (by any bot, or ``token``'s) with an error
        and change nothing: 429 says "Too Many Requests: retry after N" with ``retry_after``
        (5 when not given); other codes get Telegram's usual text unless ``description``."""
        parameters: dict[str, int] = {}
        if error_code == 429:
            parameters["retry_after"] = 5 if retry_after is None else retry_after
            text = f"Too Many Requests: retry after {parameters['retry_after']}"
        else:
            text = _DEFAULT_DESCRIPTIONS.get(error_code, "Internal Server Error")
        if migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = migrate_to_chat_id
            text = "Bad Request: group chat was upgraded to a supergroup chat"
        with self._lock:
            self._failures.append(
                _Failure(method, token, error_code, description or text, parameters, times)
            )

    # -- updates, from the test's side ------------------------------------------------------------

    def feed(
        self, updates: Json | Iterable[Json], *, to: str | Iterable[str] | None = None
    ) -> list[Json]:
        """Queue updates for ``getUpdates``. Without ``to`` an update goes where Telegram sends
        it: ``my_chat_member`` to the bot it is about, ``callback_query`` to the bot whose message
        has the button, anything else to every bot in the chat (``chat_member`` to its
        administrator bots only). A bot's ``allowed_updates`` filter them as they arrive. Each
        queued copy gets the bot's next ``update_id`` unless the update has one. Returns them."""
        batch = [updates] if isinstance(updates, dict) else list(updates)
        queued: list[Json] = []
        with self._lock:
            for update in batch:
                tokens = [to] if isinstance(to, str) else list(to) if to is not None else None
                for bot in self._recipients(update) if tokens is None else map(self._bot, tokens):
                    kind = next(k for k in update if k != "update_id")
                    if kind not in bot.allowed_updates:
                        continue
                    copy = {"update_id": update.get("update_id", bot.next_update_id), **update}
                    bot.next_update_id = max(bot.next_update_id, copy["update_id"]) + 1
                    bot.updates.append(copy)
                    queued.append(copy)
        self._notify()
        return queued

    async def push_webhook(self, update: Json, *, token: str | None = None) -> WebhookDelivery:
        """POST one update to the bot's webhook from the server's side, with its secret header;
        a method in a 200 answer is executed as Telegram does. ``token``: which bot (needed only
        when several have a webhook)."""
        future = self._push(update, token)
        return await asyncio.wrap_future(future)

    def push_webhook_sync(
        self, update: Json, *, token: str | None = None, timeout: float = 10.0
    ) -> WebhookDelivery:
        """``push_webhook`` for a sync test (a receiver served by the caller's own event loop
        needs the async one)."""
        return self._push(update, token).result(timeout)

    def message(
        self,
        chat_id: int,
        user: int | FakeUser,
        text: str = "",
        *,
        entities: list[Json] | None = None,
        forward_origin: Json | None = None,
        reply_to: int | None = None,
        media: MediaKind | None = None,
        date: int | None = None,
    ) -> Json:
        """A ``message`` update: ``user`` posts ``text`` in the chat (the message is recorded, so
        the bot can delete it). Entities are detected as Telegram does unless given; with
        ``media`` the text is the caption. A user with no status yet becomes a member; one who
        left, was banned or may not send messages cannot post."""
        with self._lock:
            chat, person = self._chat(chat_id), self._user(user)
            self._may_post(chat, person)
            api: Json = {}
            if forward_origin is not None:
                api["forward_origin"] = forward_origin
            if reply_to is not None:
                replied = chat.messages.get(reply_to)
                if replied is None or replied.deleted:
                    raise ValueError(f"no message {reply_to} in chat {chat_id} to reply to")
                api["reply_to_message"] = _without_reply(replied.api)
            found = detect_entities(text) if entities is None else entities
            if media is not None:
                name, obj = media_object(media)
                api[name] = obj
                if text:
                    api["caption"] = text
                    if found:
                        api["caption_entities"] = found
            else:
                api["text"] = text
                if found:
                    api["entities"] = found
            stored = self._store(chat, person, api, date=date)
            stored.text, stored.entities = text, found
            return {"message": stored.api}

    def edited_message(self, chat_id: int, message_id: int, text: str) -> Json:
        """An ``edited_message`` update: the author changed the text of their message."""
        with self._lock:
            stored = self._message(self._chat(chat_id), message_id, "message to edit not found")
            found = detect_entities(text)
            stored.api = {**stored.api, "text": text, "edit_date": int(self.clock())}
            stored.api.pop("entities", None)
            if found:
                stored.api["entities"] = found
            stored.text, stored.entities = text, found
            return {"edited_message": stored.api}

    def member_joined(
        self, chat_id: int, user: int | FakeUser, *, by: int | FakeUser | None = None
    ) -> list[Json]:
        """``user`` joins (or ``by`` adds them): the ``new_chat_members`` service message and the
        ``chat_member`` update, or ``my_chat_member`` when the newcomer is one of our bots."""
        with self._lock:
            chat, person = self._chat(chat_id), self._user(user)
            actor = self._user(by) if by is not None else person
            current = self._member(chat, person.id)
            if current.status == "kicked":
                raise ValueError(f"user {person.id} is banned from chat {chat_id}: cannot join")
            old = self._member_api(chat, current)
            chat.members[person.id] = Member(person.id, "member")
            new = self._member_api(chat, chat.members[person.id])
            service = self._store(chat, actor, {"new_chat_members": [person.to_api()]})
            service.api["new_chat_member"] = person.to_api()
            kind = "my_chat_member" if self._is_our_bot(person.id) else "chat_member"
            return [{"message": service.api}, {kind: self._change(chat, actor, old, new)}]

    def member_left(
        self, chat_id: int, user: int | FakeUser, *, by: int | FakeUser | None = None
    ) -> list[Json]:
        """``user`` leaves (status left) or ``by`` removes them (status kicked): the
        ``left_chat_member`` service message and the ``chat_member``/``my_chat_member`` update."""
        with self._lock:
            chat, person = self._chat(chat_id), self._user(user)
            actor = self._user(by) if by is not None else person
            old = self._member_api(chat, self._member(chat, person.id))
            chat.members[person.id] = Member(person.id, "kicked" if by is not None else "left")
            new = self._member_api(chat, chat.members[person.id])
            service = self._store(chat, actor, {"left_chat_member": person.to_api()})
            kind = "my_chat_member" if self._is_our_bot(person.id) else "chat_member"
            return [{"message": service.api}, {kind: self._change(chat, actor, old, new)}]

    def callback_query(
        self, chat_id: int, user: int | FakeUser, message_id: int, data: str
    ) -> Json:
        """``user`` presses the inline button with ``data`` under a bot's message."""
        with self._lock:
            chat, person = self._chat(chat_id), self._user(user)
            stored = self._message(chat, message_id, "message not found")
            rows = (stored.api.get("reply_markup") or {}).get("inline_keyboard", [])
            if not any(b.get("callback_data") == data for row in rows for b in row):
                raise ValueError(f"message {message_id} has no button with callback data {data!r}")
            query_id = str(secrets.randbits(63))
            token = next((t for t, b in self.bots.items() if b.user.id == stored.from_id), None)
            if token is None:
                raise ValueError(f"message {message_id} was not sent by one of our bots")
            self._callbacks[query_id] = token
            return {
                "callback_query": {
                    "id": query_id,
                    "from": person.to_api(),
                    "message": stored.api,
                    "chat_instance": str(abs(chat.id) * 7919 % 10**18),
                    "data": data,
                }
            }

    # -- the world's rules ------------------------------------------------------------------------

    def _user(self, user: int | FakeUser) -> FakeUser:
        user_id = user.id if isinstance(user, FakeUser) else user
        if user_id not in self.users:
            raise KeyError(f"no user {user_id}: add_user() or add_bot() first")
        return self.users[user_id]

    def _chat(self, chat_id: int) -> FakeChat:
        if chat_id not in self.chats:
            raise KeyError(f"no chat {chat_id}: add_chat() first")
        return self.chats[chat_id]

    def _bot(self, token: str) -> FakeBot:
        if token not in self.bots:
            raise KeyError(f"no bot with token {token!r}: add_bot() first")
        return self.bots[token]

    def _is_our_bot(self, user_id: int) -> bool:
        return any(b.user.id == user_id for b in self.bots.values())

    def _member(self, chat: FakeChat, user_id: int) -> Member:
        member = chat.members.get(user_id)
        if member is None:
            return Member(user_id, "left")
        if member.status in ("kicked", "restricted") and 0 < member.until_date <= self.clock():
            lifted: Status = (
                "member" if member.status == "restricted" and member.is_member else "left"
            )
            member = chat.members[user_id] = Member(user_id, lifted)
        return member

    def _may_post(self, chat: FakeChat, person: FakeUser) -> None:
        if person.id not in chat.members:
            chat.members[person.id] = Member(person.id, "member")
        member = self._member(chat, person.id)
        if member.status in ("left", "kicked"):
            raise ValueError(f"user {person.id} is {member.status} in chat {chat.id}: cannot post")
        if member.status == "restricted" and not member.permissions.get("can_send_messages"):
            raise ValueError(f"user {person.id} may not send messages in chat {chat.id}")

    def _store(
        self, chat: FakeChat, sender: FakeUser, fields: Json, *, date: int | None = None
    ) -> StoredMessage:
        message_id = chat.next_message_id
        chat.next_message_id += 1
        at = int(self.clock()) if date is None else date
        api = {"message_id": message_id, "from": sender.to_api(), "chat": chat.to_api(), "date": at}
        stored = StoredMessage(chat.id, message_id, sender.id, at, {**api, **fields})
        chat.messages[message_id] = stored
        return stored

    def _message(self, chat: FakeChat, message_id: int, missing: str) -> StoredMessage:
        stored = chat.messages.get(message_id)
        if stored is None or stored.deleted:
            raise _bad(missing)
        return stored

    def _member_api(self, chat: FakeChat, member: Member) -> Json:
        user = self.users[member.user_id].to_api() if member.user_id in self.users else None
        api: Json = {"status": member.status, "user": user}
        if member.status == "creator":
            api.update(is_anonymous=False)
        elif member.status == "administrator":
            api.update(member.rights)
        elif member.status == "restricted":
            api.update(member.permissions, is_member=member.is_member, until_date=member.until_date)
        elif member.status == "kicked":
            api["until_date"] = member.until_date
        if member.custom_title and member.status in _ADMINS:
            api["custom_title"] = member.custom_title
        return api

    def _change(self, chat: FakeChat, actor: FakeUser, old: Json, new: Json) -> Json:
        return {
            "chat": chat.to_api(),
            "from": actor.to_api(),
            "date": int(self.clock()),
            "old_chat_member": old,
            "new_chat_member": new,
        }

    def _recipients(self, update: Json) -> list[FakeBot]:
        if "my_chat_member" in update:
            user_id = update["my_chat_member"]["new_chat_member"]["user"]["id"]
            return [b for b in self.bots.values() if b.user.id == user_id]
        if "callback_query" in update:
            token = self._callbacks.get(update["callback_query"]["id"])
            return [self.bots[token]] if token in self.bots else []
        body = next(v for k, v in update.items() if k != "update_id")
        chat = self.chats.get((body.get("chat") or {}).get("id", 0))
        if chat is None:
            raise ValueError("the update names no known chat: feed(..., to=token)")
        wanted = _ADMINS if "chat_member" in update else _PRESENT
        return [b for b in self.bots.values() if self._member(chat, b.user.id).status in wanted]

    def _rights(self, chat: FakeChat, bot: FakeBot, right: str, denied: str) -> None:
        member = self._member(chat, bot.user.id)
        if chat.type == "private":
            return
        if member.status == "creator" or (
            member.status == "administrator" and member.rights.get(right)
        ):
            return
        raise _bad(denied)

    def _target(self, chat: FakeChat, params: Json) -> tuple[FakeUser, Member]:
        user_id = _int(params, "user_id")
        if user_id not in self.users:
            raise _bad("PARTICIPANT_ID_INVALID")
        member = self._member(chat, user_id)
        if member.status == "creator":
            raise _bad("can't remove chat owner")
        if member.status == "administrator":
            raise _bad("user is an administrator of the chat")
        return self.users[user_id], member

    def _until(self, params: Json) -> int:
        """``until_date``: less than 30 s or more than 366 days from now is forever (0)."""
        until = _int(params, "until_date", required=False)
        now = self.clock()
        return until if now + 30 <= until <= now + 366 * 86400 else 0

    def _status_changed(self, chat: FakeChat, bot: FakeBot, old: Json, member: Member) -> None:
        """Queue the ``chat_member`` update that a status change makes (delivered to the chat's
        administrator bots that asked for ``chat_member``)."""
        update = {"chat_member": self._change(chat, bot.user, old, self._member_api(chat, member))}
        for other in self._recipients(update):
            if "chat_member" in other.allowed_updates:
                other.updates.append({"update_id": other.next_update_id, **update})
                other.next_update_id += 1

    # -- HTTP -------------------------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> JSONResponse:
        match = re.fullmatch(r"bot([^/]+)/([A-Za-z]+)", request.path_params["path"])
        params: Json = {k: _decode(k, v) for k, v in request.query_params.items()}
        if request.method == "POST":
            content_type = request.headers.get("content-type", "")
            if content_type.startswith("application/json"):
                body = await request.json()
                params.update(body if isinstance(body, dict) else {})
            elif content_type:
                form = await request.form()
                params.update({k: _decode(k, v) for k, v in form.multi_items()})
        if match is None:
            return _answer(ApiError(404, "Not Found"))
        token, raw_method = match.groups()
        method = self._names.get(raw_method.lower(), raw_method)
        if method == "getUpdates":
            try:
                result = await self._get_updates(token, params)
            except ApiError as error:
                return self._answered(token, method, params, error)
            return self._answered(token, method, params, result)
        return self._answered(token, method, params, self._execute(token, method, params))

    def _execute(self, token: str, method: str, params: Json) -> Any:
        """The result of one method call, or the ApiError it is answered with."""
        with self._lock:
            bot = self.bots.get(token)
            if bot is None:
                return ApiError(401, "Unauthorized")
            handler = self._methods.get(method)
            if handler is None:
                return ApiError(404, "Not Found")
            failure = self._injected(method, token)
            if failure is not None:
                return failure
            try:
                return handler(bot, params)
            except ApiError as error:
                return error

    def _injected(self, method: str, token: str) -> ApiError | None:
        for failure in self._failures:
            if failure.method == method and failure.token in (None, token):
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                return ApiError(failure.code, failure.description, **failure.parameters)
        return None

    def _answered(
        self,
        token: str,
        method: str,
        params: Json,
        result: Any,
        via: Literal["http", "webhook_reply"] = "http",
    ) -> JSONResponse:
        with self._lock:
            bot = self.bots.get(token)
            error = result if isinstance(result, ApiError) else None
            description: str | None = None
            if isinstance(result, _Described):
                description, result = result.description, result.value
            self.calls.append(
                Call(
                    token=token,
                    bot_id=bot.user.id if bot else None,
                    method=method,
                    params=params,
                    at=self.clock(),
                    status=error.code if error else 200,
                    result=None if error else result,
                    description=error.description if error else None,
                    via=via,
                )
            )
            self._called.notify_all()
        if error is not None:
            return _answer(error)
        body: Json = {"ok": True, "result": result}
        if description:
            body["description"] = description
        return JSONResponse(body)

    # -- getUpdates and webhooks ------------------------------------------------------------------

    async def _get_updates(self, token: str, params: Json) -> list[Json]:
        with self._lock:
            bot = self.bots.get(token)
            if bot is None:
                raise ApiError(401, "Unauthorized")
            failure = self._injected("getUpdates", token)
            if failure is not None:
                raise failure
            if bot.webhook_url:
                raise ApiError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; use "
                    "deleteWebhook to delete the webhook first",
                )
            offset = _int(params, "offset", required=False)
            limit = min(max(_int(params, "limit", required=False, default=100), 1), 100)
            timeout = max(_int(params, "timeout", required=False), 0)
            allowed = _json_param(params, "allowed_updates")
            if allowed is not None:
                bot.allowed_updates = frozenset(allowed) & ALL_UPDATE_TYPES or DEFAULT_UPDATE_TYPES
            if offset < 0:
                bot.updates = bot.updates[offset:]
            elif offset > 0:
                bot.updates = [u for u in bot.updates if u["update_id"] >= offset]
            bot.poll_generation += 1
            generation = bot.poll_generation
        self._notify()  # an older poll of this bot is ended with a 409
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if bot.poll_generation != generation or self.bots.get(token) is not bot:
                    raise ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; make sure that only "
                        "one bot instance is running",
                    )
                if bot.updates or time.monotonic() >= deadline:
                    return [dict(u) for u in bot.updates[:limit]]
                changed = self._changed
            assert changed is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), deadline - time.monotonic())
            if self._server is None or self._server.should_exit:
                return []

    def _push(self, update: Json, token: str | None) -> Future[WebhookDelivery]:
        with self._lock:
            hooked = [b for b in self.bots.values() if b.webhook_url and token in (None, b.token)]
            if len(hooked) != 1:
                raise ValueError(
                    f"{len(hooked)} bots have a webhook" + ("" if token else ": pass token=")
                )
            bot = hooked[0]
            if "update_id" not in update:
                update = {"update_id": bot.next_update_id, **update}
            bot.next_update_id = max(bot.next_update_id, update["update_id"]) + 1
        assert self._loop is not None, "the server is not running"
        return asyncio.run_coroutine_threadsafe(self._deliver(bot, update), self._loop)

    async def _deliver(self, bot: FakeBot, update: Json) -> WebhookDelivery:
        headers = {"Content-Type": "application/json"}
        if bot.webhook_secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = bot.webhook_secret
        url, secret = bot.webhook_url, bot.webhook_secret
        try:
            async with httpx.AsyncClient(timeout=10) as http:
                response = await http.post(url, content=json.dumps(update), headers=headers)
            status, body = response.status_code, response.text
        except httpx.HTTPError as exc:
            status, body = None, f"{type(exc).__name__}: {exc}"
        delivery = WebhookDelivery(bot.token, url, update, secret, status, body)
        with self._lock:
            self.webhook_deliveries.append(delivery)
            if status is None or not 200 <= status < 300:
                reason = body if status is None else f"Wrong response from the webhook: {status}"
                bot.webhook_last_error = (int(self.clock()), reason)
        if status == 200:
            try:
                reply = json.loads(body)
            except ValueError:
                reply = None
            if isinstance(reply, dict) and isinstance(reply.get("method"), str):
                name = str(reply["method"])
                method = self._names.get(name.lower(), name)
                params = {k: v for k, v in reply.items() if k != "method"}
                result = self._execute(bot.token, method, params)
                self._answered(bot.token, method, params, result, via="webhook_reply")
        return delivery

    # -- the methods ------------------------------------------------------------------------------

    def _chat_param(self, params: Json) -> FakeChat:
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise _bad("chat_id is empty")
        if isinstance(raw, str) and raw.startswith("@"):
            chat = next((c for c in self.chats.values() if c.username == raw[1:]), None)
        else:
            try:
                chat = self.chats.get(int(raw))
            except (TypeError, ValueError):
                chat = None
        if chat is None:
            raise _bad("chat not found")
        return chat

    def _present(self, chat: FakeChat, bot: FakeBot) -> Member:
        member = self._member(chat, bot.user.id)
        if member.status in _PRESENT:
            return member
        if chat.type == "private":
            raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        kind = "supergroup chat" if chat.type == "supergroup" else "group chat"
        if member.status == "kicked":
            raise ApiError(403, f"Forbidden: bot was kicked from the {kind}")
        raise ApiError(403, f"Forbidden: bot is not a member of the {kind}")

    def _get_me(self, bot: FakeBot, params: Json) -> Json:
        return {
            **bot.user.to_api(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _flood(self, chat: FakeChat, bot: FakeBot) -> None:
        now = time.monotonic()
        windows: list[tuple[object, int | None, float]] = [
            (("bot", bot.token), self.bot_messages_per_second, 1.0)
        ]
        if chat.type != "private":
            windows.append((("chat", chat.id), self.group_messages_per_minute, 60.0))
        for key, limit, span in windows:
            if limit is None:
                continue
            sent = self._sends.setdefault(key, deque())
            while sent and sent[0] <= now - span:
                sent.popleft()
            if len(sent) >= limit:
                wait = max(1, math.ceil(sent[0] + span - now))
                raise ApiError(429, f"Too Many Requests: retry after {wait}", retry_after=wait)
        for key, limit, _ in windows:
            if limit is not None:
                self._sends[key].append(now)

    def _text(self, params: Json, name: str = "text") -> tuple[str, list[Json]]:
        raw = params.get(name)
        if not isinstance(raw, str) or not raw.strip():
            raise _bad("message text is empty")
        mode = params.get("parse_mode") or None
        given = _json_param(params, "entities")
        try:
            text, entities = parse_text(raw, mode) if given is None else (raw, list(given))
        except EntityParseError as error:
            raise _bad(f"can't parse entities: {error}") from None
        except ValueError:
            raise _bad("unsupported parse_mode") from None
        if not text.strip():
            raise _bad("message text is empty")
        if len(text) > _MAX_TEXT:
            raise _bad("message is too long")
        return text, entities + detect_entities(text, skip=entities)

    def _markup(self, params: Json) -> Json | None:
        markup = _json_param(params, "reply_markup")
        if not isinstance(markup, dict):
            return None
        for row in markup.get("inline_keyboard", []):
            for button in row:
                if not button.get("text"):
                    raise _bad("text buttons are unallowed in the inline keyboard")
                if (
                    "callback_data" in button
                    and not 1 <= len(str(button["callback_data"]).encode()) <= 64
                ):
                    raise _bad("BUTTON_DATA_INVALID")
                actions = set(button) - {"text", "style", "icon_custom_emoji_id"}
                if not actions:
                    raise _bad("text buttons are unallowed in the inline keyboard")
        return markup

    def _send_message(self, bot: FakeBot, params: Json) -> Json:
        user = self.users.get(_int(params, "chat_id") if _is_int(params.get("chat_id")) else 0)
        if user is not None and not user.is_bot and user.id not in self.chats:
            raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        chat = self._chat_param(params)
        member = self._present(chat, bot)
        if member.status == "restricted" and not member.permissions.get("can_send_messages"):
            raise _bad("not enough rights to send text messages to the chat")
        text, entities = self._text(params)
        markup = self._markup(params)
        reply = _json_param(params, "reply_parameters") or {}
        reply_to = reply.get("message_id", params.get("reply_to_message_id"))
        api: Json = {"text": text}
        if entities:
            api["entities"] = entities
        if reply_to is not None:
            replied = chat.messages.get(int(reply_to))
            if replied is not None and not replied.deleted:
                api["reply_to_message"] = _without_reply(replied.api)
            elif not (
                reply.get("allow_sending_without_reply")
                or params.get("allow_sending_without_reply")
            ):
                raise _bad("message to be replied not found")
        if markup is not None and "inline_keyboard" in markup:
            api["reply_markup"] = markup
        self._flood(chat, bot)
        stored = self._store(chat, bot.user, api)
        stored.text, stored.entities, stored.reply_markup = text, entities, markup
        stored.parse_mode = params.get("parse_mode") or None
        return stored.api

    def _send_photo(self, bot: FakeBot, params: Json) -> Json:
        """A photo by URL (or an uploaded file) with an optional caption; counted by the flood
        limits like ``sendMessage``."""
        user = self.users.get(_int(params, "chat_id") if _is_int(params.get("chat_id")) else 0)
        if user is not None and not user.is_bot and user.id not in self.chats:
            raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        chat = self._chat_param(params)
        member = self._present(chat, bot)
        if member.status == "restricted" and not member.permissions.get("can_send_photos"):
            raise _bad("not enough rights to send photos to the chat")
        photo = params.get("photo")
        if not isinstance(photo, str) or not photo.strip():
            raise _bad("there is no photo in the request")
        if not (
            photo.startswith(("http://", "https://", "<file ")) or re.fullmatch(r"[\w-]+", photo)
        ):
            raise _bad("wrong remote file identifier specified: wrong string length")
        caption, entities = "", list[Json]()
        if params.get("caption"):
            caption, entities = self._text(params, "caption")
            if len(caption) > _MAX_CAPTION:
                raise _bad("message caption is too long")
        markup = self._markup(params)
        name, sizes = media_object("photo")
        api: Json = {name: sizes}
        if caption:
            api["caption"] = caption
            if entities:
                api["caption_entities"] = entities
        if markup is not None and "inline_keyboard" in markup:
            api["reply_markup"] = markup
        self._flood(chat, bot)
        stored = self._store(chat, bot.user, api)
        stored.text, stored.entities, stored.reply_markup = caption or None, entities, markup
        stored.parse_mode = params.get("parse_mode") or None
        stored.photo = photo
        return stored.api

    def _own_message(self, bot: FakeBot, params: Json) -> StoredMessage:
        if params.get("inline_message_id"):
            raise _bad("MESSAGE_ID_INVALID")
        chat = self._chat_param(params)
        stored = self._message(chat, _int(params, "message_id"), "message to edit not found")
        if stored.from_id != bot.user.id:
            raise _bad("message can't be edited")
        return stored

    def _edit_message_text(self, bot: FakeBot, params: Json) -> Json:
        stored = self._own_message(bot, params)
        text, entities = self._text(params)
        markup = self._markup(params)
        if text == stored.text and entities == stored.entities and markup == stored.reply_markup:
            raise _bad(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        api = {k: v for k, v in stored.api.items() if k not in ("entities", "reply_markup")}
        api.update(text=text, edit_date=int(self.clock()))
        if entities:
            api["entities"] = entities
        if markup is not None and "inline_keyboard" in markup:
            api["reply_markup"] = markup
        stored.api, stored.text, stored.entities, stored.reply_markup = api, text, entities, markup
        stored.parse_mode = params.get("parse_mode") or None
        return api

    def _edit_message_reply_markup(self, bot: FakeBot, params: Json) -> Json:
        stored = self._own_message(bot, params)
        markup = self._markup(params)
        if markup == stored.reply_markup:
            raise _bad(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        api = {k: v for k, v in stored.api.items() if k != "reply_markup"}
        api["edit_date"] = int(self.clock())
        if markup is not None and "inline_keyboard" in markup:
            api["reply_markup"] = markup
        stored.api, stored.reply_markup = api, markup
        return api

    def _deletable(self, chat: FakeChat, bot: FakeBot, stored: StoredMessage) -> None:
        if stored.from_id != bot.user.id:
            self._rights(chat, bot, "can_delete_messages", "message can't be deleted")

    def _delete_message(self, bot: FakeBot, params: Json) -> bool:
        chat = self._chat_param(params)
        stored = self._message(chat, _int(params, "message_id"), "message to delete not found")
        self._deletable(chat, bot, stored)
        stored.deleted = True
        return True

    def _delete_messages(self, bot: FakeBot, params: Json) -> bool:
        chat = self._chat_param(params)
        ids = _json_param(params, "message_ids")
        if not isinstance(ids, list) or not ids:
            raise _bad("message identifiers are not specified")
        if len(ids) > 100:
            raise _bad("too many messages to delete")
        found = [m for i in ids if (m := chat.messages.get(int(i))) is not None and not m.deleted]
        for stored in found:  # missing ones are skipped, as the Bot API says
            self._deletable(chat, bot, stored)
        for stored in found:
            stored.deleted = True
        return True

    def _managed(self, bot: FakeBot, params: Json) -> FakeChat:
        chat = self._chat_param(params)
        if chat.type == "private":
            raise _bad("chat member status can't be changed in private chats")
        self._rights(
            chat,
            bot,
            "can_restrict_members",
            "not enough rights to restrict/unrestrict chat member",
        )
        return chat

    def _ban_chat_member(self, bot: FakeBot, params: Json) -> bool:
        chat = self._managed(bot, params)
        user, member = self._target(chat, params)
        old = self._member_api(chat, member)
        chat.members[user.id] = banned = Member(user.id, "kicked", self._until(params))
        if params.get("revoke_messages") is True:
            for stored in chat.messages.values():
                if stored.from_id == user.id:
                    stored.deleted = True
        self._status_changed(chat, bot, old, banned)
        return True

    def _unban_chat_member(self, bot: FakeBot, params: Json) -> bool:
        chat = self._managed(bot, params)
        user, member = self._target(chat, params)
        # Without only_if_banned, unbanning a member removes them (they may join again).
        if member.status == "kicked" or (
            member.status in ("member", "restricted") and params.get("only_if_banned") is not True
        ):
            old = self._member_api(chat, member)
            chat.members[user.id] = left = Member(user.id, "left")
            self._status_changed(chat, bot, old, left)
        return True

    def _restrict_chat_member(self, bot: FakeBot, params: Json) -> bool:
        chat = self._managed(bot, params)
        if chat.type != "supergroup":
            raise _bad("method is available only for supergroups")
        user, member = self._target(chat, params)
        given = _json_param(params, "permissions")
        if not isinstance(given, dict):
            raise _bad("can't parse permissions JSON object")
        independent = params.get("use_independent_chat_permissions") is True
        permissions = permissions_from(given, independent=independent)
        old = self._member_api(chat, member)
        present = member.status in ("member", "restricted") and member.is_member
        if all(permissions.values()):
            new = Member(user.id, "member" if present else "left")
        else:
            new = Member(user.id, "restricted", self._until(params), permissions=permissions)
            new.is_member = present
        chat.members[user.id] = new
        self._status_changed(chat, bot, old, new)
        return True

    def _pin_chat_message(self, bot: FakeBot, params: Json) -> bool:
        chat = self._chat_param(params)
        self._present(chat, bot)
        stored = self._message(chat, _int(params, "message_id"), "message to pin not found")
        self._rights(
            chat, bot, "can_pin_messages", "not enough rights to manage pinned messages in the chat"
        )
        stored.pinned = True
        chat.pinned_message_id = stored.message_id
        return True

    def _leave_chat(self, bot: FakeBot, params: Json) -> bool:
        chat = self._chat_param(params)
        member = self._present(chat, bot)
        old = self._member_api(chat, member)
        chat.members[bot.user.id] = Member(bot.user.id, "left")
        change = self._change(
            chat, bot.user, old, self._member_api(chat, chat.members[bot.user.id])
        )
        if "my_chat_member" in bot.allowed_updates:
            bot.updates.append({"update_id": bot.next_update_id, "my_chat_member": change})
            bot.next_update_id += 1
        return True

    def _get_chat(self, bot: FakeBot, params: Json) -> Json:
        chat = self._chat_param(params)
        if self._member(chat, bot.user.id).status not in _PRESENT:
            raise _bad("chat not found")
        info: Json = {
            **chat.to_api(),
            "accent_color_id": abs(chat.id) % 7,
            "max_reaction_count": 11,
            "accepted_gift_types": dict.fromkeys(
                (
                    "unlimited_gifts",
                    "limited_gifts",
                    "unique_gifts",
                    "premium_subscription",
                    "gifts_from_channels",
                ),
                False,
            ),
        }
        if chat.type != "private":
            info["permissions"] = dict(chat.permissions)
        if chat.description:
            info["description"] = chat.description
        if chat.pinned_message_id is not None:
            pinned = chat.messages[chat.pinned_message_id]
            if not pinned.deleted:
                info["pinned_message"] = _without_reply(pinned.api)
        return info

    def _get_chat_member(self, bot: FakeBot, params: Json) -> Json:
        chat = self._chat_param(params)
        user_id = _int(params, "user_id")
        if user_id not in self.users:
            raise _bad("user not found")
        return self._member_api(chat, self._member(chat, user_id))

    def _get_chat_administrators(self, bot: FakeBot, params: Json) -> list[Json]:
        chat = self._chat_param(params)
        if chat.type == "private":
            raise _bad("there are no administrators in the private chat")
        admins = [self._member(chat, user_id) for user_id in list(chat.members)]
        return [
            self._member_api(chat, m)
            for m in admins
            if m.status in _ADMINS and not self.users[m.user_id].is_bot
        ]

    def _get_chat_member_count(self, bot: FakeBot, params: Json) -> int:
        chat = self._chat_param(params)
        members = [self._member(chat, user_id) for user_id in list(chat.members)]
        return sum(
            1 for m in members if m.status in _PRESENT and (m.status != "restricted" or m.is_member)
        )

    def _answer_callback_query(self, bot: FakeBot, params: Json) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if self._callbacks.get(query_id) != bot.token:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        del self._callbacks[query_id]
        self.callback_answers[query_id] = dict(params)
        return True

    def _set_webhook(self, bot: FakeBot, params: Json) -> _Described:
        url = str(params.get("url") or "")
        if not url:
            return _Described(self._delete_webhook(bot, params).value, "Webhook is already deleted")
        parts = urlsplit(url)
        loopback = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
        if parts.scheme != "https" and not loopback:
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise _bad("secret token contains unallowed characters")
        allowed = _json_param(params, "allowed_updates")
        if allowed is not None:
            bot.allowed_updates = frozenset(allowed) & ALL_UPDATE_TYPES or DEFAULT_UPDATE_TYPES
        if params.get("drop_pending_updates") is True:
            bot.updates.clear()
        was = bot.webhook_url
        bot.webhook_url, bot.webhook_secret = url, None if secret is None else str(secret)
        bot.webhook_max_connections = _int(params, "max_connections", required=False, default=40)
        bot.poll_generation += 1  # a waiting getUpdates ends
        self._notify()
        return _Described(True, "Webhook is already set" if was == url else "Webhook was set")

    def _delete_webhook(self, bot: FakeBot, params: Json) -> _Described:
        was = bot.webhook_url
        bot.webhook_url, bot.webhook_secret, bot.webhook_last_error = "", None, None
        if params.get("drop_pending_updates") is True:
            bot.updates.clear()
        return _Described(True, "Webhook was deleted" if was else "Webhook is already deleted")

    def _get_webhook_info(self, bot: FakeBot, params: Json) -> Json:
        info: Json = {
            "url": bot.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(bot.updates),
        }
        if bot.webhook_url:
            info["max_connections"] = bot.webhook_max_connections
            if bot.allowed_updates != DEFAULT_UPDATE_TYPES:
                info["allowed_updates"] = sorted(bot.allowed_updates)
        if bot.webhook_last_error is not None:
            info["last_error_date"], info["last_error_message"] = bot.webhook_last_error
        return info

    def _commands_key(self, params: Json) -> tuple[str, str]:
        scope = _json_param(params, "scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    def _set_my_commands(self, bot: FakeBot, params: Json) -> bool:
        commands = _json_param(params, "commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad("commands must be an array of at most 100 BotCommand")
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _bad("command description must be 1-256 characters")
        bot.commands[self._commands_key(params)] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    def _get_my_commands(self, bot: FakeBot, params: Json) -> list[Json]:
        return list(bot.commands.get(self._commands_key(params), []))

    def _delete_my_commands(self, bot: FakeBot, params: Json) -> bool:
        bot.commands.pop(self._commands_key(params), None)
        return True


@dataclass(frozen=True)
class _Described:
    """A result answered with a ``description`` beside it, as setWebhook's are."""

    value: Any
    description: str


def _answer(error: ApiError) -> JSONResponse:
    body: Json = {"ok": False, "error_code": error.code, "description": error.description}
    if error.parameters:
        body["parameters"] = dict(error.parameters)
    return JSONResponse(body, error.code)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) or (
        isinstance(value, str) and re.fullmatch(r"-?\d+", value) is not None
    )


def _without_reply(message: Json) -> Json:
    """A message as it appears inside another (Telegram nests one level only)."""
    return {k: v for k, v in message.items() if k != "reply_to_message"}
