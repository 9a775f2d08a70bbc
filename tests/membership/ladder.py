"""The levels of scenario 7, built through the real service: Member, Silver (1,000 points earned
in the last 12 months), Gold (5,000; points doubled) and the paid Black card (199.00 a year)."""

from __future__ import annotations

from dataclasses import dataclass

from tests.factories import Shop
from tribekit.kit.db import Database
from tribekit.membership import config
from tribekit.membership.schemas import LevelCreate, LevelUpdate, PlanCreate
from tribekit.models.membership import Level, MembershipPlan

LAST_12_MONTHS = {"kind": "rolling_months", "months": 12}


@dataclass(frozen=True)
class Ladder:
    member: Level
    silver: Level
    gold: Level
    black: Level
    black_card: MembershipPlan


def earned(points: int) -> dict[str, object]:
    return {"metric": "points_earned", "at_least": points, "window": LAST_12_MONTHS}


async def scenario_7(db: Database, shop: Shop, *, rewards: bool = False) -> Ladder:
    async with db.unit_of_work() as session:
        tenant = shop.tenant
        member = await config.create_level(session, tenant, LevelCreate(name="Member", rank=0))
        silver = await config.create_level(
            session,
            tenant,
            LevelCreate.model_validate(
                {
                    "name": "Silver",
                    "rank": 1,
                    "rule": earned(1000),
                    "discount_bps": 500,
                    "entry_reward_points": 50 if rewards else 0,
                }
            ),
        )
        gold = await config.create_level(
            session,
            tenant,
            LevelCreate.model_validate(
                {
                    "name": "Gold",
                    "rank": 2,
                    "rule": earned(5000),
                    "discount_bps": 1000,
                    "points_multiplier_bps": 20_000,
                    "event_discount_bps": 2000,
                    "entry_reward_points": 200 if rewards else 0,
                }
            ),
        )
        black = await config.create_level(
            session,
            tenant,
            LevelCreate(name="Black", rank=3, discount_bps=1500, free_shipping=True),
        )
        card = await config.create_plan(
            session,
            tenant,
            PlanCreate(name="Black card", level_id=black.id, price=19900, duration_months=12),
        )
        black = await config.update_level(
            session,
            tenant,
            black.id,
            LevelUpdate.model_validate({"rule": {"metric": "paid_plan", "plan_id": str(card.id)}}),
        )
    return Ladder(member, silver, gold, black, card)
