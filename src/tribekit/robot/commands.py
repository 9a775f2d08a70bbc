"""Chat commands: a typed handler per command name in an explicit registry (later issues add
``/sales`` and ``/ref`` the same way), and ``/start`` payload kinds in a registry of their own
(deep links: ``t.me/<robot>?start=<kind>-<value>``).

A handler answers with the text the robot replies; the pipeline owes the reply as a durable
action (once per inbound event, which is recorded once), so a redelivered command is not
answered twice. Texts follow the group's language.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock
from tribekit.kit.money import Money
from tribekit.members import access
from tribekit.members.repository import Members
from tribekit.membership import service as membership
from tribekit.models.communities import Community, CommunityLeader
from tribekit.models.enums import ActionKind
from tribekit.models.members import MemberIdentity
from tribekit.models.moderation import ModerationEntry, Strike
from tribekit.models.orders import Order
from tribekit.models.web import WebMessage
from tribekit.tenancy.principal import Tenant

from . import actions, activity, bans, policies
from .broadcasts import audience as broadcast_audience
from .broadcasts import service as broadcast_service
from .broadcasts.content import Content
from .broadcasts.service import BroadcastSpec
from .broadcasts.states import Audience
from .campaigns import sales
from .channels import InboundEvent, OutboundAction
from .identity import member_for
from .moderation.policy import Action
from .moderation.strikes import escalate
from .texts import LANGUAGES, say


@dataclass(frozen=True)
class CommandContext:
    session: AsyncSession
    tenant: Tenant
    community: Community
    member_id: uuid.UUID
    event: InboundEvent
    #: Signs member links (``/me`` sends one); None where no link can be made.
    secret_key: str | None = None
    #: Where member pages are served, e.g. "https://shop.example"; links need it.
    public_url: str | None = None
    #: The robot account the event came to, and the event's recorded row: staff commands owe
    #: actions in the group, named after the event.
    account_id: uuid.UUID | None = None
    event_row_id: uuid.UUID | None = None
    channel: str = ""

    @property
    def language(self) -> str:
        return self.community.language


Handler = Callable[[CommandContext], Awaitable[str]]


@dataclass
class Commands:
    """Handlers by command name; ``help`` lists what each does (``summary``: the key of its
    line in the robot's texts, ``texts.TEXTS``)."""

    handlers: dict[str, Handler] = field(default_factory=dict)
    summaries: dict[str, str] = field(default_factory=dict)
    #: Commands only the group's staff may use; the pipeline refuses them to anyone else.
    staff_only: set[str] = field(default_factory=set)

    def on(self, name: str, handler: Handler, summary: str, *, staff: bool = False) -> Commands:
        self.handlers[name] = handler
        self.summaries[name] = summary
        if staff:
            self.staff_only.add(name)
        return self

    def get(self, name: str) -> Handler | None:
        return self.handlers.get(name)


StartHandler = Callable[[CommandContext, str], Awaitable[str]]


@dataclass
class StartPayloads:
    """``/start <kind>-<value>`` handlers by kind (join sources, referral codes: later issues)."""

    kinds: dict[str, StartHandler] = field(default_factory=dict)

    def on(self, kind: str, handler: StartHandler) -> StartPayloads:
        self.kinds[kind] = handler
        return self


async def rules(ctx: CommandContext) -> str:
    if ctx.community.rules_text:
        return ctx.community.rules_text
    return say("command.rules.none", ctx.language)


async def me(ctx: CommandContext) -> str:
    standing = await membership.member_level(ctx.session, ctx.tenant, ctx.member_id)
    balance, _ = await membership.points_balance(ctx.session, ctx.tenant, ctx.member_id)
    level = standing.level.name if standing.level else say("command.me.no_level", ctx.language)
    text = say("command.me", ctx.language, level=level, points=f"{balance:,}")
    if ctx.secret_key and ctx.public_url:
        token, _ = access.issue_link(ctx.secret_key, ctx.tenant, ctx.member_id)
        card = f"{ctx.public_url.rstrip('/')}/me?t={token}"
        text += "\n" + say("command.me.card", ctx.language, url=card)
    return text


async def orders(ctx: CommandContext) -> str:
    latest = (
        await ctx.session.scalars(
            select(Order)
            .where(Order.merchant_id == ctx.tenant.id, Order.member_id == ctx.member_id)
            .order_by(Order.placed_at.desc())
            .limit(3)
        )
    ).all()
    if not latest:
        return say("command.orders.none", ctx.language)
    lines = [f"{o.number}: {Money(o.total, o.currency)} ({o.status})" for o in latest]
    return say("command.orders.latest", ctx.language) + "\n" + "\n".join(lines)


async def stop(ctx: CommandContext) -> str:
    """No more marketing messages, at once."""
    members = Members(ctx.session, ctx.tenant.id)
    member = await members.get_current(ctx.member_id, for_update=True)
    if member is not None and member.marketing_consent:
        member.marketing_consent = False
        member.consent_at = clock.now()
        member.consent_source = f"robot:{ctx.event.chat_id}"
        members.record(
            member.id, "consent_withdrawn", "robot", consent_source=member.consent_source
        )
        await ctx.session.flush()
    return say("command.stop", ctx.language)


def help_for(commands: Commands) -> Handler:
    async def help_(ctx: CommandContext) -> str:
        return "\n".join(
            f"/{name} — {say(key, ctx.language)}" for name, key in commands.summaries.items()
        )

    return help_


def start_for(payloads: StartPayloads) -> Handler:
    async def start(ctx: CommandContext) -> str:
        kind, _, value = ctx.event.command_args.partition("-")
        handler = payloads.kinds.get(kind)
        if handler is not None:
            return await handler(ctx, value)
        return say("command.start", ctx.language)

    return start


# -- staff commands in groups: /warn, /mute 1h, /ban, /unban -----------------------------------
#
# Each replies to the offender's message (or names them: "/ban @username" where the channel has
# usernames). The pipeline lets only the group's staff reach these handlers. Each writes a
# moderation log entry with the staff member as the actor, counts a strike where the policy
# says (a warn or a mute escalates like the robot's), and owes durable actions: the command
# message is deleted, a mute restricts in this group, a ban or an unban goes everywhere
# (``bans.py``).

_DURATION = re.compile(r"^(\d{1,6})\s*([mhd])$")
_UNITS = {"m": 1, "h": 60, "d": 24 * 60}
_MAX_MUTE_MINUTES = 525_600  # a year, the policy's own bound


@dataclass(frozen=True)
class _Target:
    member_id: uuid.UUID
    external_id: str
    name: str


async def _target(ctx: CommandContext) -> _Target | str:
    """Whom the command is about, or the text that says why no one."""
    event, command = ctx.event, ctx.event.command or ""
    person = event.reply_to_person
    if person is not None and not person.is_bot:
        member_id = await member_for(ctx.session, ctx.tenant, ctx.channel, person)
        return _Target(member_id, person.external_id, person.display_name)
    who = next((w for w in event.command_args.split() if w.startswith("@")), None)
    if who is None:
        return say("staff.no_target", ctx.language, command=command)
    found = (
        await ctx.session.execute(
            select(MemberIdentity.member_id, MemberIdentity.external_id)
            .where(
                MemberIdentity.merchant_id == ctx.tenant.id,
                MemberIdentity.channel == ctx.channel,
                func.lower(MemberIdentity.username) == who[1:].lower(),
            )
            .limit(1)
        )
    ).first()
    if found is None:
        return say("staff.unknown_target", ctx.language, who=who)
    return _Target(found.member_id, found.external_id, who)


async def _owe(ctx: CommandContext, step: str, action: OutboundAction) -> None:
    assert ctx.account_id is not None  # the pipeline gives both
    assert ctx.event_row_id is not None
    await actions.owe(
        ctx.session,
        ctx.tenant,
        robot_account_id=ctx.account_id,
        community_id=ctx.community.id,
        decision=f"staff:{ctx.event_row_id}:{step}",
        action=action,
    )


def _chat(ctx: CommandContext) -> str:
    assert ctx.community.external_id is not None  # a group the robot is in has its chat id
    return ctx.community.external_id


async def _remove_command(ctx: CommandContext) -> None:
    if ctx.event.message_id:
        await _owe(
            ctx,
            "delete",
            OutboundAction(ActionKind.DELETE, _chat(ctx), message_id=ctx.event.message_id),
        )


def _actor(ctx: CommandContext) -> str:
    return f"member:{ctx.member_id}"


async def _is_leader(ctx: CommandContext, member_id: uuid.UUID) -> bool:
    found = await ctx.session.scalar(
        select(CommunityLeader.id).where(
            CommunityLeader.community_id == ctx.community.id, CommunityLeader.member_id == member_id
        )
    )
    return found is not None


async def _sanction(ctx: CommandContext, action: Action, mute_for: timedelta | None) -> str:
    """/warn and /mute: a log entry and a strike as the policy says (escalating), then the
    action reached."""
    target = await _target(ctx)
    if isinstance(target, str):
        return target
    if target.member_id == ctx.member_id or await _is_leader(ctx, target.member_id):
        return say("staff.target_is_staff", ctx.language, name=target.name)
    session, tenant, now = ctx.session, ctx.tenant, clock.now()
    policy, _ = await policies.effective(session, tenant, ctx.community.id)
    entry = ModerationEntry(
        merchant_id=tenant.id,
        community_id=ctx.community.id,
        member_id=target.member_id,
        event_id=ctx.event_row_id,
        message_id=ctx.event.reply_to_message_id,
        rule="staff",
        action=action.value,
        excerpt=ctx.event.text[:200],
        actor=_actor(ctx),
        at=now,
    )
    session.add(entry)
    await session.flush()
    await activity.count(session, tenant, ctx.community, "moderation_actions", now)
    if policy.strikes.enabled:
        past = (
            await session.scalars(
                select(Strike.at).where(
                    Strike.merchant_id == tenant.id,
                    Strike.member_id == target.member_id,
                    Strike.at > now - timedelta(days=policy.strikes.window_days),
                )
            )
        ).all()
        reached = escalate(action, mute_for, list(past), now, policy.strikes)
        action, mute_for = reached.action, reached.mute_for
        session.add(
            Strike(
                merchant_id=tenant.id,
                member_id=target.member_id,
                community_id=ctx.community.id,
                rule="staff",
                entry_id=entry.id,
                at=now,
            )
        )
    entry.action = action.value
    await _remove_command(ctx)
    if action is Action.ban:
        await bans.ban(
            session,
            tenant,
            target.member_id,
            reason=f"staff: {ctx.event.text}"[:300],
            actor=_actor(ctx),
            rule="staff",
            community_id=ctx.community.id,
            logged=True,  # the entry above is the ban's
        )
        return say("moderation.banned", ctx.language, name=target.name)
    text = say("staff.warned", ctx.language, name=target.name)
    if action is Action.mute and mute_for is not None:
        await _owe(
            ctx,
            "mute",
            OutboundAction(
                ActionKind.RESTRICT, _chat(ctx), person_id=target.external_id, until=now + mute_for
            ),
        )
        minutes = int(mute_for.total_seconds() // 60)
        text = say("moderation.muted", ctx.language, name=target.name, minutes=minutes)
    elif action is Action.kick:
        await _owe(
            ctx, "kick", OutboundAction(ActionKind.KICK, _chat(ctx), person_id=target.external_id)
        )
    return text


async def warn(ctx: CommandContext) -> str:
    return await _sanction(ctx, Action.warn, None)


async def mute(ctx: CommandContext) -> str:
    """``/mute 30m`` (``h``, ``d``); without a length, the mute of the policy's escalation."""
    length = next((w for w in ctx.event.command_args.split() if not w.startswith("@")), None)
    if length is None:
        policy, _ = await policies.effective(ctx.session, ctx.tenant, ctx.community.id)
        steps = [s.mute_minutes for s in policy.strikes.steps if s.mute_minutes]
        minutes = steps[0] if steps else 60
    else:
        matched = _DURATION.match(length.lower())
        minutes = int(matched[1]) * _UNITS[matched[2]] if matched else 0
        if not 1 <= minutes <= _MAX_MUTE_MINUTES:
            return say("staff.bad_duration", ctx.language)
    return await _sanction(ctx, Action.mute, timedelta(minutes=minutes))


async def ban(ctx: CommandContext) -> str:
    target = await _target(ctx)
    if isinstance(target, str):
        return target
    if target.member_id == ctx.member_id or await _is_leader(ctx, target.member_id):
        return say("staff.target_is_staff", ctx.language, name=target.name)
    await _remove_command(ctx)
    if ctx.event.reply_to_message_id:  # the offending message goes too
        await _owe(
            ctx,
            "delete-offence",
            OutboundAction(ActionKind.DELETE, _chat(ctx), message_id=ctx.event.reply_to_message_id),
        )
    made = await bans.ban(
        ctx.session,
        ctx.tenant,
        target.member_id,
        reason=f"staff: {ctx.event.text}"[:300],
        actor=_actor(ctx),
        rule="staff",
        community_id=ctx.community.id,
    )
    if made is None:
        return say("staff.banned_already", ctx.language, name=target.name)
    await activity.count(ctx.session, ctx.tenant, ctx.community, "moderation_actions", made.at)
    return say("moderation.banned", ctx.language, name=target.name)


async def unban(ctx: CommandContext) -> str:
    target = await _target(ctx)
    if isinstance(target, str):
        return target
    await _remove_command(ctx)
    lifted = await bans.unban(ctx.session, ctx.tenant, target.member_id, actor=_actor(ctx))
    if lifted is None:
        return say("staff.not_banned", ctx.language, name=target.name)
    return say("staff.unbanned", ctx.language, name=target.name)


# -- /broadcast: staff's word to every group ----------------------------------------------------
#
# ``/broadcast <text>`` (or replying with ``/broadcast`` to a message: its text) makes a
# marketing broadcast to every active group of the merchant, sent now by the worker within the
# platforms' limits; the robot says how many groups it goes to. It is marketing: groups that
# refuse offers do not get it.

#: The longest text the command takes: the smallest limit of the built-in channels (the web
#: community's); a longer message goes through the API, checked per channel.
BROADCAST_MAX = 2000


async def _replied_text(ctx: CommandContext) -> str:
    """The text of the message the command replies to: as the platform sent it along
    (Telegram, Matrix), or as the web community keeps it."""
    if ctx.event.reply_to_text:
        return ctx.event.reply_to_text
    replied = ctx.event.reply_to_message_id
    if not replied or ctx.channel != "web":
        return ""
    try:
        message_id = uuid.UUID(replied)
    except ValueError:
        return ""
    text = await ctx.session.scalar(
        select(WebMessage.text).where(
            WebMessage.merchant_id == ctx.tenant.id,
            WebMessage.community_id == ctx.community.id,
            WebMessage.id == message_id,
            WebMessage.deleted_at.is_(None),
        )
    )
    return text or ""


async def broadcast(ctx: CommandContext) -> str:
    text = ctx.event.command_args.strip() or (await _replied_text(ctx)).strip()
    if not text:
        return say("broadcast.usage", ctx.language)
    if len(text) > BROADCAST_MAX:
        return say("broadcast.too_long", ctx.language, limit=BROADCAST_MAX)
    await _remove_command(ctx)
    groups = await broadcast_audience.count_groups(ctx.session, ctx.tenant.id, marketing=True)
    if groups == 0:
        return say("broadcast.no_groups", ctx.language)
    language = ctx.language if ctx.language in LANGUAGES else LANGUAGES[0]
    spec = BroadcastSpec(
        content=Content(texts={language: text}),
        audience=Audience.ALL,
        marketing=True,
        name=f"/broadcast in {ctx.community.name}"[:200],
    )
    await broadcast_service.do_create(ctx.session, ctx.tenant, spec, created_by=_actor(ctx))
    return say("broadcast.queued", ctx.language, count=groups)


def member_commands(payloads: StartPayloads | None = None) -> Commands:
    """The member commands (``/sales`` lists the campaigns on now) and the staff commands,
    listed explicitly."""
    commands = Commands()
    commands.on("start", start_for(payloads or StartPayloads()), "help.start")
    commands.on("me", me, "help.me")
    commands.on("orders", orders, "help.orders")
    commands.on("sales", sales, "help.sales")
    commands.on("rules", rules, "help.rules")
    commands.on("stop", stop, "help.stop")
    commands.on("help", help_for(commands), "help.help")
    commands.on("warn", warn, "help.warn", staff=True)
    commands.on("mute", mute, "help.mute", staff=True)
    commands.on("ban", ban, "help.ban", staff=True)
    commands.on("unban", unban, "help.unban", staff=True)
    commands.on("broadcast", broadcast, "help.broadcast", staff=True)
    return commands
