"""Chat commands: a typed handler per command name in an explicit registry (later issues add
``/sales`` and ``/ref`` the same way), and ``/start`` payload kinds in a registry of their own
(deep links: ``t.me/<robot>?start=<kind>-<value>``).

A handler answers with the text the robot replies; the pipeline owes the reply as a durable
action (once per inbound event, which is recorded once), so a redelivered command is not
answered twice. Texts follow the group's language.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock
from tribekit.kit.money import Money
from tribekit.members import access
from tribekit.members.repository import Members
from tribekit.membership import service as membership
from tribekit.models.communities import Community
from tribekit.models.orders import Order
from tribekit.tenancy.principal import Tenant

from .channels import InboundEvent
from .texts import say


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

    def on(self, name: str, handler: Handler, summary: str) -> Commands:
        self.handlers[name] = handler
        self.summaries[name] = summary
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


def member_commands(payloads: StartPayloads | None = None) -> Commands:
    """The member commands of issue 10, listed explicitly."""
    commands = Commands()
    commands.on("start", start_for(payloads or StartPayloads()), "help.start")
    commands.on("me", me, "help.me")
    commands.on("orders", orders, "help.orders")
    commands.on("rules", rules, "help.rules")
    commands.on("stop", stop, "help.stop")
    commands.on("help", help_for(commands), "help.help")
    return commands
