"""Greenwood Fruit's membership program: the four levels of scenario 7, fourteen months of
orders, check-ins and redemptions in the points ledger, and a few Black card holders.

History is written through the real services with the clock set to when each thing happened,
so points earn, climb levels and expire exactly as they would have.
"""

from __future__ import annotations

import contextlib
import random
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock
from tribekit.membership import config, plans, service
from tribekit.membership.ledger import InsufficientPoints, PointsLedger, Source
from tribekit.membership.levels import LevelEngine
from tribekit.membership.schemas import LevelCreate, LevelUpdate, PlanCreate
from tribekit.models.membership import Level, MembershipPlan
from tribekit.tenancy.principal import Tenant

HISTORY_DAYS = 425
BLACK_CARD_HOLDERS = 12


def _earned(points: int) -> dict[str, Any]:
    window = {"kind": "rolling_months", "months": 12}
    return {"metric": "points_earned", "at_least": points, "window": window}


async def seed_levels(session: AsyncSession, tenant: Tenant) -> tuple[list[Level], MembershipPlan]:
    """The four levels of scenario 7 and the Black card."""
    levels: list[dict[str, Any]] = [
        {"name": "Member", "rank": 0},
        {
            "name": "Silver",
            "rank": 1,
            "rule": _earned(1000),
            "discount_bps": 500,
            "entry_reward_points": 100,
        },
        {
            "name": "Gold",
            "rank": 2,
            "rule": _earned(5000),
            "discount_bps": 1000,
            "points_multiplier_bps": 20_000,
            "event_discount_bps": 2000,
            "entry_reward_points": 300,
            "birthday_points": 200,
        },
        {
            "name": "Black",
            "rank": 3,
            "discount_bps": 1500,
            "points_multiplier_bps": 20_000,
            "event_discount_bps": 3000,
            "free_shipping": True,
            "birthday_points": 500,
        },
    ]
    created = [
        await config.create_level(session, tenant, LevelCreate.model_validate(level))
        for level in levels
    ]
    card = await config.create_plan(
        session,
        tenant,
        PlanCreate(name="Black card", level_id=created[-1].id, price=19900, duration_months=12),
    )
    paid = LevelUpdate.model_validate({"rule": {"metric": "paid_plan", "plan_id": str(card.id)}})
    await config.update_level(session, tenant, created[-1].id, paid)
    return created, card


def _history(rng: random.Random, member_ids: list[uuid.UUID]) -> list[tuple[float, int, str]]:
    """(days ago, member index, what) for every event, oldest first. A few members buy big
    every month, most now and then, some never."""
    events: list[tuple[float, int, str]] = []
    for index in range(len(member_ids)):
        habit, basket = rng.choices([(0, 0), (0.002, 1), (0.006, 3), (0.03, 5)], [30, 40, 22, 8])[0]
        for day in range(HISTORY_DAYS):
            if rng.random() < habit:
                events.append((HISTORY_DAYS - day - rng.random(), index, f"purchase:{basket}"))
        if habit and rng.random() < 0.3:
            events.append((rng.uniform(1, 120), index, "check_in"))
        if basket >= 3 and rng.random() < 0.4:
            events.append((rng.uniform(1, 60), index, "redeem"))
    return sorted(events, reverse=True)


async def seed_history(
    session: AsyncSession,
    tenant: Tenant,
    member_ids: list[uuid.UUID],
    rng: random.Random,
    progress: Callable[[int], None],
    *,
    card: MembershipPlan,
    buy: Callable[[uuid.UUID, int], Awaitable[object]],
) -> None:
    """Fourteen months of orders (``buy`` places and pays one), check-ins and redemptions,
    the Black card sales, then the expiries and level reviews that came due."""
    now = clock.now()
    for n, (days_ago, index, what) in enumerate(_history(rng, member_ids)):
        member_id = member_ids[index]
        with clock.frozen_at(now - timedelta(days=days_ago)):
            if what.startswith("purchase"):
                await buy(member_id, int(what.partition(":")[2]))
            elif what == "check_in":
                await service.earn_points(
                    session,
                    tenant,
                    member_id,
                    20,
                    source=Source.CHECK_IN,
                    key=f"demo-check-in-{n}",
                    reason="Saturday tasting",
                )
            else:
                with contextlib.suppress(InsufficientPoints):  # points may just have expired
                    await PointsLedger(session, tenant).spend(
                        member_id,
                        500,
                        source=Source.REWARD,
                        key=f"demo-redeem-{n}",
                        ref="Greenwood tote bag",
                    )
    for member_id in rng.sample(member_ids, k=BLACK_CARD_HOLDERS):
        with clock.frozen_at(now - timedelta(days=rng.randint(1, 300))):
            await plans.grant(
                session, tenant, member_id, card, ref=f"demo-card-{member_id}", actor="demo"
            )
    for member_id in member_ids:  # expire what came due, then review levels whose period ended
        await PointsLedger(session, tenant).expire_due(member_id)
        progress(1)
    await LevelEngine(session, tenant).review_due()
