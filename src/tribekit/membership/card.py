"""The member card: what a member sees about themselves (profile, level and how far the next one
is, points, benefits, plans), and the membership part of a member's data export."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit.errors import NotFound
from tribekit.kit.pagination import Page
from tribekit.members.repository import Members
from tribekit.models.catalog import Product
from tribekit.models.membership import (
    Level,
    MembershipAccount,
    MembershipPlan,
    PlanSubscription,
    PointsEntry,
)
from tribekit.tenancy.principal import Tenant

from . import service
from .levels import Ladder
from .rules import Facts, Step, explain, progress_bps, steps


@dataclass(frozen=True)
class Profile:
    display_name: str
    phone: str | None
    email: str | None
    birthday: date | None
    joined_at: datetime
    marketing_consent: bool


@dataclass(frozen=True)
class Progress:
    """What the next level needs and how far the member is along it."""

    level: Level
    rule: str  # the rule in words, with the member's figures
    progress_bps: int
    steps: list[Step]


@dataclass(frozen=True)
class PlanOnSale:
    plan: MembershipPlan
    product_id: uuid.UUID
    level: Level


async def plans_on_sale(session: AsyncSession, tenant: Tenant) -> list[PlanOnSale]:
    """The merchant's plans on sale with the product that sells each, cheapest first."""
    stmt = (
        select(MembershipPlan, Product.id, Level)
        .join(Product, Product.plan_id == MembershipPlan.id)
        .join(Level, Level.id == MembershipPlan.level_id)
        .where(MembershipPlan.merchant_id == tenant.id, MembershipPlan.active.is_(True))
        .order_by(MembershipPlan.price, MembershipPlan.name)
    )
    rows = await session.execute(stmt)
    return [PlanOnSale(plan, product_id, level) for plan, product_id, level in rows]


@dataclass(frozen=True)
class Card:
    member_id: uuid.UUID
    currency: str
    profile: Profile
    standing: service.Standing
    progress: Progress | None  # None at the highest level
    balance: int
    expiring: list[tuple[datetime, int]]
    benefits: list[service.Benefit]
    plans: list[tuple[PlanSubscription, MembershipPlan]]
    plans_on_sale: list[PlanOnSale]


async def _profile(session: AsyncSession, tenant: Tenant, member_id: uuid.UUID) -> Profile:
    member = await Members(session, tenant.id).get_current(member_id)
    if member is None:
        raise NotFound(f"no member with id {member_id} at this merchant")
    return Profile(
        member.display_name,
        member.phone,
        member.email,
        member.birthday,
        member.joined_at,
        member.marketing_consent,
    )


def progress(ladder: Ladder, level: Level | None, facts: Facts) -> Progress | None:
    """The next level above ``level`` with a rule activity can meet, and how far the member is
    along that rule; None when no higher level can be reached by activity."""
    rank = level.rank if level is not None else -(2**31)
    for candidate in ladder.levels:
        rule = ladder.rules[candidate.id]
        if candidate.rank > rank and rule is not None:
            return Progress(
                candidate, explain(rule, facts), progress_bps(rule, facts), steps(rule, facts)
            )
    return None


async def card(session: AsyncSession, tenant: Tenant, member_id: uuid.UUID) -> Card:
    profile = await _profile(session, tenant, member_id)
    balance, expiring = await service.points_balance(session, tenant, member_id)
    standing = await service.member_level(session, tenant, member_id)
    _, benefits = await service.member_benefits(session, tenant, member_id, standing)
    assert standing.ladder is not None  # member_level sets both
    assert standing.facts is not None
    return Card(
        member_id=member_id,
        currency=tenant.currency,
        profile=profile,
        standing=standing,
        progress=progress(standing.ladder, standing.level, standing.facts),
        balance=balance,
        expiring=expiring,
        benefits=benefits,
        plans=await service.member_plans(session, tenant, member_id),
        plans_on_sale=await plans_on_sale(session, tenant),
    )


async def points(
    session: AsyncSession,
    tenant: Tenant,
    member_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[int, list[tuple[datetime, int]], Page[PointsEntry]]:
    """Balance, upcoming expiries and one page of the history, newest first."""
    balance, expiring = await service.points_balance(session, tenant, member_id)
    page = await service.points_history(session, tenant, member_id, limit=limit, cursor=cursor)
    return balance, expiring, page


async def export_summary(
    session: AsyncSession, tenant: Tenant, member_id: uuid.UUID
) -> dict[str, Any]:
    """The member's membership in words, for their data export (the rows are exported too)."""
    account = await session.scalar(
        select(MembershipAccount).where(
            MembershipAccount.merchant_id == tenant.id, MembershipAccount.member_id == member_id
        )
    )
    standing = await service.member_level(session, tenant, member_id)
    plans = await service.member_plans(session, tenant, member_id)
    return {
        "points_balance": account.balance if account else 0,
        "level": standing.level.name if standing.level else None,
        "level_since": standing.since.isoformat() if standing.since else None,
        "level_why": standing.why,
        "plans": [
            {
                "plan": plan.name,
                "status": sub.status,
                "starts_at": sub.starts_at.isoformat(),
                "ends_at": sub.ends_at.isoformat(),
            }
            for sub, plan in plans
        ],
    }
