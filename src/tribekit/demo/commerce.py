"""Greenwood Fruit's shop: fruit boxes (traffic and profit products), three weekly events, level
prices, pickup points, a welcome coupon, and the orders behind the membership history.

Every demo purchase is a real order, placed and paid through the checkout services with the
clock set to when it happened, attributed to one of the buyer's groups; a few are refunded,
cancelled or left unpaid, so that the analytics to come have the whole picture.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.campaigns.coupons import service as coupons
from tribekit.campaigns.coupons.schemas import CouponCreate
from tribekit.catalog import service as catalog
from tribekit.catalog.schemas import ProductCreate
from tribekit.kit import clock
from tribekit.membership import config as membership_config
from tribekit.models.catalog import Product
from tribekit.models.membership import Level
from tribekit.orders import config
from tribekit.orders.payments import ManualProvider
from tribekit.orders.schemas import (
    AddressIn,
    Attribution,
    OrderIn,
    PickupPointIn,
    RefundIn,
)
from tribekit.orders.service import checkout, lifecycle, paying, refunds
from tribekit.tenancy.principal import Tenant

# name, price, cost, role, gold price (level price), ladder
FRUIT = [
    ("Mango box 3 kg", 5900, 4200, "traffic", None, []),
    ("Apples 5 kg", 3900, 3000, "traffic", None, []),
    ("Cherries 1 kg", 8800, 4900, "profit", 7900, []),
    ("Durian, whole", 12800, 7000, "profit", 11500, []),
    ("Orange box 4 kg", 4900, 3100, "regular", None, [(3, 4500), (6, 4200)]),
    ("Strawberries 2 kg", 6800, 4000, "regular", None, [(3, 6200)]),
]
# name, weekday (0 = Monday), hour, minute, hours long, seats, price
EVENTS = [
    ("Wednesday fruit carving class", 2, 19, 30, 2, 12, 9900),
    ("Saturday tasting", 5, 15, 0, 2, 30, 3900),
    ("Sunday orchard outing", 6, 9, 0, 6, 40, 12900),
]


@dataclass(frozen=True)
class Shop:
    fruit: list[Product]
    events: list[Product]
    pickup_points: list[uuid.UUID]


def _next(weekday: int, hour: int, minute: int, tz: str) -> datetime:
    local = clock.now().astimezone(ZoneInfo(tz))
    day = local + timedelta(days=(weekday - local.weekday()) % 7 or 7)
    return day.replace(hour=hour, minute=minute, second=0, microsecond=0)


async def seed_shop(
    session: AsyncSession, tenant: Tenant, gold: Level, leaders: list[uuid.UUID]
) -> Shop:
    fruit = []
    for name, price, cost, role, gold_price, ladder in FRUIT:
        product = await catalog.create_product(
            session,
            tenant,
            ProductCreate.model_validate(
                {
                    "name": name,
                    "price": price,
                    "cost_price": cost,
                    "role": role,
                    "category": "fruit",
                    "tags": ["fruit", role],
                    "ladder": [{"min_quantity": q, "unit_price": p} for q, p in ladder],
                }
            ),
        )
        if gold_price is not None:
            await membership_config.set_level_price(
                session, tenant, gold.id, product.id, gold_price
            )
        fruit.append(product)
    events = []
    for name, weekday, hour, minute, hours, seats, price in EVENTS:
        starts = _next(weekday, hour, minute, tenant.timezone)
        events.append(
            await catalog.create_product(
                session,
                tenant,
                ProductCreate(
                    name=name,
                    kind="event",
                    price=price,
                    stock=seats,
                    category="events",
                    starts_at=starts,
                    ends_at=starts + timedelta(hours=hours),
                    signup_deadline=starts - timedelta(hours=2),
                    place="Greenwood Fruit, 18 Garden Road",
                ),
            )
        )
    points = [
        await config.create_pickup_point(
            session,
            tenant,
            PickupPointIn(name=f"Leader point {n + 1}", address=address, leader_id=leader),
        )
        for n, (leader, address) in enumerate(
            zip(leaders, ["Block 3, Riverside Estate", "Lobby, Sunrise Tower"], strict=False)
        )
    ]
    await coupons.create_coupon(
        session,
        tenant,
        CouponCreate(code="WELCOME10", kind="percent", value=1000, min_subtotal=5000),
    )
    return Shop(fruit, events, [p.id for p in points])


class Buyer:
    """Places and pays the demo's orders."""

    def __init__(
        self,
        session: AsyncSession,
        tenant: Tenant,
        shop: Shop,
        groups_of: dict[uuid.UUID, list[tuple[uuid.UUID, str]]],
        rng: random.Random,
    ) -> None:
        self.session, self.tenant, self.shop = session, tenant, shop
        self.groups_of, self.rng = groups_of, rng
        self.paid: list[uuid.UUID] = []
        self.today = clock.now()  # history is written with the clock set back; this is now

    def _order(self, member_id: uuid.UUID, basket: int) -> OrderIn:
        rng = self.rng
        lines = [
            {"product_id": str(product.id), "quantity": rng.choice([1, 1, 1, 2, 3])}
            for product in rng.sample(self.shop.fruit, k=max(1, min(basket, 3)))
        ]
        groups = self.groups_of.get(member_id) or []
        community, channel = rng.choice(groups) if groups else (None, "web")
        fulfilment = rng.choices(["store_pickup", "leader_pickup", "delivery"], [5, 3, 2])[0]
        data: dict[str, object] = {
            "lines": lines,
            "fulfilment": fulfilment,
            "attribution": Attribution(channel=channel, community_id=community),
        }
        if fulfilment == "leader_pickup":
            if not self.shop.pickup_points:
                data["fulfilment"] = "store_pickup"
            else:
                data["pickup_point_id"] = str(rng.choice(self.shop.pickup_points))
        if fulfilment == "delivery":
            data["address"] = AddressIn(
                recipient="Demo buyer",
                line1=f"{rng.randint(1, 200)} Garden Road",
                city="Shanghai",
                country="CN",
            )
        return OrderIn.model_validate(data)

    async def buy(self, member_id: uuid.UUID, basket: int, *, pay: bool = True) -> uuid.UUID:
        placed = await checkout.place_order(
            self.session, self.tenant, member_id, self._order(member_id, basket), actor="demo"
        )
        order = placed.order
        if pay:
            await paying.record_manual_payment(
                self.session, self.tenant, order.id, reference="demo", actor="demo"
            )
            if order.placed_at > self.today - timedelta(days=3):
                return order.id  # recent orders are paid, not yet collected
            await lifecycle.complete(self.session, self.tenant, order.id, actor="demo")
            self.paid.append(order.id)
        return order.id

    async def sign_up(self, member_id: uuid.UUID, event: Product) -> None:
        order = OrderIn.model_validate(
            {"lines": [{"product_id": str(event.id), "quantity": 1}], "fulfilment": "store_pickup"}
        )
        placed = await checkout.place_order(
            self.session, self.tenant, member_id, order, actor="demo"
        )
        await paying.record_manual_payment(
            self.session, self.tenant, placed.order.id, reference="demo", actor="demo"
        )

    async def loose_ends(self, member_ids: list[uuid.UUID]) -> None:
        """A few refunds, a cancellation, unpaid orders and event sign-ups of this week."""
        rng = self.rng
        for order_id in rng.sample(self.paid, k=min(len(self.paid) // 30, 25)):
            await refunds.refund(
                self.session,
                self.tenant,
                {"manual": ManualProvider()},
                order_id,
                RefundIn(reason="damaged in transport", restock=False),
                actor="demo",
                key=f"demo-refund-{order_id}",
            )
        for member_id in rng.sample(member_ids, k=6):
            order_id = await self.buy(member_id, 1, pay=False)
            if rng.random() < 0.5:
                await lifecycle.cancel(
                    self.session, self.tenant, order_id, reason="ordered twice", actor="demo"
                )
        for event in self.shop.events:
            seats = event.stock or 0
            for member_id in rng.sample(member_ids, k=rng.randint(seats // 3, seats - 2)):
                await self.sign_up(member_id, event)
