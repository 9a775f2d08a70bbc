"""The robot's part of campaigns.

* ``/sales``: what is on sale now for this group — live flash sales (price, units left, end
  time) and open group buys (tiers, deadline) — each with the member's own link to its page.
* **"+1"** in reply to a group buy's announcement, or its join button (``gb:<group buy id>``),
  joins the member to this group's open team (a new one when there is none, or when it is
  full) and answers with the member's link to their team's page, where they pay. A group buy
  by delivery address needs the address: the answer links to the page that asks for it.

A campaign aimed at some communities is listed (and joined) only in those groups. The links are
the member's signed links (like ``/me``'s member card): opening one signs them in on the page.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import select

from tribekit.campaigns.flash import service as flash
from tribekit.campaigns.group_buys import joining, tiers
from tribekit.campaigns.group_buys.errors import AlreadyInTeam, GroupBuyNotOpen, LimitReached
from tribekit.campaigns.group_buys.schemas import JoinAttribution, JoinIn
from tribekit.kit.errors import TribekitError
from tribekit.kit.money import Money
from tribekit.members import access
from tribekit.models.broadcasts import Broadcast, BroadcastDelivery
from tribekit.models.campaigns import GroupBuy, GroupBuyTeam
from tribekit.models.enums import Channel

from .texts import say

if TYPE_CHECKING:  # the commands' registry lists this handler
    from .commands import CommandContext

#: The most campaigns one ``/sales`` answer lists.
MOST = 10


def _for_group(community_ids: list[str], community_id: uuid.UUID) -> bool:
    return not community_ids or str(community_id) in community_ids


def _local_time(at: datetime, timezone: str) -> str:
    return at.astimezone(ZoneInfo(timezone)).strftime("%H:%M")


def _money(amount: int, currency: str, language: str) -> str:
    return Money(amount, currency).format("zh_CN" if language == "zh-CN" else "en")


def _link(ctx: CommandContext, path: str) -> str | None:
    """The member's own signed link to ``path`` (None where no link can be made)."""
    if not (ctx.secret_key and ctx.public_url):
        return None
    token, _ = access.issue_link(ctx.secret_key, ctx.tenant, ctx.member_id)
    return f"{ctx.public_url.rstrip('/')}{path}?t={token}"


async def sales(ctx: CommandContext) -> str:
    language, timezone = ctx.language, ctx.tenant.timezone
    lines: list[str] = []
    for view in await flash.list_live(ctx.session, ctx.tenant):
        sale = view.sale
        if not _for_group(sale.community_ids, ctx.community.id):
            continue
        key = "sales.flash" if view.counts.left > 0 else "sales.flash.sold_out"
        line = say(
            key,
            language,
            name=sale.name,
            price=_money(sale.price, ctx.tenant.currency, language),
            left=view.counts.left,
            ends=_local_time(sale.ends_at, timezone),
        )
        lines.append(_with_link(line, _link(ctx, f"/m/flash/{sale.id}")))
    for group_buy in await joining.list_open(
        ctx.session, ctx.tenant, community_id=ctx.community.id
    ):
        prices = ", ".join(
            say(
                "sales.tier",
                language,
                size=t.size,
                price=_money(t.unit_price, ctx.tenant.currency, language),
            )
            for t in tiers.tiers_of(group_buy.tiers)
        )
        line = say(
            "sales.group_buy",
            language,
            name=group_buy.name,
            tiers=prices,
            ends=_local_time(group_buy.deadline, timezone),
        )
        lines.append(_with_link(line, _link(ctx, f"/m/group-buys/{group_buy.id}")))
    if not lines:
        return say("sales.none", language)
    return "\n\n".join([say("sales.title", language), *lines[:MOST]])


def _with_link(line: str, link: str | None) -> str:
    return f"{line}\n{link}" if link else line


# -- joining a group buy from the chat ----------------------------------------------------------

PLUS_ONE = frozenset({"+1", "＋1"})  # noqa: RUF001  # the full-width plus of Chinese keyboards
BUTTON_PREFIX = "gb:"


def is_plus_one(text: str, reply_to_message_id: str | None) -> bool:
    """A "+1" that answers a message (an announcement, perhaps)."""
    return reply_to_message_id is not None and text.strip() in PLUS_ONE


def join_button(group_buy_id: uuid.UUID) -> str:
    """What an announcement's join button carries back when pressed."""
    return f"{BUTTON_PREFIX}{group_buy_id}"


def joined_by_button(data: str | None) -> uuid.UUID | None:
    """The group buy a pressed join button names, if it is one."""
    if data is None or not data.startswith(BUTTON_PREFIX):
        return None
    try:
        return uuid.UUID(data[len(BUTTON_PREFIX) :])
    except ValueError:
        return None


async def announced_group_buy(ctx: CommandContext, message_id: str) -> uuid.UUID | None:
    """The group buy whose announcement in this group is the message ``message_id``."""
    found: uuid.UUID | None = await ctx.session.scalar(
        select(Broadcast.campaign_id)
        .join(BroadcastDelivery, BroadcastDelivery.broadcast_id == Broadcast.id)
        .join(GroupBuy, GroupBuy.id == Broadcast.campaign_id)
        .where(
            Broadcast.merchant_id == ctx.tenant.id,
            BroadcastDelivery.community_id == ctx.community.id,
            BroadcastDelivery.message_id == message_id,
        )
        .limit(1)
    )
    return found


async def _open_team_here(ctx: CommandContext, group_buy_id: uuid.UUID) -> str | None:
    """The code of this group's open team with a seat left, the oldest first."""
    code: str | None = await ctx.session.scalar(
        select(GroupBuyTeam.code)
        .where(
            GroupBuyTeam.merchant_id == ctx.tenant.id,
            GroupBuyTeam.group_buy_id == group_buy_id,
            GroupBuyTeam.community_id == ctx.community.id,
            GroupBuyTeam.status == "open",
            GroupBuyTeam.size < GroupBuyTeam.max_size,
        )
        .order_by(GroupBuyTeam.created_at, GroupBuyTeam.id)
        .limit(1)
    )
    return code


def _channel(ctx: CommandContext) -> Channel:
    try:
        return Channel(ctx.channel)
    except ValueError:
        return Channel.WEB


async def join_from_chat(ctx: CommandContext, group_buy_id: uuid.UUID) -> str:
    """Join the member to this group's team of the group buy; the answer to post."""
    language = ctx.language
    group_buy = await ctx.session.get(GroupBuy, group_buy_id)
    if group_buy is None or group_buy.merchant_id != ctx.tenant.id:
        return say("group_buy.closed", language)
    page = _link(ctx, f"/m/group-buys/{group_buy.id}") or ""
    if not _for_group(group_buy.community_ids, ctx.community.id):
        return say("group_buy.not_here", language)
    if group_buy.grouping == "address":  # the page asks for the delivery address
        return say("group_buy.by_address", language, name=group_buy.name, url=page)
    attribution = JoinAttribution(channel=_channel(ctx), community_id=ctx.community.id)
    code = await _open_team_here(ctx, group_buy.id)
    savepoint = await ctx.session.begin_nested()  # a refused join leaves the event's work intact
    try:
        joined = await joining.join(
            ctx.session,
            ctx.tenant,
            ctx.member_id,
            group_buy.id,
            JoinIn(code=code, attribution=attribution),
            actor=f"member:{ctx.member_id}",
        )
    except (AlreadyInTeam, LimitReached):
        await savepoint.rollback()
        return say("group_buy.already", language, name=group_buy.name, url=page)
    except GroupBuyNotOpen:
        await savepoint.rollback()
        return say("group_buy.closed", language)
    except TribekitError:  # the team filled up meanwhile: a team of their own instead
        await savepoint.rollback()
        return await _join_new_team(ctx, group_buy, attribution, page)
    await savepoint.commit()
    return _joined_text(ctx, group_buy, joined.team, joined.participant.unit_price_paid)


async def _join_new_team(
    ctx: CommandContext, group_buy: GroupBuy, attribution: JoinAttribution, page: str
) -> str:
    savepoint = await ctx.session.begin_nested()
    try:
        joined = await joining.join(
            ctx.session,
            ctx.tenant,
            ctx.member_id,
            group_buy.id,
            JoinIn(attribution=attribution),
            actor=f"member:{ctx.member_id}",
        )
    except TribekitError:
        await savepoint.rollback()
        return say("group_buy.already", ctx.language, name=group_buy.name, url=page)
    await savepoint.commit()
    return _joined_text(ctx, group_buy, joined.team, joined.participant.unit_price_paid)


def _joined_text(ctx: CommandContext, group_buy: GroupBuy, team: GroupBuyTeam, price: int) -> str:
    link = _link(ctx, joining.share_path(team.code)) or joining.share_path(team.code)
    return say(
        "group_buy.joined",
        ctx.language,
        name=group_buy.name,
        seats=team.size,
        max=team.max_size,
        price=_money(price, ctx.tenant.currency, ctx.language),
        url=link,
    )
