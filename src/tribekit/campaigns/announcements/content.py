"""What one announcement says: a campaign's values (prices in the shop's currency, times on
its clock, a group buy's tiers and each team's result) filled into its texts, in every
language, with the buy or join buttons."""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit.money import Money
from tribekit.models.campaigns import FlashSale, GroupBuy, GroupBuyParticipant, GroupBuyTeam
from tribekit.models.catalog import Product
from tribekit.robot import campaigns as robot_campaigns
from tribekit.robot.broadcasts.content import Content
from tribekit.robot.channels import Button
from tribekit.robot.texts import LANGUAGES
from tribekit.tenancy.principal import Tenant

from .texts import TEXT_MAX, Moment, default_text, fill

#: Teams named one by one in a result; the rest are counted.
TEAMS_SHOWN = 10
_SEPARATOR = {"en": "; ", "zh-CN": "；"}  # noqa: RUF001  # the Chinese semicolon


def _money(amount: int, currency: str, language: str) -> str:
    return Money(amount, currency).format("zh_CN" if language == "zh-CN" else "en")


def local_time(at: datetime, tenant: Tenant, now: datetime) -> str:
    tz = ZoneInfo(tenant.timezone)
    local = at.astimezone(tz)
    if local.date() == now.astimezone(tz).date():
        return f"{local:%H:%M}"
    return f"{local:%Y-%m-%d %H:%M}"


def minutes_until(at: datetime, now: datetime) -> str:
    return str(max(0, math.ceil((at - now).total_seconds() / 60)))


# -- the content of one moment --------------------------------------------------------------------


@dataclass(frozen=True)
class Campaign:
    """A flash sale or group buy as announcements see it."""

    kind: Literal["flash_sale", "group_buy"]
    row: FlashSale | GroupBuy

    @property
    def page(self) -> str:
        part = "flash" if self.kind == "flash_sale" else "group-buys"
        return f"/m/{part}/{self.row.id}"


def member_page(kind: str, campaign_id: uuid.UUID) -> str:
    """The member page of a campaign, relative to the server's public address."""
    return f"/m/{'flash' if kind == 'flash_sale' else 'group-buys'}/{campaign_id}"


async def _flash_values(
    session: AsyncSession, tenant: Tenant, sale: FlashSale, language: str, now: datetime
) -> dict[str, str]:
    product = await session.get(Product, sale.product_id)
    return {
        "name": sale.name,
        "product": product.name if product is not None else sale.name,
        "price": _money(sale.price, tenant.currency, language),
        "regular_price": _money(
            product.price if product else sale.price, tenant.currency, language
        ),
        "quantity": str(sale.quantity),
        "limit": str(sale.per_member_limit),
        "starts": local_time(sale.starts_at, tenant, now),
        "ends": local_time(sale.ends_at, tenant, now),
        "minutes": minutes_until(sale.starts_at, now),
    }


def _tier_reached(tiers: Sequence[Mapping[str, Any]], size: int) -> int | None:
    reached = [int(t["size"]) for t in tiers if int(t["size"]) <= size]
    return max(reached) if reached else None


async def _results(session: AsyncSession, tenant: Tenant, buy: GroupBuy, language: str) -> str:
    """Each closed team: how many paid, the tier that reached and the price everyone pays, or
    that it fell short and everyone was refunded. Only real, paid participants are counted (a
    seat never paid is not): portions ``settled`` in a team that succeeded, ``refunded`` in
    one that failed."""
    p = GroupBuyParticipant
    counted = (
        await session.execute(
            select(p.team_id, p.status, func.sum(p.portions))
            .where(p.group_buy_id == buy.id, p.status.in_(["settled", "refunded"]))
            .group_by(p.team_id, p.status)
        )
    ).all()
    portions = {(team_id, status): int(n) for team_id, status, n in counted}
    closed = (
        await session.scalars(
            select(GroupBuyTeam)
            .where(
                GroupBuyTeam.group_buy_id == buy.id,
                GroupBuyTeam.status.in_(["succeeded", "failed"]),
            )
            .order_by(GroupBuyTeam.created_at, GroupBuyTeam.id)
        )
    ).all()
    teams = []
    for team in closed:
        paid = portions.get((team.id, "settled" if team.status == "succeeded" else "refunded"), 0)
        if paid:
            teams.append((paid, team))
    teams.sort(key=lambda item: -item[0])  # stable: the largest first, then the oldest
    if not teams:
        return default_text("group_buy.no_team", language)
    lines = []
    for paid, team in teams[:TEAMS_SHOWN]:
        tier = _tier_reached(buy.tiers, paid)
        if team.status == "succeeded" and tier is not None:
            price = team.final_unit_price
            if price is None:
                price = next(int(t["unit_price"]) for t in buy.tiers if int(t["size"]) == tier)
            line = fill(
                default_text("group_buy.team_reached", language),
                {
                    "code": team.code,
                    "size": str(paid),
                    "tier": str(tier),
                    "price": _money(price, tenant.currency, language),
                },
            )
        else:
            line = fill(
                default_text("group_buy.team_short", language),
                {"code": team.code, "size": str(paid), "minimum": str(buy.min_size)},
            )
        lines.append(line)
    if len(teams) > TEAMS_SHOWN:
        more = default_text("group_buy.more_teams", language)
        lines.append(fill(more, {"count": str(len(teams) - TEAMS_SHOWN)}))
    return ("" if language == "zh-CN" else " ").join(lines)


async def _group_buy_values(
    session: AsyncSession,
    tenant: Tenant,
    buy: GroupBuy,
    language: str,
    now: datetime,
    moment: str,
) -> dict[str, str]:
    product = await session.get(Product, buy.product_id)
    tier_text = default_text("group_buy.tier", language)
    tiers = _SEPARATOR.get(language, "; ").join(
        fill(
            tier_text,
            {
                "size": str(t["size"]),
                "price": _money(int(t["unit_price"]), tenant.currency, language),
            },
        )
        for t in buy.tiers
    )
    lowest = min((int(t["unit_price"]) for t in buy.tiers), default=0)
    values = {
        "name": buy.name,
        "product": product.name if product is not None else buy.name,
        "tiers": tiers,
        "lowest_price": _money(lowest, tenant.currency, language),
        "max_size": str(buy.max_size),
        "starts": local_time(buy.starts_at, tenant, now),
        "deadline": local_time(buy.deadline, tenant, now),
        "minutes": minutes_until(buy.starts_at, now),
        "results": "",
    }
    if moment == "result":
        values["results"] = await _results(session, tenant, buy, language)
    return values


async def content(
    session: AsyncSession,
    tenant: Tenant,
    campaign: Campaign,
    moment: Moment,
    public_url: str | None,
    now: datetime,
) -> Content:
    """The broadcast of ``moment``: the campaign's own texts for it, else the defaults in
    every language; a buy or join button before and at the start (when the server has a
    public address the button can link to)."""
    own: Mapping[str, str] = (campaign.row.announcements or {}).get(moment) or {}
    languages = [lang for lang in own if lang in LANGUAGES] or list(LANGUAGES)
    texts: dict[str, str] = {}
    for language in languages:
        if campaign.kind == "flash_sale":
            assert isinstance(campaign.row, FlashSale)
            values = await _flash_values(session, tenant, campaign.row, language, now)
        else:
            assert isinstance(campaign.row, GroupBuy)
            values = await _group_buy_values(session, tenant, campaign.row, language, now, moment)
        template = own.get(language) or default_text(f"{campaign.kind}.{moment}", language)
        texts[language] = fill(template, values)[: TEXT_MAX * 2]
    buttons: tuple[tuple[Button, ...], ...] = ()
    if moment in ("before", "start") and public_url:
        url = public_url.rstrip("/") + campaign.page
        label = default_text(f"{campaign.kind}.button", languages[0])
        row = [Button(text=label, url=url)]
        if campaign.kind == "group_buy":  # joined in the chat, like a "+1" reply
            plus_one = default_text("group_buy.plus_one", languages[0])
            row.insert(0, Button(text=plus_one, data=robot_campaigns.join_button(campaign.row.id)))
        buttons = (tuple(row),)
    return Content(texts=texts, buttons=buttons)
