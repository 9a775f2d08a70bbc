"""Which moments are due (from the campaign rows), and posting each once: the sweep, and a
promotion day's announcements written when the day is made."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import String, cast, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock, locks
from tribekit.kit.settings import get_settings
from tribekit.kit.worker import Sweep
from tribekit.models.broadcasts import Broadcast
from tribekit.models.campaigns import FlashSale, GroupBuy, PromotionDay
from tribekit.models.tenancy import Merchant
from tribekit.robot.broadcasts import service as broadcasts
from tribekit.robot.broadcasts.content import Content
from tribekit.robot.broadcasts.service import BroadcastSpec
from tribekit.robot.broadcasts.states import Audience
from tribekit.tenancy.principal import Tenant

from .content import Campaign, content, local_time, minutes_until
from .texts import Moment, fill

SWEEP = "campaigns.announcements"
#: The latest a ``sold_out`` or ``result`` is still posted after it happened (a worker that was
#: down does not post yesterday's news).
LATE_LIMIT = timedelta(hours=6)
#: The longest ``announce_before_seconds`` looked ahead for.
BEFORE_MAX = timedelta(days=2)


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
            "starts": local_time(day.starts_at, tenant, day.starts_at),
            "ends": local_time(day.ends_at, tenant, day.starts_at),
            "minutes": minutes_until(day.starts_at, at),
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
