"""A shop ready to sell: scenario 7's levels, a few products, members; helpers that place and pay
orders through the REST API."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from typing import Any

from httpx import AsyncClient, Response

from tests.factories import Factory, Shop
from tests.membership.ladder import Ladder, scenario_7
from tribekit.kit.db import Database
from tribekit.membership import service as membership
from tribekit.membership.ledger import Source
from tribekit.models.catalog import Product

_keys = itertools.count(1)


def key() -> str:
    return f"k-{next(_keys)}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Store:
    shop: Shop
    ladder: Ladder
    mango: Product  # 10.00, stock 5, traffic
    cherries: Product  # 50.00, untracked stock, profit, ladder 5+: 45.00, 10+: 40.00

    def headers(self, idempotency_key: str | None = None) -> dict[str, str]:
        extra = {"Idempotency-Key": idempotency_key or key()}
        return {**self.shop.headers, **extra}


async def open_store(db: Database, factory: Factory) -> Store:
    shop = await factory.shop()
    ladder = await scenario_7(db, shop)
    mango = await factory.product(
        shop, name="Mango box", price=1000, stock=5, role="traffic", cost_price=700
    )
    cherries = await factory.product(
        shop,
        name="Cherries 1 kg",
        price=5000,
        role="profit",
        cost_price=2500,
        ladder=[{"min_quantity": 5, "unit_price": 4500}, {"min_quantity": 10, "unit_price": 4000}],
    )
    return Store(shop, ladder, mango, cherries)


async def give_points(db: Database, store: Store, member_id: uuid.UUID, points: int) -> None:
    async with db.unit_of_work() as session:
        await membership.earn_points(
            session, store.shop.tenant, member_id, points, source=Source.MANUAL, key=key()
        )


def cart(*lines: tuple[Product, int], **extra: Any) -> dict[str, Any]:
    return {
        "lines": [{"product_id": str(p.id), "quantity": q} for p, q in lines],
        **extra,
    }


async def place(
    client: AsyncClient,
    store: Store,
    member_id: uuid.UUID,
    *lines: tuple[Product, int],
    idempotency_key: str | None = None,
    **extra: Any,
) -> Response:
    body = {"member_id": str(member_id), **cart(*lines, **extra)}
    return await client.post("/api/v1/orders", json=body, headers=store.headers(idempotency_key))


async def pay(client: AsyncClient, store: Store, order_id: str) -> Response:
    return await client.post(
        f"/api/v1/orders/{order_id}/payments",
        json={"provider": "manual", "reference": "cash"},
        headers=store.headers(),
    )
