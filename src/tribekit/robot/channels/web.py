"""The built-in web community as a chat channel (``web``): Tribekit's own group chat.

There is no platform to call: the robot's actions are rows in this database. ``perform`` runs
each action in its own short unit of work (the worker calls it after its claim committed, as
for any channel): a send or reply posts a robot-authored message, a delete marks a message
removed, and a ban, kick or mute changes the web community's own state of that member
(``WebMemberState``), which the group page reads (a banned member's page says so and has no
post form). The live stream picks every change up from the group's counter.

``parse`` reads what the post route hands it (``WebPost.as_update``): the member's id is the
person's external id on this channel, so an action's ``person_id`` is a member id.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections import defaultdict
from collections.abc import Iterator, Mapping
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock, outbox
from tribekit.kit.db import Database
from tribekit.models.communities import Community
from tribekit.models.enums import Channel
from tribekit.models.robot import RobotAccount as AccountRow
from tribekit.models.web import AuthorKind, WebCounter, WebMemberState, WebMessage

from .base import (
    ActionKind,
    ActionRefused,
    Capabilities,
    EventKind,
    InboundEvent,
    OutboundAction,
    Performed,
    Person,
    RobotAccount,
)

#: The longest message a web post or a robot message may carry (characters).
MAX_TEXT = 2000
#: A link in a post: what a member's browser would open. The moderation engine looks at the
#: text itself too; this is what the event names as links.
URL = re.compile(r"(?:https?://|www\.)[^\s<>\"']+", re.IGNORECASE)
_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@\S+)?(?:\s+(.*))?$", re.DOTALL)

CAPABILITIES = Capabilities(
    can_delete=True,
    can_ban=True,
    can_restrict=True,
    can_pin=False,
    can_buttons=False,
    # Our own database: no platform limits a send.
    per_group_per_minute=None,
    per_bot_per_second=None,
    monthly_mass_messages=None,
    max_text=MAX_TEXT,
)


class GroupChanges:
    """This process's live readers of each web group, woken once a change of the group commits
    so that they look at once instead of at their next poll. Best effort: a change committed in
    another process is found by polling."""

    def __init__(self) -> None:
        self._readers: defaultdict[uuid.UUID, set[asyncio.Event]] = defaultdict(set)

    def changed(self, community_id: uuid.UUID) -> None:
        for reader in self._readers.get(community_id, ()):
            reader.set()

    @contextlib.contextmanager
    def reading(self, community_id: uuid.UUID) -> Iterator[asyncio.Event]:
        """An event set on each change of the group while the block runs."""
        reader = asyncio.Event()
        self._readers[community_id].add(reader)
        try:
            yield reader
        finally:
            readers = self._readers[community_id]
            readers.discard(reader)
            if not readers:
                del self._readers[community_id]


CHANGES = GroupChanges()


async def next_number(
    session: AsyncSession, merchant_id: uuid.UUID, community_id: uuid.UUID
) -> int:
    """The group's next change number. The counter row stays locked until commit, so numbers
    become visible in the order they were taken (the live stream's cursor relies on it); the
    group's readers in this process are woken after the commit."""
    values = {"merchant_id": merchant_id, "community_id": community_id, "last": 0}
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(insert(WebCounter).values(**values).on_conflict_do_nothing())
    number = await session.scalar(
        update(WebCounter)
        .where(WebCounter.community_id == community_id, WebCounter.merchant_id == merchant_id)
        .values(last=WebCounter.last + 1)
        .returning(WebCounter.last)
    )
    assert number is not None

    async def wake() -> None:
        CHANGES.changed(community_id)

    outbox.on_commit(session, wake)
    return int(number)


async def add_message(
    session: AsyncSession,
    *,
    merchant_id: uuid.UUID,
    community_id: uuid.UUID,
    author_kind: AuthorKind,
    author_name: str,
    text: str,
    member_id: uuid.UUID | None = None,
    staff_user_id: uuid.UUID | None = None,
    reply_to_id: uuid.UUID | None = None,
) -> WebMessage:
    """Post one message (checked by the caller); it takes the group's next number."""
    number = await next_number(session, merchant_id, community_id)
    message = WebMessage(
        merchant_id=merchant_id,
        community_id=community_id,
        seq=number,
        rev=number,
        author_kind=author_kind,
        member_id=member_id,
        staff_user_id=staff_user_id,
        author_name=author_name[:200],
        text=text,
        reply_to_id=reply_to_id,
        created_at=clock.now(),
    )
    session.add(message)
    await session.flush()
    return message


async def remove_message(
    session: AsyncSession,
    merchant_id: uuid.UUID,
    community_id: uuid.UUID,
    message_id: uuid.UUID,
    *,
    by: str,
) -> bool | None:
    """Mark a message removed: True if it was shown, False if it was removed already, None if
    there is no such message in the group."""
    message = await session.scalar(
        select(WebMessage).where(
            WebMessage.merchant_id == merchant_id,
            WebMessage.community_id == community_id,
            WebMessage.id == message_id,
        )
    )
    if message is None:
        return None
    if message.deleted_at is not None:
        return False
    message.rev = await next_number(session, merchant_id, community_id)
    message.deleted_at, message.deleted_by = clock.now(), by[:100]
    await session.flush()
    return True


def _uuid(value: str | None, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise ActionRefused(f"{what} {value!r} is not a web {what}") from exc


async def _group(session: AsyncSession, merchant_id: uuid.UUID, chat_id: str) -> uuid.UUID:
    """The merchant's web community a chat id names: its external id, or its own id."""
    by_id: uuid.UUID | None = None
    with contextlib.suppress(ValueError):
        by_id = uuid.UUID(chat_id)
    named = Community.external_id == chat_id
    found = await session.scalar(
        select(Community.id).where(
            Community.merchant_id == merchant_id,
            Community.channel == Channel.WEB,
            or_(named, Community.id == by_id) if by_id is not None else named,
        )
    )
    if found is None:
        raise ActionRefused(f"no web community {chat_id!r} at this merchant")
    return found


def _with_image(action: OutboundAction) -> str:
    """A send's text, with its image: a web message keeps text alone, so the picture's URL
    comes first, on a line of its own, and the page shows it as a link."""
    if not action.image_url:
        return action.text[:MAX_TEXT]
    text = f"{action.image_url}\n{action.text}" if action.text else action.image_url
    return text[:MAX_TEXT]


class WebChannel:
    name = "web"
    capabilities = CAPABILITIES

    def __init__(self, db: Database) -> None:
        self._db = db

    def parse(self, account: RobotAccount, update: Mapping[str, Any]) -> list[InboundEvent]:
        """One web post (``WebPost.as_update``) as a message or command event."""
        text: str = update["text"]
        kind, command, args = EventKind.MESSAGE, None, ""
        found = _COMMAND.match(text.strip())
        if found:
            kind, command, args = EventKind.COMMAND, found.group(1).lower(), found.group(2) or ""
        at = update["at"]
        return [
            InboundEvent(
                event_id=f"web:{update['message_id']}",
                kind=kind,
                chat_id=str(update["community_id"]),
                chat_title=update.get("community_name"),
                person=Person(
                    external_id=str(update["member_id"]),
                    display_name=update["display_name"],
                    is_admin=bool(update.get("is_admin", False)),
                ),
                at=at if isinstance(at, datetime) else datetime.fromisoformat(at),
                message_id=str(update["message_id"]),
                text=text,
                links=tuple(URL.findall(text)),
                reply_to_message_id=update.get("reply_to_message_id"),
                command=command,
                command_args=args.strip(),
            )
        ]

    async def perform(self, account: RobotAccount, action: OutboundAction) -> Performed:
        return await self._db.run(partial(self._perform, account=account, action=action))

    async def _perform(
        self, session: AsyncSession, *, account: RobotAccount, action: OutboundAction
    ) -> Performed:
        robot = await session.get(AccountRow, uuid.UUID(account.id))
        if robot is None:
            raise ActionRefused("the web robot account is gone")
        merchant_id = robot.merchant_id
        community_id = await _group(session, merchant_id, action.chat_id)
        kind = action.kind
        if kind in (ActionKind.SEND, ActionKind.REPLY):
            reply_to = None
            if kind == ActionKind.REPLY and action.message_id:
                reply_to = _uuid(action.message_id, "message")
            message = await add_message(
                session,
                merchant_id=merchant_id,
                community_id=community_id,
                author_kind=AuthorKind.ROBOT,
                author_name=robot.name,
                text=_with_image(action),
                reply_to_id=reply_to,
            )
            return Performed(message_id=str(message.id))
        if kind == ActionKind.DELETE:
            removed = await remove_message(
                session,
                merchant_id,
                community_id,
                _uuid(action.message_id, "message"),
                by=f"robot:{robot.id}",
            )
            if removed is None:
                raise ActionRefused(f"no message {action.message_id} in this web community")
            return Performed(message_id=action.message_id)
        if kind in _STATE_CHANGES:
            member_id = _uuid(action.person_id, "member")
            await _change_state(session, merchant_id, community_id, member_id, action)
            return Performed()
        if kind == ActionKind.LEAVE:
            return Performed()  # the web robot is part of the group; nothing to leave
        raise ActionRefused(f"the web channel cannot {kind.value}")

    async def aclose(self) -> None:
        """Nothing to release: the database is closed by its owner."""


_STATE_CHANGES = frozenset(
    {
        ActionKind.BAN,
        ActionKind.KICK,
        ActionKind.RESTRICT,
        ActionKind.UNBAN,
        ActionKind.UNRESTRICT,
    }
)


async def _change_state(
    session: AsyncSession,
    merchant_id: uuid.UUID,
    community_id: uuid.UUID,
    member_id: uuid.UUID,
    action: OutboundAction,
) -> None:
    """Apply a ban, kick, mute or their undoing to the member's state in this web community.
    Each leaves the state as once however often it runs (the worker may repeat it)."""
    key = {"merchant_id": merchant_id, "community_id": community_id, "member_id": member_id}
    now = clock.now()
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(
        insert(WebMemberState).values(**key, updated_at=now).on_conflict_do_nothing()
    )
    changes: dict[str, Any]
    match action.kind:
        case ActionKind.BAN:
            changes = {"banned_at": now, "banned_until": action.until}
        case ActionKind.KICK:
            changes = {"removed_at": now}
        case ActionKind.RESTRICT:
            changes = {"muted_at": now, "muted_until": action.until}
        case ActionKind.UNBAN:
            changes = {"banned_at": None, "banned_until": None, "removed_at": None}
        case _:  # UNRESTRICT
            changes = {"muted_at": None, "muted_until": None}
    await session.execute(
        update(WebMemberState)
        .where(*(getattr(WebMemberState, name) == value for name, value in key.items()))
        .values(**changes, updated_at=now)
    )
