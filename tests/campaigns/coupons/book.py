"""Helpers of the coupon tests: coupons made through the staff API, members acting for
themselves with a member link, gift packs (products of kind bundle)."""

from __future__ import annotations

import uuid
from typing import Any

from httpx import AsyncClient
from sqlalchemy import update

from tests.factories import Factory, Shop
from tribekit.kit.db import Database
from tribekit.models.catalog import Product
from tribekit.models.enums import ProductKind


async def make_coupon(client: AsyncClient, shop: Shop, **fields: Any) -> dict[str, Any]:
    body = {"kind": "amount", "value": 500, **fields}
    created = await client.post("/api/v1/coupons", json=body, headers=shop.headers)
    assert created.status_code == 201, created.text
    coupon: dict[str, Any] = created.json()
    return coupon


async def member_headers(client: AsyncClient, shop: Shop, member_id: uuid.UUID) -> dict[str, str]:
    """The member's own credentials: a signed member link, as the shop sends it."""
    link = await client.post(f"/api/v1/members/{member_id}/access-links", headers=shop.headers)
    assert link.status_code in (200, 201), link.text
    return {"Authorization": f"Bearer {link.json()['token']}"}


async def gift_pack(db: Database, factory: Factory, shop: Shop, **fields: Any) -> Product:
    """A product of kind bundle (gift packs are made by their own part of campaigns; here only
    the kind matters)."""
    product = await factory.product(shop, **fields)
    async with db.unit_of_work() as session:
        await session.execute(
            update(Product).where(Product.id == product.id).values(kind=ProductKind.BUNDLE)
        )
    return product
