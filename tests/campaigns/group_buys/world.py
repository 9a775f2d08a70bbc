"""A shop with a gift pack sold by group buy (scenario 4's Friday: 2 people 90.00 each, 3
people 85.00, 5 people 75.00), and helpers that join, pay, leave and close through the
services, each in its own unit of work as the API and the worker run them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from tests.factories import Factory, Shop
from tribekit.campaigns.group_buys import closing, joining, service
from tribekit.campaigns.group_buys.joining import Joined
from tribekit.campaigns.group_buys.schemas import JoinIn
from tribekit.campaigns.group_buys.spec import GroupBuySpec, Tier
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.models.campaigns import GroupBuy, GroupBuyParticipant, GroupBuyTeam
from tribekit.models.catalog import Product
from tribekit.models.orders import Order, OrderLine
from tribekit.orders.payments.manual import ManualProvider
from tribekit.orders.service import paying

FRIDAY = (Tier(2, 9000), Tier(3, 8500), Tier(5, 7500))
PROVIDERS = {"manual": ManualProvider()}


@dataclass(frozen=True)
class World:
    shop: Shop
    product: Product  # 100.00 regular, cost 60.00


async def world(db: Database, factory: Factory, *, stock: int | None = None) -> World:
    shop = await factory.shop()
    product = await factory.product(
        shop, name="Fruit gift pack", price=10_000, cost_price=6000, stock=stock
    )
    return World(shop, product)


async def make(db: Database, w: World, tiers: Sequence[Tier] = FRIDAY, **fields: Any) -> GroupBuy:
    now = clock.now()
    values: dict[str, Any] = {
        "product_id": w.product.id,
        "tiers": tuple(tiers),
        "starts_at": now - timedelta(seconds=1),
        "deadline": now + timedelta(hours=3),
    }
    values.update(fields)
    async with db.unit_of_work() as session:
        return await service.create(session, w.shop.tenant, GroupBuySpec(**values), "test")


async def member(factory: Factory, w: World, name: str | None = None) -> uuid.UUID:
    fields = {"display_name": name} if name else {}
    return (await factory.member(w.shop, **fields)).member.id


async def join(
    db: Database, w: World, member_id: uuid.UUID, group_buy: GroupBuy, **data: Any
) -> Joined:
    async with db.unit_of_work() as session:
        return await joining.join(
            session,
            w.shop.tenant,
            member_id,
            group_buy.id,
            JoinIn(**data),
            actor=f"member:{member_id}",
        )


async def pay(db: Database, w: World, order_id: uuid.UUID) -> None:
    async with db.unit_of_work() as session:
        await paying.record_manual_payment(
            session, w.shop.tenant, order_id, reference=None, actor="staff"
        )


async def leave(db: Database, w: World, member_id: uuid.UUID, group_buy: GroupBuy) -> None:
    async with db.unit_of_work() as session:
        await joining.leave(
            session, w.shop.tenant, PROVIDERS, member_id, group_buy.id, actor="member"
        )


async def close(db: Database, group_buy: GroupBuy) -> int:
    """Move the deadline into the past and run the worker's steps until nothing is due."""
    async with db.unit_of_work() as session:
        row = await session.get(GroupBuy, group_buy.id)
        assert row is not None
        row.deadline = clock.now() - timedelta(seconds=1)
        row.due_at = row.deadline
    steps = 0

    async def one(session: Any) -> int:
        found = await closing.claim(session)
        if found is None:
            return 0
        await closing.step(session, PROVIDERS, found)
        return 1

    while await db.run(one):
        steps += 1
    return steps


async def kept(db: Database, team_id: uuid.UUID) -> int:
    """What the shop keeps of a team's orders: the lines' totals less what was refunded."""
    async with db.unit_of_work(read_only=True) as session:
        total = await session.scalar(
            select(func.coalesce(func.sum(OrderLine.total - OrderLine.refunded_amount), 0))
            .join(Order, Order.id == OrderLine.order_id)
            .join(GroupBuyParticipant, GroupBuyParticipant.order_id == Order.id)
            .where(GroupBuyParticipant.team_id == team_id, Order.status != "cancelled")
        )
        return int(total or 0)


async def team(db: Database, team_id: uuid.UUID) -> GroupBuyTeam:
    async with db.unit_of_work(read_only=True) as session:
        found = await session.get(GroupBuyTeam, team_id)
        assert found is not None
        return found


async def participants(db: Database, team_id: uuid.UUID) -> list[GroupBuyParticipant]:
    async with db.unit_of_work(read_only=True) as session:
        rows = await session.scalars(
            select(GroupBuyParticipant)
            .where(GroupBuyParticipant.team_id == team_id)
            .order_by(GroupBuyParticipant.joined_at, GroupBuyParticipant.id)
        )
        return list(rows.all())


async def order(db: Database, order_id: uuid.UUID) -> Order:
    async with db.unit_of_work(read_only=True) as session:
        found = await session.get(Order, order_id)
        assert found is not None
        return found


async def stock(db: Database, product_id: uuid.UUID) -> int | None:
    async with db.unit_of_work(read_only=True) as session:
        found = await session.get(Product, product_id)
        assert found is not None
        return found.stock
