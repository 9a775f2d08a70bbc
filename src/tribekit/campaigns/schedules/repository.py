"""The SQL of campaign schedules: one of the merchant's (read or locked), a page of them, the
due ones the worker claims, and the campaigns a schedule made."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit.errors import NotFound
from tribekit.kit.pagination import Page, paginate
from tribekit.kit.worker import claim_due
from tribekit.models.campaigns import CampaignSchedule, FlashSale, GroupBuy, PromotionDay
from tribekit.tenancy.principal import Tenant

Made = FlashSale | GroupBuy | PromotionDay


def _missing(schedule_id: uuid.UUID) -> NotFound:
    return NotFound(f"no campaign schedule with id {schedule_id} at this merchant")


async def get(session: AsyncSession, tenant: Tenant, schedule_id: uuid.UUID) -> CampaignSchedule:
    row = await session.scalar(
        select(CampaignSchedule).where(
            CampaignSchedule.merchant_id == tenant.id, CampaignSchedule.id == schedule_id
        )
    )
    if row is None:
        raise _missing(schedule_id)
    return row


async def locked(session: AsyncSession, tenant: Tenant, schedule_id: uuid.UUID) -> CampaignSchedule:
    """The schedule, locked for a change by staff (read again under the lock)."""
    row = await session.scalar(
        select(CampaignSchedule)
        .where(CampaignSchedule.merchant_id == tenant.id, CampaignSchedule.id == schedule_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise _missing(schedule_id)
    return row


async def page(
    session: AsyncSession,
    tenant: Tenant,
    *,
    kind: str | None,
    active: bool | None,
    limit: int,
    cursor: str | None,
) -> Page[CampaignSchedule]:
    """The merchant's schedules, newest first."""
    stmt = select(CampaignSchedule).where(CampaignSchedule.merchant_id == tenant.id)
    if kind is not None:
        stmt = stmt.where(CampaignSchedule.kind == kind)
    if active is not None:
        stmt = stmt.where(CampaignSchedule.active.is_(active))
    return await paginate(session, stmt, key=CampaignSchedule.id, limit=limit, cursor=cursor)


async def claim(session: AsyncSession, now: datetime, batch_size: int) -> list[CampaignSchedule]:
    """Active schedules due to be planned that no other worker holds (SKIP LOCKED)."""
    stmt = (
        select(CampaignSchedule)
        .where(CampaignSchedule.active.is_(True), CampaignSchedule.due_at <= now)
        .order_by(CampaignSchedule.due_at, CampaignSchedule.id)
    )
    return list((await session.scalars(claim_due(stmt, batch_size))).all())


async def relock(session: AsyncSession, schedule_id: uuid.UUID) -> CampaignSchedule | None:
    """The schedule about to be planned, locked and read again (a worker holding it from its
    claim does not wait)."""
    return await session.scalar(
        select(CampaignSchedule)
        .where(CampaignSchedule.id == schedule_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def made_between(
    session: AsyncSession,
    tenant: Tenant,
    kinds: Sequence[str],
    start: datetime,
    end: datetime,
    *,
    schedule_ids: Sequence[uuid.UUID] | None = None,
) -> list[Made]:
    """The campaigns of ``kinds`` running at some point of [start, end) (cancelled ones left
    out), by start."""
    f, g, p = FlashSale, GroupBuy, PromotionDay
    found: list[Made] = []
    if "flash_sale" in kinds:
        stmt = select(f).where(
            f.merchant_id == tenant.id,
            f.starts_at < end,
            f.ends_at > start,
            f.status != "cancelled",
        )
        if schedule_ids is not None:
            stmt = stmt.where(f.schedule_id.in_(list(schedule_ids)))
        found.extend((await session.scalars(stmt)).all())
    if "group_buy" in kinds:
        buys = select(g).where(
            g.merchant_id == tenant.id,
            g.starts_at < end,
            g.deadline > start,
            g.status != "cancelled",
        )
        if schedule_ids is not None:
            buys = buys.where(g.schedule_id.in_(list(schedule_ids)))
        found.extend((await session.scalars(buys)).all())
    if "promotion_day" in kinds:
        days = select(p).where(p.merchant_id == tenant.id, p.starts_at < end, p.ends_at > start)
        if schedule_ids is not None:
            days = days.where(p.schedule_id.in_(list(schedule_ids)))
        found.extend((await session.scalars(days)).all())
    return sorted(found, key=lambda row: (row.starts_at, str(row.id)))
