"""Worker sweeps of the membership program: points expiry, level reviews, paid plans ending
(and their renewal reminders), birthday gifts.

Each sweep finds due rows across merchants, then acts through the same services as the API,
which lock the member's membership account and re-check before writing; so any number of
workers can run them side by side.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, extract, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from tribekit.kit import clock
from tribekit.kit.worker import Sweep, claim_due
from tribekit.members.repository import Members
from tribekit.models.members import Member
from tribekit.models.membership import (
    Level,
    MembershipAccount,
    MembershipSettings,
    PlanSubscription,
    PointsLot,
)
from tribekit.models.tenancy import Merchant
from tribekit.tenancy.principal import Tenant

from . import plans
from .ledger import PointsLedger, Source
from .levels import LevelEngine


async def _tenant(
    session: AsyncSession, merchant_id: uuid.UUID, cache: dict[uuid.UUID, Tenant]
) -> Tenant:
    if merchant_id not in cache:
        merchant = await session.get(Merchant, merchant_id)
        assert merchant is not None  # rows of a deleted merchant are deleted with it
        cache[merchant_id] = Tenant.of(merchant)
    return cache[merchant_id]


async def apply_rule_changes(session: AsyncSession, batch_size: int) -> int:
    """After a merchant changed its level rules, lift every member who now qualifies higher:
    one batch of accounts per run, in member order, resuming where the last batch stopped."""
    due = select(MembershipSettings).where(MembershipSettings.upgrade_pass_at <= clock.now())
    settings = await session.scalar(claim_due(due.order_by(MembershipSettings.merchant_id), 1))
    if settings is None:
        return 0
    tenant = await _tenant(session, settings.merchant_id, {})
    batch = select(MembershipAccount.member_id).where(MembershipAccount.merchant_id == tenant.id)
    if settings.upgrade_pass_after is not None:
        batch = batch.where(MembershipAccount.member_id > settings.upgrade_pass_after)
    ids = list(
        (await session.scalars(batch.order_by(MembershipAccount.member_id).limit(batch_size))).all()
    )
    engine = LevelEngine(session, tenant)
    for member_id in ids:
        await engine.upgrade(member_id)
    if len(ids) < batch_size:
        settings.upgrade_pass_at, settings.upgrade_pass_after = None, None
    else:
        settings.upgrade_pass_after = ids[-1]
    return len(ids)


async def expire_points(session: AsyncSession, batch_size: int) -> int:
    """Post expiry entries for due lots, one member at a time, in member id order (the order
    of account locks, ``kit.locks``)."""
    due = (
        select(PointsLot.merchant_id, PointsLot.member_id)
        .where(PointsLot.expires_at <= clock.now(), PointsLot.remaining > 0)
        .distinct()
        .order_by(PointsLot.member_id)
        .limit(batch_size)
    )
    tenants: dict[uuid.UUID, Tenant] = {}
    rows = (await session.execute(due)).all()
    for merchant_id, member_id in rows:
        tenant = await _tenant(session, merchant_id, tenants)
        await PointsLedger(session, tenant).expire_due(member_id)
    return len(rows)


async def review_levels(session: AsyncSession, batch_size: int) -> int:
    """Review the levels of members whose evaluation period has ended."""
    merchants = (
        select(MembershipAccount.merchant_id)
        .where(MembershipAccount.review_at <= clock.now())
        .distinct()
    )
    tenants: dict[uuid.UUID, Tenant] = {}
    reviewed = 0
    for merchant_id in (await session.scalars(merchants)).all():
        tenant = await _tenant(session, merchant_id, tenants)
        result = await LevelEngine(session, tenant).review_due(limit=batch_size - reviewed)
        reviewed += result.reviewed
        if reviewed >= batch_size:
            break
    return reviewed


async def _subscriptions_due(
    session: AsyncSession,
    batch_size: int,
    *,
    column: InstrumentedAttribute[datetime | None] | InstrumentedAttribute[datetime],
    extra: ColumnElement[bool] | None = None,
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    stmt = (
        select(PlanSubscription.merchant_id, PlanSubscription.id, PlanSubscription.member_id)
        .where(PlanSubscription.status == "active", column <= clock.now())
        .order_by(column)
        .limit(batch_size)
    )
    if extra is not None:
        stmt = stmt.where(extra)
    rows = (await session.execute(stmt)).all()
    # The earliest due, handled in member id order: the order of account locks (kit.locks).
    return [(m, s) for m, s, _ in sorted(rows, key=lambda row: row[2])]


async def end_plans(session: AsyncSession, batch_size: int) -> int:
    """End paid plans whose period is over and return their members to their earned level."""
    tenants: dict[uuid.UUID, Tenant] = {}
    rows = await _subscriptions_due(session, batch_size, column=PlanSubscription.ends_at)
    for merchant_id, subscription_id in rows:
        await plans.end_if_due(
            session, await _tenant(session, merchant_id, tenants), subscription_id
        )
    return len(rows)


async def remind_plan_renewals(session: AsyncSession, batch_size: int) -> int:
    tenants: dict[uuid.UUID, Tenant] = {}
    rows = await _subscriptions_due(
        session,
        batch_size,
        column=PlanSubscription.remind_at,
        extra=PlanSubscription.reminded_at.is_(None),
    )
    for merchant_id, subscription_id in rows:
        tenant = await _tenant(session, merchant_id, tenants)
        await plans.remind_if_due(session, tenant, subscription_id)
    return len(rows)


async def birthday_gifts(session: AsyncSession, batch_size: int) -> int:
    """Give each member whose birthday it is (in the merchant's time zone) their level's
    birthday points, once a year. (Birthday coupons are issued by the coupons of campaigns.)"""
    gifted = 0
    due: list[tuple[uuid.UUID, PointsLedger, str, Level]] = []
    merchants = select(Level.merchant_id).where(Level.birthday_points > 0)
    for merchant_id in (await session.scalars(merchants.distinct())).all():
        tenant = await _tenant(session, merchant_id, {})
        today = clock.now().astimezone(ZoneInfo(tenant.timezone)).date()
        engine = LevelEngine(session, tenant)
        ladder = await engine.ladder()
        born_today = (
            Members(session, tenant.id)
            .current()
            .with_only_columns(Member.id)
            .where(
                extract("month", Member.birthday) == today.month,
                extract("day", Member.birthday) == today.day,
            )
        )
        ids = list((await session.scalars(born_today)).all())
        accounts = dict(
            (
                await session.execute(
                    select(MembershipAccount.member_id, MembershipAccount.level_id).where(
                        MembershipAccount.merchant_id == tenant.id,
                        MembershipAccount.member_id.in_(ids),
                    )
                )
            ).all()
        )
        ledger = PointsLedger(session, tenant)
        for member_id in ids:
            level = ladder.by_id(accounts.get(member_id))
            if level is not None:
                due.append((member_id, ledger, f"birthday:{member_id}:{today.year}", level))
    # Accounts are locked in member id order across merchants (kit.locks).
    for member_id, ledger, key, level in sorted(due, key=lambda item: item[0]):
        if await ledger.entries.by_key(key) is not None:
            continue
        if level.birthday_points > 0:
            await ledger.earn(
                member_id,
                level.birthday_points,
                source=Source.BIRTHDAY,
                key=key,
                reason=f"happy birthday from {level.name}",
            )
            gifted += 1
    return gifted


SWEEPS = [
    Sweep("membership.expire_points", expire_points, every_seconds=60, batch_size=200),
    Sweep("membership.review_levels", review_levels, every_seconds=60, batch_size=2000),
    Sweep("membership.apply_rule_changes", apply_rule_changes, every_seconds=30, batch_size=500),
    Sweep("membership.end_plans", end_plans, every_seconds=60),
    Sweep("membership.remind_plan_renewals", remind_plan_renewals, every_seconds=300),
    Sweep("membership.birthday_gifts", birthday_gifts, every_seconds=3600),
]
