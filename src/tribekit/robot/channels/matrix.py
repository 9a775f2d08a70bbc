"""Matrix through the client-server API, with matrix-nio: one ``AsyncClient`` per robot account
(its homeserver's URL and its access token).

``parse`` reads one timeline event of one room as the homeserver sent it, wrapped by the sync
loop (``robot/matrix_sync.py``) in a mapping::

    {"room_id": "!abc:example.org", "event": {...raw event...}, "room_name": "Fruit lovers",
     "sender_name": "Mei", "sender_level": 0, "replied_to": {...raw event...} | None}

and turns it into channel-neutral events. ``perform`` carries out one action. The homeserver's
answers map onto the channel interface: a 429 (``M_LIMIT_EXCEEDED``) is ``RetryLater`` after
exactly its ``retry_after_ms`` (nio is told never to wait it out itself); a network failure is
``RetryLater``; a refusal (403, an unknown event or room) is ``ActionRefused``.

What Matrix lacks is made up for here:

* **buttons**: a message cannot carry any, so they are written out as a numbered list under the
  text (a link as "label: url") and kept in the event's content under ``org.tribekit.buttons``;
  a member who replies to that message with a number pressed that button (``parse``).
* **muting**: a muted member's power level is set below the room's ``events_default``, so the
  homeserver refuses their messages; a power level has no end, so a timed mute (or ban) is lifted
  by an action owed for its end (``actions.py``; ``can_time_restrict`` is off).
* **answering a button press**: there is nothing to answer; the action does nothing.

Reading an event is ``_matrix_inbound.py``'s part.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
from aiohttp import ClientError
from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    RoomCreateResponse,
    RoomGetEventResponse,
    RoomGetStateEventResponse,
    RoomSendResponse,
    UploadResponse,
    WhoamiResponse,
)
from nio.api import Api

from ._matrix_inbound import ADMIN_LEVEL, BUTTONS_KEY, parse_update, person
from .base import (
    ActionKind,
    ActionRefused,
    Capabilities,
    InboundEvent,
    OutboundAction,
    Performed,
    Person,
    RetryLater,
    RobotAccount,
)
from .written_buttons import write_out

__all__ = [
    "ADMIN_LEVEL",
    "BUTTONS_KEY",
    "CAPABILITIES",
    "MatrixChannel",
    "call",
    "message_content",
]

log = logging.getLogger(__name__)

#: No limit declared per group or per robot: the homeserver answers 429 when it wants less. A
#: mute or ban has no end of its own: ``actions.py`` owes the lifting for its time.
CAPABILITIES = Capabilities(
    can_time_restrict=False,
    per_group_per_minute=None,
    per_bot_per_second=None,
    monthly_mass_messages=None,
    max_text=32_000,
)
#: Seconds one call may take; a sync's long poll adds its own wait.
REQUEST_TIMEOUT = 30.0
#: The largest picture the robot uploads.
MAX_IMAGE_BYTES = 10 * 1024 * 1024


# ---- outbound -----------------------------------------------------------------------------------


def message_content(action: OutboundAction) -> dict[str, Any]:
    """The ``m.room.message`` a send or reply posts."""
    content: dict[str, Any] = {
        "msgtype": "m.text",
        "body": write_out(action.text, action.buttons),
    }
    if action.buttons:
        content[BUTTONS_KEY] = [[vars(b) for b in row] for row in action.buttons]
    if action.kind == ActionKind.REPLY and action.message_id:
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": action.message_id}}
    return content


class MatrixChannel:
    """One nio client per robot account, made on first use with the account's homeserver."""

    name = "matrix"
    capabilities = CAPABILITIES

    def __init__(self, *, timeout: float = REQUEST_TIMEOUT) -> None:
        self._timeout = timeout
        self._clients: dict[str, tuple[str, AsyncClient]] = {}
        self._http: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return "<MatrixChannel>"  # never a token

    def _config(self) -> AsyncClientConfig:
        # Every 429 and every network failure surfaces (nio would otherwise wait them out).
        return AsyncClientConfig(
            max_limit_exceeded=0, max_timeouts=0, request_timeout=self._timeout
        )

    def make_client(self, homeserver: str, token: str, user_id: str = "") -> AsyncClient:
        client = AsyncClient(homeserver.rstrip("/"), user_id, config=self._config())
        client.access_token = token
        return client

    async def client(self, account: RobotAccount) -> AsyncClient:
        """The account's client (a new one when its token changed)."""
        found = self._clients.get(account.id)
        if found is not None and found[0] == account.token:
            return found[1]
        homeserver = account.homeserver
        if not homeserver:
            raise ActionRefused(f"the Matrix robot account {account.id} has no homeserver")
        client = self.make_client(homeserver, account.token, account.username or "")
        if found is not None:
            await found[1].close()
        self._clients[account.id] = (account.token, client)
        return client

    # -- reading ------------------------------------------------------------------------------

    def parse(self, account: RobotAccount, update: Mapping[str, Any]) -> list[InboundEvent]:
        return parse_update(update, account.username or "")

    async def who_am_i(self, homeserver: str, token: str) -> Person:
        """The user behind an access token (``whoami``); ``ActionRefused`` for a token the
        homeserver refuses, ``RetryLater`` when it cannot be reached."""
        client = self.make_client(homeserver, token)
        try:
            answer = await call(client.whoami())
        finally:
            await client.close()
        assert isinstance(answer, WhoamiResponse)
        return person(answer.user_id)

    async def event(self, account: RobotAccount, room_id: str, event_id: str) -> dict[str, Any]:
        """One event of a room, as the homeserver keeps it (a reply's replied-to message)."""
        client = await self.client(account)
        answer = await call(client.room_get_event(room_id, event_id))
        assert isinstance(answer, RoomGetEventResponse)
        source: dict[str, Any] = answer.event.source
        return source

    async def admins(self, account: RobotAccount, chat_id: str) -> list[str]:
        """The room's admins: users whose power level reaches the moderator level, or the
        room's own kick level when that is lower (the robot left out)."""
        client = await self.client(account)
        levels = await self._state(client, chat_id, "m.room.power_levels")
        bar = min(ADMIN_LEVEL, int(levels.get("kick", ADMIN_LEVEL)))
        found = {user for user, level in (levels.get("users") or {}).items() if int(level) >= bar}
        create = await self._state(client, chat_id, "m.room.create")
        version = str(create.get("room_version") or "1")
        if version.isdigit() and int(version) >= 12:
            # From room version 12 the room's creators outrank every power level.
            found.update(await self._creators(client, chat_id, create))
        found.discard(account.username or "")
        return sorted(found)

    async def _creators(
        self, client: AsyncClient, room: str, create: Mapping[str, Any]
    ) -> set[str]:
        extra = {str(u) for u in create.get("additional_creators") or () if isinstance(u, str)}
        answer = await call(client.room_get_state(room))
        for event in getattr(answer, "events", ()):
            if event.get("type") == "m.room.create":
                extra.add(str(event.get("sender")))
        return extra

    # -- acting -------------------------------------------------------------------------------

    async def perform(self, account: RobotAccount, action: OutboundAction) -> Performed:
        client = await self.client(account)
        room, kind = action.chat_id, action.kind
        if kind in (ActionKind.SEND, ActionKind.REPLY):
            if action.image_url:
                return await self._send_image(client, account, action)
            sent = await call(client.room_send(room, "m.room.message", message_content(action)))
            assert isinstance(sent, RoomSendResponse)
            return Performed(message_id=sent.event_id)
        if kind == ActionKind.DELETE:
            await self._redact(client, room, _needed(action.message_id, "message_id"))
        elif kind == ActionKind.BAN:
            await call(client.room_ban(room, _needed(action.person_id, "person_id")))
        elif kind == ActionKind.UNBAN:
            await self._unban(client, room, _needed(action.person_id, "person_id"))
        elif kind == ActionKind.KICK:
            await self._kick(client, room, _needed(action.person_id, "person_id"))
        elif kind == ActionKind.RESTRICT:
            await self._set_muted(client, room, _needed(action.person_id, "person_id"), True)
        elif kind == ActionKind.UNRESTRICT:
            await self._set_muted(client, room, _needed(action.person_id, "person_id"), False)
        elif kind == ActionKind.PIN:
            await self._pin(client, room, _needed(action.message_id, "message_id"))
        elif kind == ActionKind.LEAVE:
            await call(client.room_leave(room))
        elif kind == ActionKind.ANSWER_BUTTON:
            pass  # Matrix has no button callbacks to answer
        return Performed()

    async def _redact(self, client: AsyncClient, room: str, event_id: str) -> None:
        """Redact a message; one that is not in the room is refused (the homeserver would
        redact an unknown id without a word), one redacted already stays so."""
        found = await call(client.room_get_event(room, event_id))
        assert isinstance(found, RoomGetEventResponse)
        if not found.event.source.get("content"):
            return  # redacted already
        await call(client.room_redact(room, event_id))

    async def _membership(self, client: AsyncClient, room: str, user_id: str) -> str | None:
        try:
            state = await self._state(client, room, "m.room.member", user_id)
        except ActionRefused:
            return None
        found = state.get("membership")
        return str(found) if found else None

    async def _unban(self, client: AsyncClient, room: str, user_id: str) -> None:
        """Unban; one who is not banned (never was, or was unbanned) stays as they are."""
        if await self._membership(client, room, user_id) != "ban":
            return
        await call(client.room_unban(room, user_id))

    async def _kick(self, client: AsyncClient, room: str, user_id: str) -> None:
        """Remove a member, who may come back; one already gone stays gone."""
        if await self._membership(client, room, user_id) not in ("join", "invite", "knock"):
            return
        await call(client.room_kick(room, user_id))

    async def _state(
        self, client: AsyncClient, room: str, event_type: str, state_key: str = ""
    ) -> dict[str, Any]:
        answer = await call(client.room_get_state_event(room, event_type, state_key))
        assert isinstance(answer, RoomGetStateEventResponse)
        content: dict[str, Any] = dict(answer.content)
        return content

    async def _set_muted(self, client: AsyncClient, room: str, user_id: str, muted: bool) -> None:
        """A muted member's power level sits below what sending a message takes; unmuting
        puts them back at the room's default (a level given to them on purpose stays)."""
        levels = await self._state(client, room, "m.room.power_levels")
        users: dict[str, int] = dict(levels.get("users") or {})
        needed = int(levels.get("events_default", 0))
        default = int(levels.get("users_default", 0))
        current = int(users.get(user_id, default))
        if muted:
            if current < needed:
                return  # muted already
            users[user_id] = needed - 1
        else:
            if current >= needed:
                return  # not muted
            if default >= needed:
                users.pop(user_id, None)
            else:
                users[user_id] = needed
        await call(client.room_put_state(room, "m.room.power_levels", {**levels, "users": users}))

    async def _pin(self, client: AsyncClient, room: str, event_id: str) -> None:
        try:
            pinned = list((await self._state(client, room, "m.room.pinned_events"))["pinned"])
        except (ActionRefused, KeyError):
            pinned = []  # nothing pinned yet
        if event_id in pinned:
            return
        await call(
            client.room_put_state(room, "m.room.pinned_events", {"pinned": [*pinned, event_id]})
        )

    async def _send_image(
        self, client: AsyncClient, account: RobotAccount, action: OutboundAction
    ) -> Performed:
        """Read the picture, upload it to the homeserver's media repository, post it as an
        ``m.image`` (the text after it, when there is one)."""
        url = _needed(action.image_url, "image_url")
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._timeout, follow_redirects=True)
        try:
            got = await self._http.get(url)
        except httpx.HTTPError as exc:
            raise RetryLater(f"the picture {url} could not be read: {exc}") from exc
        if got.status_code != 200:
            raise ActionRefused(f"the picture {url} answered {got.status_code}")
        data = got.content
        if len(data) > MAX_IMAGE_BYTES:
            raise ActionRefused(f"the picture {url} is larger than {MAX_IMAGE_BYTES} bytes")
        mimetype = got.headers.get("content-type", "image/png").split(";")[0].strip()
        filename = urlsplit(url).path.rsplit("/", 1)[-1] or "image"
        uploaded, _ = await client.upload(
            lambda _got_429, _got_timeouts: data,
            content_type=mimetype,
            filename=filename,
            filesize=len(data),
        )
        _raise_for(uploaded)
        assert isinstance(uploaded, UploadResponse)
        caption = write_out(action.text, action.buttons)
        content: dict[str, Any] = {
            "msgtype": "m.image",
            "body": caption or filename,
            "url": uploaded.content_uri,
            "info": {"mimetype": mimetype, "size": len(data)},
        }
        if caption:
            content["filename"] = filename  # the body is a caption (Matrix v1.10)
        if action.buttons:
            content[BUTTONS_KEY] = [[vars(b) for b in row] for row in action.buttons]
        if action.kind == ActionKind.REPLY and action.message_id:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": action.message_id}}
        sent = await call(client.room_send(action.chat_id, "m.room.message", content))
        assert isinstance(sent, RoomSendResponse)
        return Performed(message_id=sent.event_id)

    async def direct_chat(self, account: RobotAccount, person_id: str) -> str:
        """The robot's direct room with ``person_id``: the one its ``m.direct`` account data
        names (while the robot is still in it), else a new one, recorded there."""
        client = await self.client(account)
        robot = account.username or client.user_id
        direct = await self._account_data(client, robot, "m.direct")
        joined = await call(client.joined_rooms())
        rooms = set(getattr(joined, "rooms", ()))
        for room in direct.get(person_id) or ():
            if room in rooms:
                return str(room)
        created = await call(client.room_create(is_direct=True, invite=[person_id], preset=None))
        assert isinstance(created, RoomCreateResponse)
        direct[person_id] = [*(direct.get(person_id) or ()), created.room_id]
        await self._put_account_data(client, robot, "m.direct", direct)
        return str(created.room_id)

    async def _account_data(self, client: AsyncClient, user_id: str, kind: str) -> dict[str, Any]:
        path = Api._build_path(["user", user_id, "account_data", kind])
        status, body = await _raw(client, "GET", path)
        if status == 404:
            return {}
        _raise_status(status, body)
        return dict(body)

    async def _put_account_data(
        self, client: AsyncClient, user_id: str, kind: str, content: Mapping[str, Any]
    ) -> None:
        path = Api._build_path(["user", user_id, "account_data", kind])
        status, body = await _raw(client, "PUT", path, dict(content))
        _raise_status(status, body)

    async def aclose(self) -> None:
        for _, client in self._clients.values():
            await client.close()
        self._clients.clear()
        if self._http is not None:
            await self._http.aclose()
            self._http = None


# ---- the homeserver's answers -------------------------------------------------------------------


async def call(request: Awaitable[Any]) -> Any:
    """A nio call's answer; its error as ``RetryLater`` or ``ActionRefused``."""
    try:
        answer = await request
    except (ClientError, TimeoutError, OSError, ValueError) as exc:  # ValueError: a bad URL
        raise RetryLater(f"the Matrix homeserver could not be reached: {_said(exc)}") from exc
    _raise_for(answer)
    return answer


def _raise_for(answer: Any) -> None:
    if isinstance(answer, ErrorResponse):
        raise _mapped(answer)


def _mapped(error: ErrorResponse) -> RetryLater | ActionRefused:
    status = error.transport_response.status if error.transport_response else None
    if error.status_code == "M_LIMIT_EXCEEDED" or status == 429:
        wait_ms = error.retry_after_ms
        if wait_ms is None and error.transport_response is not None:
            header = error.transport_response.headers.get("Retry-After")
            wait_ms = int(float(header) * 1000) if header else None
        wait = wait_ms / 1000 if wait_ms is not None else None
        return RetryLater(f"the Matrix homeserver asked to wait {wait_ms} ms", retry_after=wait)
    if status is not None and status >= 500:
        return RetryLater(f"the Matrix homeserver failed ({status}): {error.message}")
    return ActionRefused(f"the Matrix homeserver refused: {error.status_code} {error.message}")


async def _raw(
    client: AsyncClient, method: str, path: str, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    """A call nio has no method for (account data), through nio's HTTP session."""
    headers = {"Authorization": f"Bearer {client.access_token}"}
    data = json.dumps(body) if body is not None else None
    if data is not None:
        headers["Content-Type"] = "application/json"
    try:
        response = await client.send(method, path, data, headers)
        answer = await response.json(content_type=None)
    except (ClientError, TimeoutError, OSError, ValueError) as exc:
        raise RetryLater(f"the Matrix homeserver could not be reached: {_said(exc)}") from exc
    return response.status, answer if isinstance(answer, dict) else {}


def _said(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__  # a timeout says nothing


def _raise_status(status: int, body: Mapping[str, Any]) -> None:
    if status == 200:
        return
    if status == 429:
        wait_ms = body.get("retry_after_ms")
        raise RetryLater(
            f"the Matrix homeserver asked to wait {wait_ms} ms",
            retry_after=int(wait_ms) / 1000 if wait_ms is not None else None,
        )
    if status >= 500:
        raise RetryLater(f"the Matrix homeserver failed ({status})")
    raise ActionRefused(f"the Matrix homeserver refused: {body.get('errcode')} {body.get('error')}")


def _needed(value: str | None, name: str) -> str:
    if value is None:
        raise ActionRefused(f"the action has no {name}")
    return value
