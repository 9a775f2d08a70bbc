"""The robot's inbound pipeline, one event at a time, in the transaction that recorded it:

record once -> the group (a group the robot meets is ``pending``; nothing is moderated or sent
in a group staff have not confirmed) -> identity (the member behind the channel identity) ->
joins and leaves (a banned member is removed on sight) -> moderation (the group's policy, the
merchant's one ban list, strikes) -> durable actions, carried out by the worker after commit.

Every channel feeds the same pipeline: the Telegram webhook and the web community's post route
alike. What it decided is the event's ``outcome`` (for the log and the stats).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.communities import service as communities
from tribekit.communities.repository import Communities
from tribekit.kit import clock
from tribekit.models.communities import Community
from tribekit.models.enums import ActionKind, CommunityStatus
from tribekit.models.moderation import ModerationEntry, Strike
from tribekit.models.robot import ChatAdmins, RobotAccount, RobotEvent
from tribekit.tenancy.principal import Tenant

from . import actions, activity, bans, buttons, campaigns, captcha, inbound, policies, replies
from .channels import Button, EventKind, InboundEvent, MediaKind, OutboundAction
from .channels.registry import CAPABILITIES
from .commands import CommandContext, Commands, member_commands
from .identity import member_for
from .moderation import engine as moderation
from .moderation.fingerprint import fingerprint
from .moderation.policy import Action, Policy, is_exempt
from .moderation.policy import MediaKind as RuleMedia
from .moderation.strikes import escalate
from .recent import DatabaseRecentPosts, RecentPosts, Windows
from .standing import Standing
from .standing import read as read_standing
from .texts import say

#: The channel's media kind as the moderation rules name it.
_MEDIA: dict[MediaKind, RuleMedia | None] = {
    MediaKind.NONE: None,
    MediaKind.PHOTO: "photo",
    MediaKind.VIDEO: "video",
    MediaKind.DOCUMENT: "document",
    MediaKind.AUDIO: "audio",
    MediaKind.STICKER: "sticker",
    MediaKind.OTHER: "other",
}


def _can_buttons(channel: str) -> bool:
    found = CAPABILITIES.get(channel)  # the captcha is a button: the web community has none
    return found is not None and found.can_buttons


@dataclass(frozen=True)
class RobotContext:
    """What the pipeline needs beyond the event: the command registry, the memory of members'
    recent posts (Redis or the database, chosen at start: ``recent.build``), and what member
    links are signed with and served at (``/me`` sends one)."""

    commands: Commands = field(default_factory=member_commands)
    recent: RecentPosts = field(default_factory=DatabaseRecentPosts)
    secret_key: str | None = None
    public_url: str | None = None


DEFAULT_CONTEXT = RobotContext()


async def handle(
    session: AsyncSession,
    tenant: Tenant,
    account: RobotAccount,
    event: InboundEvent,
    community: Community | None = None,
    recorded: RobotEvent | None = None,
    context: RobotContext = DEFAULT_CONTEXT,
) -> str:
    """Handle one inbound event; what was done. ``recorded``: the event's row when the caller
    recorded it already; otherwise it is recorded here, and a redelivery does nothing."""
    if recorded is None:
        recorded = await inbound.record_once(session, account, event)
        if recorded is None:
            return "duplicate"
    # The event's row takes its group, member and outcome in one UPDATE at the end, not one
    # per change before each later statement: nothing in the pipeline reads the row back.
    with session.no_autoflush:
        outcome = await _handle(session, tenant, account, event, community, recorded, context)
        recorded.outcome = outcome[:64]
    await session.flush()
    return outcome


class Hook:
    """``handle`` with the context the app builds when it starts (its Redis is known only then):
    the web community's post hook."""

    def __init__(self, context: RobotContext = DEFAULT_CONTEXT) -> None:
        self.context = context

    async def __call__(
        self,
        session: AsyncSession,
        tenant: Tenant,
        account: RobotAccount,
        event: InboundEvent,
        community: Community | None,
        recorded: RobotEvent | None,
    ) -> str:
        return await handle(session, tenant, account, event, community, recorded, self.context)


async def _handle(
    session: AsyncSession,
    tenant: Tenant,
    account: RobotAccount,
    event: InboundEvent,
    community: Community | None,
    recorded: RobotEvent,
    context: RobotContext,
) -> str:
    groups = Communities(session, tenant.id)
    if community is None:
        community = await groups.by_chat(account.channel, event.chat_id)
    if community is None or event.kind == EventKind.ROBOT_ADDED:
        community = await communities.register_found_group(
            session,
            tenant,
            account.id,
            account.channel,
            event.chat_id,
            event.chat_title or event.chat_id,
        )
        if community.status == CommunityStatus.ARCHIVED:
            await _leave(session, tenant, account, community, recorded)
            return "left a refused group"
    recorded.community_id = community.id
    if community.status != CommunityStatus.ACTIVE:
        return f"group {community.status}"
    if event.kind == EventKind.ROBOT_REMOVED or event.person is None or event.person.is_bot:
        return "ignored"
    person = event.person
    standing = await read_standing(
        session, tenant, account.channel, person.external_id, community.id
    )
    member_id = standing.member_id or await member_for(
        session, tenant, account.channel, person, unknown=True
    )
    recorded.member_id = member_id
    if event.kind == EventKind.MEMBER_JOINED:
        return await _joined(
            session, tenant, account, community, event, member_id, standing, recorded
        )
    if event.kind == EventKind.MEMBER_LEFT:
        if await communities.member_left(session, tenant, community.id, member_id, at=event.at):
            await activity.count(session, tenant, community, "leaves", event.at)
            await captcha.forget(session, community.id, member_id)
        return "left"
    if event.kind == EventKind.BUTTON:
        ctx = _command_context(
            session, tenant, account, community, event, member_id, recorded, context
        )
        return await buttons.pressed(ctx, account, recorded)
    if event.kind in (EventKind.MESSAGE, EventKind.COMMAND):
        # Someone who posts is in the group, whether or not the platform told of their join.
        # (The group is the merchant's and the member was just found there: no checks again.)
        if await groups.join(community.id, member_id, source=None, at=event.at):
            await activity.count(session, tenant, community, "joins", event.at)
        membership = await activity.posted(session, tenant, community, member_id, event.at)
        if standing.ban_id is not None:
            await _remove_on_sight(
                session, tenant, account, community, event, standing.ban_id, recorded
            )
            return "banned member removed"
        policy, engine = await policies.effective(
            session, tenant, community.id, standing.policy_rows
        )
        if policy.captcha.enabled and standing.captcha_pending:
            if event.message_id:  # removed quietly until they press the button
                await actions.owe_in_group(
                    session,
                    tenant,
                    account,
                    community,
                    f"captcha-delete:{recorded.id}",
                    OutboundAction(
                        ActionKind.DELETE, actions.chat_of(community), message_id=event.message_id
                    ),
                )
            return "captcha pending: removed"
        moderated = await _moderate(
            session,
            tenant,
            account,
            community,
            event,
            member_id,
            standing.leads,
            recorded,
            context.recent,
            policy,
            engine,
            membership,
        )
        if moderated != "clean":
            return moderated
        return await _answer(
            session, tenant, account, community, event, member_id, standing.leads, recorded, context
        )
    return "ignored"


async def _answer(
    session: AsyncSession,
    tenant: Tenant,
    account: RobotAccount,
    community: Community,
    event: InboundEvent,
    member_id: uuid.UUID,
    leads: bool,
    recorded: RobotEvent,
    context: RobotContext,
) -> str:
    """A command's answer, a group buy joined by "+1", or a keyword auto-reply, as a reply to
    the member's message."""
    text: str | None = None
    outcome = "clean"
    kind = ActionKind.REPLY
    ctx = _command_context(session, tenant, account, community, event, member_id, recorded, context)
    if event.kind == EventKind.COMMAND and event.command:
        handler = context.commands.get(event.command)
        if handler is None:
            return f"unknown command: {event.command}"[:64]
        if event.command in context.commands.staff_only:
            kind = ActionKind.SEND  # the command message itself is removed
            if not leads and not await _is_admin(session, community, event):
                text = say("staff.refused", community.language, command=event.command)
                handler = None
        if handler is not None:
            text = await handler(ctx)
            outcome = f"command: {event.command}"
        else:
            outcome = f"refused: {event.command}"[:64]
    elif campaigns.is_plus_one(event.text, event.reply_to_message_id):  # joins a group buy
        announced = await campaigns.announced_group_buy(ctx, event.reply_to_message_id or "")
        if announced is not None:
            text, outcome = await campaigns.join_from_chat(ctx, announced), "group buy: +1"
    if text is None and outcome == "clean":
        text = await replies.answer(session, tenant, community.id, event.text)
        outcome = "auto-reply" if text else "clean"
    if text:
        await actions.owe_in_group(
            session,
            tenant,
            account,
            community,
            f"reply:{recorded.id}",
            OutboundAction(
                kind,
                actions.chat_of(community),
                text=text,
                message_id=event.message_id if kind == ActionKind.REPLY else None,
            ),
        )
    return outcome


def _command_context(
    session: AsyncSession,
    tenant: Tenant,
    account: RobotAccount,
    community: Community,
    event: InboundEvent,
    member_id: uuid.UUID,
    recorded: RobotEvent,
    context: RobotContext,
) -> CommandContext:
    return CommandContext(
        session,
        tenant,
        community,
        member_id,
        event,
        secret_key=context.secret_key,
        public_url=context.public_url,
        account_id=account.id,
        event_row_id=recorded.id,
        channel=account.channel,
    )


async def _is_admin(session: AsyncSession, community: Community, event: InboundEvent) -> bool:
    """One of the platform's group admins (with the group's leaders, its staff): as the channel
    says in the event, or as the worker last read them (``tasks.admins_sweep``)."""
    person = event.person
    if person is not None and person.is_admin:
        return True
    admins = await session.scalar(
        select(ChatAdmins.person_ids).where(ChatAdmins.community_id == community.id)
    )
    return person is not None and admins is not None and person.external_id in admins


async def _leave(
    session: AsyncSession,
    tenant: Tenant,
    account: RobotAccount,
    community: Community,
    recorded: RobotEvent,
) -> None:
    await actions.owe_in_group(
        session,
        tenant,
        account,
        community,
        f"leave:{community.id}:{recorded.id}",
        OutboundAction(ActionKind.LEAVE, actions.chat_of(community)),
    )


async def _joined(
    session: AsyncSession,
    tenant: Tenant,
    account: RobotAccount,
    community: Community,
    event: InboundEvent,
    member_id: uuid.UUID,
    standing: Standing,
    recorded: RobotEvent,
) -> str:
    if standing.ban_id is not None:
        await _remove_on_sight(
            session, tenant, account, community, event, standing.ban_id, recorded
        )
        return "banned member removed"
    joined = await Communities(session, tenant.id).join(
        community.id, member_id, source=account.channel[:64], at=event.at
    )
    if joined:
        await activity.count(session, tenant, community, "joins", event.at)
    person = event.person
    assert person is not None
    policy, _ = await policies.effective(session, tenant, community.id, standing.policy_rows)
    asked = (
        policy.captcha.enabled
        and _can_buttons(account.channel)  # the captcha is a button
        and not person.is_admin
        and await captcha.challenge(
            session,
            tenant,
            community_id=community.id,
            member_id=member_id,
            robot_account_id=account.id,
            person_id=person.external_id,
            minutes=policy.captcha.minutes,
        )
    )
    # One welcome per join (a platform may report a join twice), with the captcha when on.
    if not (joined or asked) or not (community.welcome_text or asked):
        return "joined"
    parts = []
    if community.welcome_text:
        parts.append(community.welcome_text.replace("{name}", person.display_name))
        if community.rules_text:
            parts.append(community.rules_text)
    buttons: tuple[tuple[Button, ...], ...] = ()
    if asked:
        language, minutes = community.language, policy.captcha.minutes
        parts.append(say("captcha.prompt", language, name=person.display_name, minutes=minutes))
        buttons = ((Button(say("captcha.button", language), data=captcha.button_data(member_id)),),)
    await actions.owe_in_group(
        session,
        tenant,
        account,
        community,
        f"welcome:{recorded.id}",
        OutboundAction(
            ActionKind.SEND, actions.chat_of(community), text="\n\n".join(parts), buttons=buttons
        ),
    )
    return "joined: captcha" if asked else "joined"


async def _remove_on_sight(
    session: AsyncSession,
    tenant: Tenant,
    account: RobotAccount,
    community: Community,
    event: InboundEvent,
    ban_id: uuid.UUID,
    recorded: RobotEvent,
) -> None:
    person = event.person
    assert person is not None
    chat = actions.chat_of(community)
    if event.message_id and event.kind != EventKind.MEMBER_JOINED:
        await actions.owe_in_group(
            session,
            tenant,
            account,
            community,
            f"delete:{recorded.id}",
            OutboundAction(ActionKind.DELETE, chat, message_id=event.message_id),
        )
    await actions.owe_in_group(
        session,
        tenant,
        account,
        community,
        f"ban:{ban_id}:{community.id}:seen:{recorded.id}",
        OutboundAction(ActionKind.BAN, chat, person_id=person.external_id),
    )


async def _moderate(
    session: AsyncSession,
    tenant: Tenant,
    account: RobotAccount,
    community: Community,
    event: InboundEvent,
    member_id: uuid.UUID,
    leads: bool,
    recorded: RobotEvent,
    recent_posts: RecentPosts,
    policy: Policy,
    engine: moderation.Engine,
    membership: activity.Membership | None,
) -> str:
    person = event.person
    assert person is not None
    if is_exempt(policy.exemptions, admin=person.is_admin, leader=leads, member_id=member_id):
        return "clean"
    now = clock.now()
    recent = moderation.NOTHING_RECENT
    windows = Windows(
        flood=timedelta(seconds=policy.flood.per_seconds) if policy.flood.enabled else None,
        duplicates=(
            timedelta(minutes=policy.duplicates.within_minutes)
            if policy.duplicates.enabled
            else None
        ),
    )
    if windows.flood or windows.duplicates:
        # The text's fingerprint only where the duplicate rule can read it.
        sketch = fingerprint(event.text) if windows.duplicates and event.text else ()
        recent = await recent_posts.remember(
            session, recorded, moderation.RecentPost(str(community.id), event.at, sketch), windows
        )
    verdict = engine.check(
        moderation.Message(
            text=event.text,
            group_id=str(community.id),
            at=event.at,
            urls=event.links,
            mentions=event.mentions,
            forwarded_from_channel=event.forwarded_from_channel,
            media=_MEDIA[event.media],
            # A member first seen posting (no join event: they were in the group before the
            # robot) has been a member for an unknown time: no probation for them.
            member_for=(
                now - membership.joined_at if membership and membership.join_source else None
            ),
            # This message is counted already (``activity.posted``).
            messages_before=max(membership.messages - 1, 0) if membership else None,
        ),
        recent,
    )
    if verdict is None:
        return "clean"
    chat = actions.chat_of(community)
    entry = ModerationEntry(
        merchant_id=tenant.id,
        community_id=community.id,
        member_id=member_id,
        event_id=recorded.id,
        message_id=event.message_id,
        rule=verdict.rule.value,
        action=verdict.action.value,
        excerpt=verdict.excerpt[:200],
        actor="robot",
        at=now,
    )
    session.add(entry)
    await session.flush()
    await activity.count(session, tenant, community, "moderation_actions", now)
    action, mute_for = verdict.action, verdict.mute_for
    if verdict.strike:
        past = (
            await session.scalars(
                select(Strike.at).where(
                    Strike.merchant_id == tenant.id,
                    Strike.member_id == member_id,
                    Strike.at > now - timedelta(days=policy.strikes.window_days),
                )
            )
        ).all()
        reached = escalate(action, mute_for, list(past), now, policy.strikes)
        action, mute_for = reached.action, reached.mute_for
        session.add(
            Strike(
                merchant_id=tenant.id,
                member_id=member_id,
                community_id=community.id,
                rule=verdict.rule.value,
                entry_id=entry.id,
                at=now,
            )
        )
    entry.action = action.value

    async def owe(step: str, outbound: OutboundAction) -> None:
        await actions.owe_in_group(
            session, tenant, account, community, f"mod:{recorded.id}:{step}", outbound
        )

    if verdict.delete_message and event.message_id:
        await owe("delete", OutboundAction(ActionKind.DELETE, chat, message_id=event.message_id))
    language, name = community.language, person.display_name
    if action == Action.ban:
        await bans.ban(
            session,
            tenant,
            member_id,
            reason=f"{verdict.rule.value}: {verdict.excerpt}"[:300],
            actor="robot",
            rule=verdict.rule.value,
            community_id=community.id,
            logged=True,  # the entry above is the ban's
        )
        await owe(
            "say",
            OutboundAction(
                ActionKind.SEND, chat, text=say("moderation.banned", language, name=name)
            ),
        )
        return f"banned: {verdict.rule.value}"
    if action == Action.delete:
        return f"deleted: {verdict.rule.value}"
    warning = say(verdict.explanation, language, name=name)
    if action == Action.mute and mute_for is not None:
        minutes = int(mute_for.total_seconds() // 60)
        await owe(
            "mute",
            OutboundAction(
                ActionKind.RESTRICT, chat, person_id=person.external_id, until=now + mute_for
            ),
        )
        warning = f"{warning} {say('moderation.muted', language, name=name, minutes=minutes)}"
    elif action == Action.kick:
        await owe("kick", OutboundAction(ActionKind.KICK, chat, person_id=person.external_id))
    await owe("warn", OutboundAction(ActionKind.SEND, chat, text=warning))
    return f"{action.value}: {verdict.rule.value}"
