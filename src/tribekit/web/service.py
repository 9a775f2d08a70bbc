"""The web community's rules: who may read, post and moderate a group, posting (handed to the
robot's pipeline in the same transaction), and the moderation controls (durable robot actions,
carried out by the worker on the web channel).

A group is a community on the ``web`` channel that staff confirmed (``active``); any other
community, or another merchant's, is answered as missing. A member reads and posts unless
the web community banned or removed them, or the merchant's ban list holds a ban of them; a
muted member reads but does not post. Staff with ``communities:write`` and the group's
leaders (staff or members) moderate.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock
from tribekit.kit.db import add_unique
from tribekit.kit.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from tribekit.members.repository import Members
from tribekit.models.communities import Community
from tribekit.models.enums import Channel, CommunityStatus
from tribekit.models.members import MemberIdentity
from tribekit.models.robot import RobotAccount, RobotEvent
from tribekit.models.web import AuthorKind, WebMemberState, WebMessage
from tribekit.robot import accounts, actions, bans
from tribekit.robot.channels import ActionKind, InboundEvent, OutboundAction
from tribekit.robot.channels import RobotAccount as Account
from tribekit.robot.channels.web import MAX_TEXT, WebChannel, add_message
from tribekit.robot.inbound import record_once
from tribekit.tenancy.permissions import Permission
from tribekit.tenancy.principal import Principal, Tenant

from . import repository as repo
from .repository import WebMessages

PAGE_SIZE = 50


class PostHook(Protocol):
    """Where the robot's pipeline plugs in (``tribekit.robot.pipeline.handle`` has this shape):
    called for each member's post, in the posting transaction, with the event's row once it was
    recorded. Its writes (a strike, a durable delete or reply) commit with the post, or not at
    all; what it returns (the outcome) is not used here."""

    async def __call__(
        self,
        session: AsyncSession,
        tenant: Tenant,
        account: RobotAccount,
        event: InboundEvent,
        community: Community | None,
        recorded: RobotEvent | None,
    ) -> object: ...


class NotInGroup(PermissionDenied):
    code = "web_not_allowed"
    title = "You may not post in this group"


@dataclass(frozen=True)
class Standing:
    """What a member may do in one group now, and why not."""

    banned: bool = False
    banned_until: datetime | None = None
    removed: bool = False
    muted: bool = False
    muted_until: datetime | None = None

    @property
    def reads(self) -> bool:
        return not (self.banned or self.removed)

    @property
    def posts(self) -> bool:
        return self.reads and not self.muted


@dataclass(frozen=True)
class Viewer:
    """Who opened the group: a member (``member_id``) or staff (``staff``)."""

    tenant: Tenant
    member_id: uuid.UUID | None
    staff: Principal | None
    name: str
    moderates: bool
    standing: Standing

    @property
    def actor(self) -> str:
        if self.staff is not None:
            return self.staff.actor
        return f"member:{self.member_id}"


async def group(session: AsyncSession, tenant: Tenant, community_id: uuid.UUID) -> Community:
    """The merchant's active web community, or 404 as for a missing one."""
    community = await session.get(Community, community_id)
    if (
        community is None
        or community.merchant_id != tenant.id
        or community.channel != Channel.WEB
        or community.status != CommunityStatus.ACTIVE
    ):
        raise NotFound(f"no web community with id {community_id} at this merchant")
    return community


def _standing(
    state: WebMemberState | None, merchant_ban: bool, merchant_until: datetime | None = None
) -> Standing:
    """``merchant_ban``: the ban list holds a ban of the member now, ending at
    ``merchant_until`` (None: until lifted)."""
    now = clock.now()
    if state is None:
        return Standing(banned=merchant_ban, banned_until=merchant_until if merchant_ban else None)
    banned = merchant_ban or (
        state.banned_at is not None and (state.banned_until is None or state.banned_until > now)
    )
    muted = state.muted_at is not None and (state.muted_until is None or state.muted_until > now)
    return Standing(
        banned=banned,
        banned_until=merchant_until if merchant_ban else state.banned_until,
        removed=state.removed_at is not None,
        muted=muted,
        muted_until=state.muted_until if muted else None,
    )


async def standing_of(
    session: AsyncSession, tenant: Tenant, community_id: uuid.UUID, member_id: uuid.UUID
) -> Standing:
    """What the member may do in the group now: the web community's own ban, mute or removal
    of them (the robot's actions there) and the merchant's one ban list."""
    state = await repo.member_state(session, tenant.id, community_id, member_id)
    ban = await bans.in_force(session, tenant, member_id)
    return _standing(state, ban is not None, ban.until if ban is not None else None)


async def member_viewer(
    session: AsyncSession, tenant: Tenant, community: Community, member_id: uuid.UUID
) -> Viewer:
    member = await Members(session, tenant.id).get_current(member_id)
    if member is None:
        raise NotFound(f"no web community with id {community.id} at this merchant")
    standing_now = await standing_of(session, tenant, community.id, member_id)
    moderates = await repo.leads(session, tenant.id, community.id, member_id=member_id)
    return Viewer(tenant, member_id, None, member.display_name, moderates, standing_now)


async def staff_viewer(session: AsyncSession, principal: Principal, community: Community) -> Viewer:
    """Staff of the community's merchant who may read communities, or who lead this one."""
    tenant = principal.require_tenant()
    leader = await repo.leads(session, tenant.id, community.id, staff_user_id=principal.user_id)
    if not (leader or principal.can(Permission.COMMUNITIES_READ)):
        raise NotFound(f"no web community with id {community.id} at this merchant")
    moderates = leader or principal.can(Permission.COMMUNITIES_WRITE)
    return Viewer(tenant, None, principal, principal.email, moderates, Standing())


async def came_back(
    session: AsyncSession, tenant: Tenant, community: Community, member_id: uuid.UUID
) -> None:
    """The member opened a new link: a removal (a kick) is over; a ban is not."""
    await repo.clear_removal(session, tenant.id, community.id, member_id)


async def history(
    session: AsyncSession, tenant: Tenant, community: Community, *, before_seq: int | None
) -> tuple[Sequence[WebMessage], int | None]:
    """A page of the group's messages (oldest first) and the ``before`` of the page older
    than it (None when there is none)."""
    rows = await WebMessages(session, tenant.id).before(community.id, before_seq, PAGE_SIZE + 1)
    older = None
    if len(rows) > PAGE_SIZE:
        rows = rows[1:]
        older = rows[0].seq
    return rows, older


async def last_change(session: AsyncSession, tenant: Tenant, community: Community) -> int:
    return await WebMessages(session, tenant.id).last_change(community.id)


async def changes(
    session: AsyncSession, tenant: Tenant, community_id: uuid.UUID, after: int
) -> Sequence[WebMessage]:
    return await WebMessages(session, tenant.id).changed_after(community_id, after, 100)


def check_text(text: str) -> str:
    """The post's text as it will be stored: not blank, at most ``MAX_TEXT`` characters."""
    text = text.replace("\r\n", "\n").strip()
    if not text:
        raise ValidationFailed("write a message before sending")
    if len(text) > MAX_TEXT:
        raise ValidationFailed(
            f"a message holds at most {MAX_TEXT} characters; this has {len(text)}"
        )
    if "\x00" in text:
        raise ValidationFailed("a message cannot hold a NUL character")
    return text


def check_may_read(viewer: Viewer) -> None:
    if viewer.standing.banned:
        raise NotInGroup("you are banned from this group")
    if viewer.standing.removed:
        raise NotInGroup("you were removed from this group; open a new link from the shop")


def check_may_post(viewer: Viewer) -> None:
    standing = viewer.standing
    if viewer.member_id is None:
        raise NotInGroup("staff moderate the web community; members post in it")
    if standing.banned:
        raise NotInGroup("you are banned from this group and cannot post")
    if standing.removed:
        raise NotInGroup("you were removed from this group; open a new link from the shop")
    if standing.muted:
        until = standing.muted_until
        when = f" until {until.isoformat(timespec='minutes')}" if until else ""
        raise NotInGroup(f"you are muted in this group{when} and cannot post")


async def _web_identity(session: AsyncSession, tenant: Tenant, member_id: uuid.UUID) -> None:
    """The member's identity on the web channel (their member id), so the pipeline's identity
    step finds them rather than making a new member."""
    if await repo.has_identity(session, tenant.id, member_id, Channel.WEB.value):
        return
    row = MemberIdentity(
        merchant_id=tenant.id, member_id=member_id, channel=Channel.WEB, external_id=str(member_id)
    )
    with contextlib.suppress(Conflict):  # made by their other post at the same moment
        await add_unique(session, "the web identity exists already", row)


@dataclass(frozen=True)
class Posted:
    message: WebMessage
    event: InboundEvent | None  # None: the event was recorded before (cannot happen for a new id)


async def post(
    session: AsyncSession,
    viewer: Viewer,
    community: Community,
    text: str,
    *,
    channel: WebChannel,
    on_post: PostHook | None,
    reply_to: uuid.UUID | None = None,
) -> Posted:
    """Store a member's post and hand it to the robot's pipeline, in one transaction."""
    text = check_text(text)
    check_may_post(viewer)
    assert viewer.member_id is not None
    tenant = viewer.tenant
    if (
        reply_to is not None
        and await WebMessages(session, tenant.id).in_group(community.id, reply_to) is None
    ):
        raise ValidationFailed(f"no message {reply_to} in this group to reply to")
    message = await add_message(
        session,
        merchant_id=tenant.id,
        community_id=community.id,
        author_kind=AuthorKind.MEMBER,
        author_name=viewer.name,
        text=text,
        member_id=viewer.member_id,
        reply_to_id=reply_to,
    )
    robot = await accounts.adopt_web_group(session, tenant, community)
    await _web_identity(session, tenant, viewer.member_id)
    account = Account(str(robot.id), Channel.WEB.value, "", robot.username)
    update = {
        "message_id": str(message.id),
        "community_id": community.external_id,
        "community_name": community.name,
        "member_id": str(viewer.member_id),
        "display_name": viewer.name,
        "text": text,
        "at": message.created_at,
        "reply_to_message_id": str(reply_to) if reply_to else None,
        "is_admin": viewer.moderates,
    }
    (event,) = channel.parse(account, update)
    recorded = await record_once(
        session, robot, event, community_id=community.id, member_id=viewer.member_id, keep_text=True
    )
    if recorded is None:
        return Posted(message, None)
    if on_post is not None:
        await on_post(session, tenant, robot, event, community, recorded)
    return Posted(message, event)


def chat_id(community: Community) -> str:
    """The group's chat id on the web channel: its external id, else its own id."""
    return community.external_id or str(community.id)


def check_moderates(viewer: Viewer) -> None:
    if not viewer.moderates:
        raise PermissionDenied("only the merchant's staff and the group's leaders moderate it")


async def owe_delete(
    session: AsyncSession, viewer: Viewer, community: Community, message_id: uuid.UUID
) -> WebMessage:
    """Owe the removal of a message (decision ``web-delete:<message id>``: once however often
    it is asked)."""
    check_moderates(viewer)
    message = await WebMessages(session, viewer.tenant.id).in_group(community.id, message_id)
    if message is None:
        raise NotFound(f"no message {message_id} in this group")
    robot = await accounts.web_robot_of(session, viewer.tenant, community)
    await actions.owe(
        session,
        viewer.tenant,
        robot_account_id=robot.id,
        community_id=community.id,
        decision=f"web-delete:{message.id}",
        action=OutboundAction(ActionKind.DELETE, chat_id(community), message_id=str(message.id)),
    )
    return message


async def owe_ban_author(
    session: AsyncSession, viewer: Viewer, community: Community, message_id: uuid.UUID
) -> WebMessage:
    """Owe a ban of the message's author from this group, and the message's removal
    (decisions ``web-ban:<message id>`` and ``web-delete:<message id>``)."""
    message = await owe_delete(session, viewer, community, message_id)
    if message.member_id is None:
        raise ValidationFailed("only a member's message has an author to ban")
    robot = await accounts.web_robot_of(session, viewer.tenant, community)
    await actions.owe(
        session,
        viewer.tenant,
        robot_account_id=robot.id,
        community_id=community.id,
        decision=f"web-ban:{message.id}",
        action=OutboundAction(ActionKind.BAN, chat_id(community), person_id=str(message.member_id)),
    )
    return message
