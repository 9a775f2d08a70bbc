"""The campaign schedules' test world: a shop (Asia/Shanghai) with groups and products, its
schedules made through the API, the worker's sweeps run, and what they made."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from httpx import AsyncClient
from sqlalchemy import select

from tests.factories import Factory, Shop
from tribekit.campaigns import announcements
from tribekit.campaigns.schedules import tasks
from tribekit.kit.db import Database
from tribekit.models.broadcasts import Broadcast
from tribekit.models.campaigns import CampaignSchedule, FlashSale, GroupBuy, PromotionDay

API = "/api/v1/campaign-schedules"
CALENDAR = "/api/v1/campaign-calendar"
PUBLIC = "https://shop.example"


def flash_template(*product_ids: uuid.UUID, **fields: Any) -> dict[str, Any]:
    return {
        "kind": "flash_sale",
        "product_ids": [str(p) for p in product_ids],
        "price": fields.pop("price", None if "discount_bps" in fields else 1990),
        "quantity": fields.pop("quantity", 100),
        "per_member_limit": fields.pop("per_member_limit", 2),
        **fields,
    }


def gift_pack_template(product_id: uuid.UUID, **fields: Any) -> dict[str, Any]:
    return {
        "kind": "group_buy",
        "product_id": str(product_id),
        "tiers": [
            {"size": 2, "unit_price": 9000},
            {"size": 3, "unit_price": 8500},
            {"size": 5, "unit_price": 7500},
        ],
        "grouping": "address",
        **fields,
    }


async def products(factory: Factory, shop: Shop, *names: str, price: int = 2990) -> list[uuid.UUID]:
    return [(await factory.product(shop, name=name, price=price, stock=1000)).id for name in names]


async def schedule(
    client: AsyncClient, shop: Shop, rule: str, template: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    data = {"name": fields.pop("name", "Weeknight flash sale"), "rule": rule, "template": template}
    made = await client.post(API, json={**data, **fields}, headers=shop.headers)
    assert made.status_code == 201, made.text
    out: dict[str, Any] = made.json()
    return out


async def sweep(db: Database, horizon: timedelta = tasks.DEFAULT_HORIZON) -> int:
    """One run of the planning sweep; how many schedules it planned."""
    return await db.run(lambda session: tasks.plan_due(session, 50, horizon=horizon))


async def announce(db: Database) -> int:
    """One run of the announcements' sweep; how many moments it looked at."""
    return await db.run(lambda session: announcements.announce_due(session, 50, public_url=PUBLIC))


async def rows(db: Database, model: Any, **where: Any) -> list[Any]:
    """``model``'s rows (flash sales, group buys, promotion days, broadcasts), by start."""
    order = {
        FlashSale: (FlashSale.starts_at, FlashSale.id),
        GroupBuy: (GroupBuy.starts_at, GroupBuy.id),
        PromotionDay: (PromotionDay.starts_at, PromotionDay.id),
        Broadcast: (Broadcast.send_at, Broadcast.created_at, Broadcast.name),
    }[model]
    async with db.unit_of_work() as session:
        return list(
            (await session.scalars(select(model).filter_by(**where).order_by(*order))).all()
        )


async def schedule_row(db: Database, schedule_id: str) -> CampaignSchedule:
    async with db.unit_of_work() as session:
        row = await session.get(CampaignSchedule, uuid.UUID(schedule_id))
        assert row is not None
        return row
