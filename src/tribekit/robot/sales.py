"""``/sales``: what is on sale now for this group — live flash sales (price, units left, end
time) and open group buys (tiers, deadline) — each with the member's own link to its page,
where they buy or join.

A campaign aimed at some communities is listed only in those groups. The link is the member's
signed link (like ``/me``'s member card): opening it signs them in on the page.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from tribekit.campaigns.flash import service as flash
from tribekit.kit.money import Money
from tribekit.members import access

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
        link = _link(ctx, f"/m/flash/{sale.id}")
        lines.append(f"{line}\n{link}" if link else line)
    if not lines:
        return say("sales.none", language)
    return "\n\n".join([say("sales.title", language), *lines[:MOST]])
