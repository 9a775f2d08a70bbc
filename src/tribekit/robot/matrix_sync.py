"""A Matrix robot reads its rooms with ``/sync`` (long polling), run by ``tribekit robot poll``
next to Telegram's getUpdates (``poll.py``).

Each round asks the homeserver for what happened since the stored ``next_batch``
(``robot_accounts.sync_token``) and hands every event to ``receive.py``, as the Telegram
webhook's updates are, each in its own unit of work:

* a room the robot is **invited** to is recorded (``ROBOT_ADDED``: a ``pending`` community that
  staff confirm) and then joined; the robot's own join arrives in a later round and finds the
  same community;
* every **timeline** event of its rooms (messages, joins and leaves, the robot's own removal),
  except the history a room it just joined comes with (what was said before it came); the
  message a reply answers is fetched first, outside any transaction, so that a numbered
  reply to a robot message with buttons is read as that button's press.

The new ``next_batch`` is stored only once every event of the round was handled: a poller that
dies mid-round reads the round again, and what it handled already is found by the event's id
(unique per account) and not handled twice. The first round of a new robot (no token yet) reads
only the rooms the robot is in and its invites, not their history: messages posted before the
robot came are not moderated. A 429 is waited out for its ``retry_after``, a failure backs off
(1 s doubling to a minute), a refused token is retried each minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from nio import AsyncClient, MatrixRoom, SyncResponse
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.models.robot import RobotAccount

from .channels import ActionRefused, RetryLater
from .channels.matrix import MatrixChannel
from .channels.matrix import call as matrix_call
from .receive import NotAnUpdate, Receiver, Served

log = logging.getLogger(__name__)

#: Seconds one /sync waits for something to happen (the homeserver holds the request).
WAIT_SECONDS = 25
_REFUSED_PAUSE = 60.0
_MAX_BACKOFF = 60.0
#: Only what the robot reads: room timelines (senders' member events lazily), no presence.
SYNC_FILTER: dict[str, Any] = {
    "presence": {"not_types": ["*"]},
    "account_data": {"not_types": ["*"]},
    "room": {
        "timeline": {"limit": 100},
        "state": {"lazy_load_members": True},
        "ephemeral": {"not_types": ["*"]},
        "account_data": {"not_types": ["*"]},
    },
}

Report = Callable[[str, str], None]
#: The account as it is now (None once it is switched off or removed).
Current = Callable[[uuid.UUID], Awaitable[Served | None]]


async def stored_token(receiver: Receiver, account_id: uuid.UUID) -> str | None:
    async def read(session: AsyncSession) -> str | None:
        found: str | None = await session.scalar(
            select(RobotAccount.sync_token).where(RobotAccount.id == account_id)
        )
        return found

    return await receiver.db.run(read, read_only=True)


async def store_token(receiver: Receiver, account_id: uuid.UUID, token: str) -> None:
    async def write(session: AsyncSession) -> None:
        await session.execute(
            update(RobotAccount).where(RobotAccount.id == account_id).values(sync_token=token)
        )

    await receiver.db.run(write)


class MatrixSync:
    """The sync loop of every Matrix robot of this process."""

    def __init__(
        self, receiver: Receiver, matrix: MatrixChannel, *, wait: int = WAIT_SECONDS
    ) -> None:
        self.receiver = receiver
        self.matrix = matrix
        self.wait = wait
        #: The last next_batch stored per account.
        self.tokens: dict[uuid.UUID, str] = {}

    async def round(self, served: Served, *, wait: int | None = None) -> list[str]:
        """One /sync and its events: what was done with each. Raises ``RetryLater`` or
        ``ActionRefused`` as the homeserver answered; an event that could not be handled is
        raised as it came, with the token left where it was."""
        account_id = served.account.id
        since = self.tokens.get(account_id) or await stored_token(self.receiver, account_id)
        client = await self.matrix.client(served.as_channel)
        answer = await matrix_call(
            client.sync(
                timeout=(self.wait if wait is None else wait) * 1000,
                since=since,
                full_state=since is None or not client.rooms,
                sync_filter=SYNC_FILTER,
            )
        )
        assert isinstance(answer, SyncResponse)
        done = await self._handle(served, client, answer, history=since is not None)
        await store_token(self.receiver, account_id, answer.next_batch)
        self.tokens[account_id] = answer.next_batch
        return done

    async def _handle(
        self, served: Served, client: AsyncClient, answer: SyncResponse, *, history: bool
    ) -> list[str]:
        robot = served.as_channel.username or ""
        done: list[str] = []
        for room_id, invited in answer.rooms.invite.items():
            events = [_stripped(e) for e in invited.invite_state]
            name = next(
                (e["content"].get("name") for e in events if e.get("type") == "m.room.name"),
                None,
            )
            for stripped in events:
                if _robot_membership(stripped, robot):
                    done += await self._receive(
                        served, {"room_id": room_id, "event": stripped, "room_name": name}
                    )
            try:
                await matrix_call(client.join(room_id))
            except ActionRefused as exc:
                log.warning("could not join a room", extra={"room": room_id, "error": exc.detail})
        for section in (answer.rooms.join, answer.rooms.leave):
            for room_id, info in section.items():
                room = client.rooms.get(room_id)
                timeline: list[dict[str, Any]] = [item.source for item in info.timeline.events]
                came = _robot_joined_at(timeline, robot)
                for i, event in enumerate(timeline):
                    if i < came or (not history and not _robot_membership(event, robot)):
                        continue  # from before the robot came, or was registered
                    update = await self._update(served, room_id, room, event)
                    done += await self._receive(served, update)
        return done

    async def _update(
        self, served: Served, room_id: str, room: MatrixRoom | None, event: Mapping[str, Any]
    ) -> dict[str, Any]:
        sender = str(event.get("sender") or "")
        replied: dict[str, Any] | None = None
        reply_to = ((event.get("content") or {}).get("m.relates_to") or {}).get("m.in_reply_to")
        if isinstance(reply_to, Mapping) and reply_to.get("event_id"):
            with contextlib.suppress(ActionRefused, RetryLater):  # read as a plain message
                replied = await self.matrix.event(
                    served.as_channel, room_id, str(reply_to["event_id"])
                )
        return {
            "room_id": room_id,
            "event": dict(event),
            "room_name": (room.name or room.display_name) if room is not None else None,
            "sender_name": room.user_name(sender) if room is not None else None,
            "sender_level": room.power_levels.get_user_level(sender) if room is not None else 0,
            "replied_to": replied,
        }

    async def _receive(self, served: Served, update: Mapping[str, Any]) -> list[str]:
        try:
            return await self.receiver.receive(served, update)
        except NotAnUpdate as exc:
            log.warning("unreadable Matrix event skipped", extra={"detail": exc.detail})
            return []

    async def follow(
        self, served: Served, stop: asyncio.Event, current: Current, report: Report
    ) -> None:
        """Sync one robot until ``stop`` is set or the account is switched off."""
        account_id = served.account.id
        name = served.account.username or served.account.name
        backoff = 1.0
        report(name, "syncing")
        while not stop.is_set():
            round_ = asyncio.ensure_future(self.round(served))
            stopped = asyncio.ensure_future(stop.wait())
            await asyncio.wait({round_, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not round_.done():
                round_.cancel()  # stopped mid-wait: the token stays where it was
                with contextlib.suppress(asyncio.CancelledError):
                    await round_
                break
            stopped.cancel()
            try:
                done = round_.result()
            except RetryLater as exc:
                pause = exc.retry_after if exc.retry_after is not None else backoff
                backoff = min(backoff * 2, _MAX_BACKOFF)
                report(name, f"{exc.detail}; waiting {pause:g} s")
                await _sleep(pause, stop)
                continue
            except ActionRefused as exc:
                report(name, f"{exc.detail}; trying again in {_REFUSED_PAUSE:g} s")
                await _sleep(_REFUSED_PAUSE, stop)
                continue
            except Exception:
                log.exception("Matrix sync round not handled; reading it again")
                await _sleep(backoff, stop)
                backoff = min(backoff * 2, _MAX_BACKOFF)
                continue
            backoff = 1.0
            if done:
                report(name, f"{len(done)} event(s): {', '.join(done)}")
            fresh = await current(account_id)
            if fresh is None:
                report(name, "switched off; stopped")
                break
            served = fresh


def _stripped(event: Any) -> dict[str, Any]:
    """An invite's stripped state event as sent (nio keeps its content apart from ``source``)."""
    source = dict(getattr(event, "source", None) or {})
    content = source.get("content")
    if not isinstance(content, dict):
        content = getattr(event, "content", None)
        if not isinstance(content, dict):
            name = getattr(event, "name", None)
            content = {"name": name} if isinstance(name, str) else {}
        source["content"] = content
    return source


def _robot_joined_at(timeline: list[dict[str, Any]], robot: str) -> int:
    """Where the robot's own join is in a room's timeline (0 when it is not there): a room it
    just joined comes with some of its history, which is not the robot's to moderate."""
    for i in range(len(timeline) - 1, -1, -1):
        event = timeline[i]
        if (
            _robot_membership(event, robot)
            and (event.get("content") or {}).get("membership") == "join"
        ):
            before = ((event.get("unsigned") or {}).get("prev_content") or {}).get("membership")
            if before != "join":
                return i
    return 0


def _robot_membership(event: Mapping[str, Any], robot: str) -> bool:
    return event.get("type") == "m.room.member" and event.get("state_key") == robot


async def _sleep(seconds: float, stop: asyncio.Event) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
