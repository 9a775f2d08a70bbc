"""What the robot posts about a campaign, in every target group, each moment once.

Moments: ``before`` (``announce_before_seconds`` ahead of the start), ``start`` (the flash sale
is live, the group buy open; with a buy or join button to the member page, ``/m/flash/<id>``
or ``/m/group-buys/<id>``), ``sold_out`` (a flash sale that sold out) and ``result`` (a group
buy closed: the tier each team reached, or that it fell short and was refunded).

The sweep finds the moments due from the campaign rows themselves (their status and times), so
flash sales and group buys never call this module. Each moment becomes one broadcast
(``robot.broadcasts``, naming the campaign in ``campaign_id``) to the campaign's communities or
every active one, and is recorded in the row's ``announced``: the row is locked first (rank
CAMPAIGN of ``kit.locks``) and ``announced`` read again under the lock, so a moment is never
posted twice, whatever the number of workers. Announcements are marketing: a group that does
not accept marketing is skipped, and a group past its channel's monthly quota too, exactly as
for every broadcast.

Texts: the campaign's ``announcements`` (``{"start": {"en": "...", "zh-CN": "..."}}``, copied
from its schedule, or given when it was made) or, for a moment without any, the defaults below
in en and zh-CN (the ``campaigns`` catalog, ``locale/<locale>/LC_MESSAGES/campaigns.po``). Each
group reads its language, else the first given. Texts may name values in braces (``{price}``,
``{starts}``: ``FIELDS``); a name not known is left as written.

A promotion day has no status to watch: its announcements (``before``, ``start``, when its
schedule gives texts) are written as broadcasts due at their times when the day is made
(``promotion_broadcasts``), in that same transaction, so once as well.
"""

from __future__ import annotations

import io
import logging
import math
import string
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any, Literal
from zoneinfo import ZoneInfo

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from sqlalchemy import String, cast, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock, locks
from tribekit.kit.errors import FieldProblem, ValidationFailed
from tribekit.kit.money import Money
from tribekit.kit.settings import get_settings
from tribekit.kit.worker import Sweep
from tribekit.models.broadcasts import Broadcast
from tribekit.models.campaigns import (
    FlashSale,
    GroupBuy,
    GroupBuyParticipant,
    GroupBuyTeam,
    PromotionDay,
)
from tribekit.models.catalog import Product
from tribekit.models.tenancy import Merchant
from tribekit.robot import campaigns as robot_campaigns
from tribekit.robot.broadcasts import service as broadcasts
from tribekit.robot.broadcasts.content import Content
from tribekit.robot.broadcasts.service import BroadcastSpec
from tribekit.robot.broadcasts.states import Audience
from tribekit.robot.channels import Button
from tribekit.robot.texts import LANGUAGES, LOCALES
from tribekit.tenancy.principal import Tenant

log = logging.getLogger(__name__)

SWEEP = "campaigns.announcements"
Kind = Literal["flash_sale", "group_buy", "promotion_day"]
Moment = Literal["before", "start", "sold_out", "result"]
MOMENTS: Mapping[str, tuple[Moment, ...]] = {
    "flash_sale": ("before", "start", "sold_out"),
    "group_buy": ("before", "start", "result"),
    "promotion_day": ("before", "start"),
}
#: The values a text may name, by kind.
FIELDS: Mapping[str, frozenset[str]] = {
    "flash_sale": frozenset(
        {"name", "product", "price", "regular_price", "quantity", "limit", "starts", "ends"}
        | {"minutes"}
    ),
    "group_buy": frozenset(
        {"name", "product", "tiers", "lowest_price", "max_size", "starts", "deadline"}
        | {"minutes", "results"}
    ),
    "promotion_day": frozenset({"name", "multiplier", "starts", "ends", "minutes"}),
}
TEXT_MAX = 1000
#: The latest a ``sold_out`` or ``result`` is still posted after it happened (a worker that was
#: down does not post yesterday's news).
LATE_LIMIT = timedelta(hours=6)
#: The longest ``announce_before_seconds`` looked ahead for.
BEFORE_MAX = timedelta(days=2)
#: Teams named one by one in a result; the rest are counted.
TEAMS_SHOWN = 10
DOMAIN = "campaigns"


class AnnouncementsInvalid(ValidationFailed):
    code = "announcements_invalid"
    title = "The announcement texts cannot be posted"


def N_(message: str) -> str:  # Babel's name for "extract, translate later"
    return message


TEXTS: Mapping[str, str] = {
    "flash_sale.before": N_(
        "{name}: {product} at {price} instead of {regular_price}, only {quantity}, at most "
        "{limit} each. Starts at {starts}, in {minutes} minutes!"
    ),
    "flash_sale.start": N_(
        "{name} has started: {product} at {price}, only {quantity}, at most {limit} each, "
        "until {ends}. Tap to buy!"
    ),
    "flash_sale.sold_out": N_("{name}: sold out! Thank you all; the next one is announced here."),
    "flash_sale.button": N_("Buy now"),
    "group_buy.before": N_(
        "{name}: {product} as a group buy from {starts}, priced by your team's size: {tiers}. "
        "Starts in {minutes} minutes!"
    ),
    "group_buy.start": N_(
        "{name} is open: {product}, priced by your team's size: {tiers}. Join or start a team "
        "before {deadline}!"
    ),
    "group_buy.result": N_("{name} has closed. {results}"),
    "group_buy.button": N_("Join the group buy"),
    "group_buy.plus_one": N_("+1 Join"),
    "group_buy.tier": N_("{size} people {price} each"),
    "group_buy.team_reached": N_(
        "Team {code}: {size} joined, the {tier}-people tier, {price} each."
    ),
    "group_buy.team_short": N_(
        "Team {code}: {size} joined, short of {minimum}; everyone is refunded in full."
    ),
    "group_buy.more_teams": N_("And {count} more teams."),
    "group_buy.no_team": N_("No team was formed."),
}
_SEPARATOR = {"en": "; ", "zh-CN": "；"}  # noqa: RUF001  # the Chinese semicolon


# -- the texts ------------------------------------------------------------------------------------


@cache
def translations(language: str) -> NullTranslations:
    """The campaigns catalog for ``language``; English (the msgids) for any other."""
    locale = LOCALES.get(language)
    if locale is None:
        return NullTranslations()
    source = resources.files("tribekit") / "locale" / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    with source.open("rb") as handle:
        catalog = read_po(handle, locale=locale, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def default_text(key: str, language: str) -> str:
    return translations(language).gettext(TEXTS[key])


def fill(text: str, values: Mapping[str, str]) -> str:
    """``text`` with the values it names filled in. Only a bare name is filled (no attribute,
    index or format spec: staff write these texts); anything else, or a brace that names
    nothing, is left as written."""
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError:
        return text
    out = []
    for literal, name, spec, conversion in parts:
        out.append(literal)
        if name is None:
            continue
        if name in values and not spec and not conversion:
            out.append(values[name])
        else:
            out.append(
                "{"
                + name
                + (f"!{conversion}" if conversion else "")
                + (f":{spec}" if spec else "")
                + "}"
            )
    return "".join(out)


def _names(text: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError:
        return {"{"}


def _bad(path: Sequence[str], message: str) -> AnnouncementsInvalid:
    return AnnouncementsInvalid(
        f"{'.'.join(path)}: {message}",
        errors=[FieldProblem(("body", *path), message, AnnouncementsInvalid.code)],
    )


def check_texts(announcements: Mapping[str, Any], kind: str) -> dict[str, dict[str, str]]:
    """The texts, validated for a campaign of ``kind``: known moments, known languages, 1 to
    ``TEXT_MAX`` characters, only known ``{values}``. A 422 naming the text otherwise."""
    moments = MOMENTS[kind]
    checked: dict[str, dict[str, str]] = {}
    for moment, texts in announcements.items():
        where = ["announcements", str(moment)]
        if moment not in moments:
            raise _bad(where, f"a {kind} is announced {', '.join(moments)}")
        if not isinstance(texts, Mapping) or not texts:
            raise _bad(where, "texts by language, e.g. {'en': '...', 'zh-CN': '...'}")
        checked[moment] = {}
        for language, text in texts.items():
            if language not in LANGUAGES:
                raise _bad([*where, str(language)], f"a language of {', '.join(LANGUAGES)}")
            if not isinstance(text, str) or not 1 <= len(text.strip()) <= TEXT_MAX:
                raise _bad([*where, language], f"1 to {TEXT_MAX} characters")
            unknown = sorted(_names(text) - FIELDS[kind])
            if unknown:
                known = ", ".join(f"{{{n}}}" for n in sorted(FIELDS[kind]))
                raise _bad(
                    [*where, language],
                    f"{{{unknown[0]}}} is not a value of a {kind}; use {known} (or write "
                    "a brace twice: {{ }})",
                )
            checked[moment][language] = text.strip()
    return checked


def _money(amount: int, currency: str, language: str) -> str:
    return Money(amount, currency).format("zh_CN" if language == "zh-CN" else "en")


def _when(at: datetime, tenant: Tenant, now: datetime) -> str:
    tz = ZoneInfo(tenant.timezone)
    local = at.astimezone(tz)
    if local.date() == now.astimezone(tz).date():
        return f"{local:%H:%M}"
    return f"{local:%Y-%m-%d %H:%M}"


def _minutes(at: datetime, now: datetime) -> str:
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
        "starts": _when(sale.starts_at, tenant, now),
        "ends": _when(sale.ends_at, tenant, now),
        "minutes": _minutes(sale.starts_at, now),
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
        "starts": _when(buy.starts_at, tenant, now),
        "deadline": _when(buy.deadline, tenant, now),
        "minutes": _minutes(buy.starts_at, now),
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


# -- which moments are due ------------------------------------------------------------------------


def is_due(campaign: Campaign, moment: str, now: datetime) -> bool:
    """Whether ``moment`` of the campaign is to be posted now (not yet posted, its time come,
    not too late)."""
    row = campaign.row
    if moment in row.announced:
        return False
    if moment == "before":
        ahead = timedelta(seconds=row.announce_before_seconds)
        return (
            row.status == "scheduled"
            and row.announce_before_seconds > 0
            and row.starts_at - ahead <= now < row.starts_at
        )
    if campaign.kind == "flash_sale":
        assert isinstance(row, FlashSale)
        if moment == "start":
            return row.status == "live"
        if moment == "sold_out":
            return row.status == "sold_out" and (row.sold_out_at or now) >= now - LATE_LIMIT
        return False
    assert isinstance(row, GroupBuy)
    if moment == "start":
        return row.status == "open" and row.deadline > now
    if moment == "result":
        return row.status == "closed" and (row.closed_at or now) >= now - LATE_LIMIT
    return False


def _not_announced(model: type[FlashSale] | type[GroupBuy], moment: str) -> Any:
    """A shortcut in SQL (the list as text does not name the moment); ``is_due`` decides."""
    return cast(model.announced, String).not_like(f'%"{moment}"%')


async def due(session: AsyncSession, now: datetime, limit: int) -> list[tuple[str, uuid.UUID, str]]:
    """(kind, campaign id, moment) of moments due, oldest campaigns first, at most ``limit``."""
    f, g = FlashSale, GroupBuy
    soon = now + BEFORE_MAX
    queries: list[tuple[str, str, Any]] = [
        (
            "flash_sale",
            "before",
            select(f).where(f.status == "scheduled", f.starts_at > now, f.starts_at <= soon),
        ),
        ("flash_sale", "start", select(f).where(f.status == "live")),
        (
            "flash_sale",
            "sold_out",
            select(f).where(
                f.status == "sold_out",
                or_(f.sold_out_at.is_(None), f.sold_out_at >= now - LATE_LIMIT),
            ),
        ),
        (
            "group_buy",
            "before",
            select(g).where(g.status == "scheduled", g.starts_at > now, g.starts_at <= soon),
        ),
        ("group_buy", "start", select(g).where(g.status == "open")),
        (
            "group_buy",
            "result",
            select(g).where(
                g.status == "closed",
                or_(g.closed_at.is_(None), g.closed_at >= now - LATE_LIMIT),
            ),
        ),
    ]
    found: list[tuple[str, uuid.UUID, str]] = []
    for kind, moment, stmt in queries:
        model = f if kind == "flash_sale" else g
        stmt = stmt.where(_not_announced(model, moment)).order_by(model.id).limit(limit)
        for row in (await session.scalars(stmt)).all():
            if is_due(Campaign(kind, row), moment, now):  # type: ignore[arg-type]
                found.append((kind, row.id, moment))
    return sorted(found, key=lambda item: (item[1], item[2]))[:limit]


# -- posting --------------------------------------------------------------------------------------


async def _locked(
    session: AsyncSession, kind: str, campaign_id: uuid.UUID
) -> FlashSale | GroupBuy | None:
    locks.acquire(session, locks.Rank.CAMPAIGN, [campaign_id])
    if kind == "flash_sale":
        sale: FlashSale | None = await session.scalar(
            select(FlashSale)
            .where(FlashSale.id == campaign_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return sale
    buy: GroupBuy | None = await session.scalar(
        select(GroupBuy)
        .where(GroupBuy.id == campaign_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return buy


def _audience(community_ids: Sequence[str]) -> tuple[Audience, tuple[uuid.UUID, ...]]:
    if community_ids:
        return Audience.COMMUNITIES, tuple(uuid.UUID(i) for i in community_ids)
    return Audience.ALL, ()


async def announce(
    session: AsyncSession,
    tenant: Tenant,
    kind: Literal["flash_sale", "group_buy"],
    campaign_id: uuid.UUID,
    moment: Moment,
    *,
    public_url: str | None,
) -> Broadcast | None:
    """Post ``moment`` of the campaign now, if it is due and not posted yet: the row locked,
    checked again, the broadcast written and the moment recorded, in this transaction. None
    when there is nothing to post (posted already, not due, gone).

    The text is made before the lock is taken: the row is held only for the broadcast's
    insert and the moment's update (at 20:00 the flash sale's row is the burst's too)."""
    model: type[FlashSale] | type[GroupBuy] = FlashSale if kind == "flash_sale" else GroupBuy
    seen: FlashSale | GroupBuy | None
    if kind == "flash_sale":
        seen = await session.scalar(
            select(FlashSale).where(FlashSale.id == campaign_id, FlashSale.merchant_id == tenant.id)
        )
    else:
        seen = await session.scalar(
            select(GroupBuy).where(GroupBuy.id == campaign_id, GroupBuy.merchant_id == tenant.id)
        )
    now = clock.now()
    if seen is None or not is_due(Campaign(kind, seen), moment, now):
        return None
    said = await content(session, tenant, Campaign(kind, seen), moment, public_url, now)
    row = await _locked(session, kind, campaign_id)
    if row is None or not is_due(Campaign(kind, row), moment, clock.now()):
        return None  # another worker posted it, or the campaign moved on meanwhile
    audience, ids = _audience(row.community_ids)
    spec = BroadcastSpec(
        said,
        audience,
        ids,
        marketing=True,
        name=f"{row.name} · {moment}"[:200],
        campaign_id=row.id,
    )
    broadcast = await broadcasts.do_create(session, tenant, spec, created_by=f"campaign:{row.id}")
    # The row is locked: this is the one transaction that can add the moment.
    await session.execute(
        update(model)
        .where(model.id == row.id)
        .values(announced=[*row.announced, moment])
        .execution_options(synchronize_session=False)
    )
    return broadcast


async def announce_due(session: AsyncSession, batch_size: int, *, public_url: str | None) -> int:
    """One batch of due moments, posted; how many were looked at."""
    now = clock.now()
    found = await due(session, now, batch_size)
    tenants: dict[uuid.UUID, Tenant] = {}
    for kind, campaign_id, moment in found:
        model: type[FlashSale] | type[GroupBuy] = FlashSale if kind == "flash_sale" else GroupBuy
        merchant_id = await session.scalar(select(model.merchant_id).where(model.id == campaign_id))
        if merchant_id is None:
            continue
        if merchant_id not in tenants:
            merchant = await session.get(Merchant, merchant_id)
            assert merchant is not None  # a merchant's campaigns are deleted with it
            tenants[merchant_id] = Tenant.of(merchant)
        await announce(
            session,
            tenants[merchant_id],
            kind,  # type: ignore[arg-type]
            campaign_id,
            moment,  # type: ignore[arg-type]
            public_url=public_url,
        )
    return len(found)


def sweeps(public_url: str | None = None) -> list[Sweep]:
    """The announcements' sweep; buttons link to ``public_url``, the server's public address
    (None: the ``public_url`` setting; without one, no button: the text alone)."""
    base = public_url if public_url is not None else get_settings().public_url

    async def run(session: AsyncSession, batch_size: int) -> int:
        return await announce_due(session, batch_size, public_url=base)

    # One moment per transaction (the worker runs it again while it finds one): a campaign's
    # row is never held while other moments are posted.
    return [Sweep(SWEEP, run, every_seconds=1.0, batch_size=1)]


# -- promotion days -------------------------------------------------------------------------------


async def promotion_broadcasts(
    session: AsyncSession,
    tenant: Tenant,
    day: PromotionDay,
    announcements: Mapping[str, Any],
    announce_before_seconds: int,
) -> list[Broadcast]:
    """The announcements of a promotion day just made (``before``, ``start``: only those its
    schedule gives texts for), as broadcasts due at their times."""
    now = clock.now()
    made = []
    times = {
        "before": day.starts_at - timedelta(seconds=announce_before_seconds),
        "start": day.starts_at,
    }
    for moment, at in times.items():
        own: Mapping[str, str] = announcements.get(moment) or {}
        if not own or (moment == "before" and announce_before_seconds <= 0) or at < now:
            continue
        values = {
            "name": day.name,
            "multiplier": f"{day.reward_multiplier_bps / 10_000:g}",
            "starts": _when(day.starts_at, tenant, day.starts_at),
            "ends": _when(day.ends_at, tenant, day.starts_at),
            "minutes": _minutes(day.starts_at, at),
        }
        audience, ids = _audience(day.community_ids)
        spec = BroadcastSpec(
            Content(texts={lang: fill(text, values) for lang, text in own.items()}),
            audience,
            ids,
            marketing=True,
            send_at=at,
            name=f"{day.name} · {moment}"[:200],
            campaign_id=day.id,
        )
        row = await broadcasts.do_create(session, tenant, spec, created_by=f"campaign:{day.id}")
        if row is not None:
            made.append(row)
    return made
