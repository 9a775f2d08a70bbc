"""A shop with a product for flash sales, and helpers that make sales through the API, move
them with the worker's sweeps, and buy with flash tokens."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from httpx import AsyncClient, Response
from sqlalchemy import select

from tests.conftest import SECRET, test_settings
from tests.factories import Factory, Shop
from tribekit.campaigns.flash import runtime as flash_runtime
from tribekit.campaigns.flash import tasks, tokens
from tribekit.campaigns.flash.runtime import FlashRuntime
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.membership import config
from tribekit.membership.schemas import LevelCreate
from tribekit.models.campaigns import FlashReservation, FlashSale, FlashTake
from tribekit.models.catalog import Product
from tribekit.models.communities import Community, CommunityMember
from tribekit.models.enums import Channel, CommunityStatus
from tribekit.models.members import Member


@dataclass(frozen=True)
class FlashShop:
    shop: Shop
    product: Product  # 99.00 regular, stock as asked


async def flash_shop(db: Database, factory: Factory, *, stock: int | None = 50) -> FlashShop:
    shop = await factory.shop()
    product = await factory.product(
        shop, name="Durian box", price=9900, stock=stock, cost_price=6000
    )
    return FlashShop(shop, product)


def runtime_of(db: Database) -> FlashRuntime:
    return flash_runtime.shared(db, None, test_settings(db), SECRET)


def sale_body(world: FlashShop, **fields: Any) -> dict[str, Any]:
    now = clock.now()
    body: dict[str, Any] = {
        "product_id": str(world.product.id),
        "price": 4900,
        "quantity": 10,
        "per_member_limit": 2,
        "starts_at": (now - timedelta(seconds=1)).isoformat(),
        "ends_at": (now + timedelta(hours=2)).isoformat(),
    }
    body.update(fields)
    return body


async def create_sale(client: AsyncClient, world: FlashShop, **fields: Any) -> dict[str, Any]:
    made = await client.post(
        "/api/v1/flash-sales", json=sale_body(world, **fields), headers=world.shop.headers
    )
    assert made.status_code == 201, made.text
    sale: dict[str, Any] = made.json()
    return sale


async def start_sales(db: Database) -> int:
    runtime = runtime_of(db)
    handled = 0
    while await db.run(lambda session: tasks.start_due(session, runtime, 1)):
        handled += 1
    return handled


async def end_sales(db: Database) -> int:
    runtime = runtime_of(db)
    handled = 0
    while await db.run(lambda session: tasks.end_due(session, runtime, 1)):
        handled += 1
    return handled


async def expire_reservations(db: Database, batch: int = 500) -> int:
    handled = 0
    while True:
        done = await db.run(lambda session: tasks.expire_due(session, batch))
        handled += done
        if done < batch:
            return handled


async def live_sale(client: AsyncClient, db: Database, world: FlashShop, **fields: Any) -> str:
    """A sale made and started: live now."""
    sale = await create_sale(client, world, **fields)
    assert await start_sales(db) == 1
    runtime_of(db).live.forget(uuid.UUID(sale["id"]))
    return str(sale["id"])


def flash_headers(
    shop: Shop,
    member_id: uuid.UUID,
    *,
    level_id: uuid.UUID | None = None,
    communities: Iterable[uuid.UUID] = (),
) -> dict[str, str]:
    token, _ = tokens.sign(SECRET, shop.tenant.id, member_id, level_id, frozenset(communities))
    return {"Authorization": f"Bearer {token}"}


async def buy(client: AsyncClient, sale_id: str, headers: dict[str, str], **body: Any) -> Response:
    return await client.post(f"/api/v1/flash-sales/{sale_id}/purchase", json=body, headers=headers)


async def sale_row(db: Database, sale_id: str) -> FlashSale:
    async with db.unit_of_work(read_only=True) as session:
        found = await session.get(FlashSale, uuid.UUID(sale_id))
    assert found is not None
    return found


async def stock(db: Database, product: Product) -> int | None:
    async with db.unit_of_work(read_only=True) as session:
        return await session.scalar(select(Product.stock).where(Product.id == product.id))


async def reservations(db: Database, sale_id: str) -> list[FlashReservation]:
    async with db.unit_of_work(read_only=True) as session:
        rows = await session.scalars(
            select(FlashReservation).where(FlashReservation.sale_id == uuid.UUID(sale_id))
        )
        return list(rows.all())


async def takes(db: Database, sale_id: str) -> dict[uuid.UUID, int]:
    async with db.unit_of_work(read_only=True) as session:
        rows = await session.execute(
            select(FlashTake.member_id, FlashTake.taken).where(
                FlashTake.sale_id == uuid.UUID(sale_id)
            )
        )
        return {row.member_id: row.taken for row in rows.all()}


def later(seconds: float) -> datetime:
    return clock.now() + timedelta(seconds=seconds)


_chat = itertools.count(-9000, -1)


async def group(db: Database, shop: Shop, name: str, *members: uuid.UUID) -> uuid.UUID:
    """A web group of ``shop`` with ``members`` in it."""
    async with db.unit_of_work() as session:
        row = Community(
            merchant_id=shop.tenant.id,
            name=name,
            channel=Channel.WEB,
            external_id=str(next(_chat)),
            status=CommunityStatus.ACTIVE,
        )
        session.add(row)
        await session.flush()
        session.add_all(
            CommunityMember(merchant_id=shop.tenant.id, community_id=row.id, member_id=m)
            for m in members
        )
        return row.id


async def level(db: Database, shop: Shop, name: str, rank: int) -> uuid.UUID:
    async with db.unit_of_work() as session:
        made = await config.create_level(session, shop.tenant, LevelCreate(name=name, rank=rank))
        return made.id


async def many_members(db: Database, shop: Shop, n: int) -> list[uuid.UUID]:
    """``n`` members of ``shop``, written in one go."""
    rows = [
        Member(merchant_id=shop.tenant.id, display_name=f"Buyer {i}", source="store_qr")
        for i in range(n)
    ]
    async with db.unit_of_work() as session:
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]
