"""Catalog queries. Stock only moves through conditional updates: never read-then-write. Every
statement that locks a product row first asks ``kit.locks`` (rank PRODUCT, in product id order)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, or_, select, true, update

from tribekit.kit import locks
from tribekit.kit.repository import TenantRepository
from tribekit.models.catalog import Product
from tribekit.models.membership import LevelPrice


@dataclass(frozen=True)
class ProductFilters:
    kind: str | None = None
    role: str | None = None
    active: bool | None = None
    category: str | None = None
    tag: str | None = None
    q: str | None = None


class Products(TenantRepository[Product]):
    model = Product
    noun = "product"
    lock_rank = locks.Rank.PRODUCT

    def filtered(self, filters: ProductFilters) -> Select[Any]:
        stmt = self.select()
        if filters.kind:
            stmt = stmt.where(Product.kind == filters.kind)
        if filters.role:
            stmt = stmt.where(Product.role == filters.role)
        if filters.active is not None:
            stmt = stmt.where(Product.active.is_(filters.active))
        if filters.category:
            stmt = stmt.where(Product.category == filters.category)
        if filters.q:
            like = f"%{filters.q.lower()}%"
            stmt = stmt.where(or_(Product.name.ilike(like), Product.sku.ilike(like)))
        return stmt

    async def of_plan(self, plan_id: uuid.UUID) -> Product | None:
        """The product that sells a paid plan (``catalog.service.sell_plan``)."""
        product: Product | None = await self.session.scalar(
            self.select().where(Product.plan_id == plan_id)
        )
        return product

    async def by_ids(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, Product]:
        rows = await self.session.scalars(self.select().where(Product.id.in_(set(ids))))
        return {row.id: row for row in rows}

    async def by_sku(self, skus: list[str]) -> dict[str, Product]:
        rows = await self.session.scalars(self.select().where(Product.sku.in_(set(skus))))
        return {row.sku: row for row in rows if row.sku is not None}

    async def take_stock(self, product_id: uuid.UUID, quantity: int) -> bool:
        """Take ``quantity`` units if that many are left (or stock is untracked). One statement:
        the database decides, so concurrent buyers can never take the last unit twice."""
        locks.acquire(self.session, locks.Rank.PRODUCT, [product_id])
        result = await self.session.execute(
            update(Product)
            .where(
                Product.merchant_id == self.merchant_id,
                Product.id == product_id,
                or_(Product.stock.is_(None), Product.stock >= quantity),
            )
            .values(stock=Product.stock - quantity)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]  # DML results have it

    async def put_back(
        self, quantities: Mapping[uuid.UUID, int], *, placed_at: datetime | None = None
    ) -> None:
        """Return units to stock, products in id order (no deadlock between two returns).

        With ``placed_at`` (an unpaid order closing), only products whose stock was tracked when
        the order was placed get units back: an order placed before tracking started took none.
        Without it (goods that came back), every tracked product does."""
        locks.acquire(self.session, locks.Rank.PRODUCT, quantities)
        took = (
            or_(Product.stock_tracked_since.is_(None), Product.stock_tracked_since <= placed_at)
            if placed_at is not None
            else true()
        )
        for product_id in sorted(quantities):
            await self.session.execute(
                update(Product)
                .where(
                    Product.merchant_id == self.merchant_id,
                    Product.id == product_id,
                    Product.stock.is_not(None),
                    took,
                )
                .values(stock=Product.stock + quantities[product_id])
                .execution_options(synchronize_session=False)
            )

    async def start_tracking(self, product_id: uuid.UUID, stock: int, at: datetime) -> bool:
        """Start counting stock at ``stock`` units, only if it is not counted yet: two starts at
        once cannot both set a count (the second would overwrite sales made meanwhile)."""
        locks.acquire(self.session, locks.Rank.PRODUCT, [product_id])
        result = await self.session.execute(
            update(Product)
            .where(
                Product.merchant_id == self.merchant_id,
                Product.id == product_id,
                Product.stock.is_(None),
            )
            .values(stock=stock, stock_tracked_since=at)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]  # DML results have it

    async def stop_tracking(self, product_id: uuid.UUID) -> None:
        locks.acquire(self.session, locks.Rank.PRODUCT, [product_id])
        await self.session.execute(
            update(Product)
            .where(Product.merchant_id == self.merchant_id, Product.id == product_id)
            .values(stock=None, stock_tracked_since=None)
            .execution_options(synchronize_session=False)
        )

    async def adjust_stock(self, product_id: uuid.UUID, delta: int) -> int | None:
        """Add ``delta`` (may be negative) unless the result would go below zero; the new stock,
        or None when refused."""
        locks.acquire(self.session, locks.Rank.PRODUCT, [product_id])
        result = await self.session.execute(
            update(Product)
            .where(
                Product.merchant_id == self.merchant_id,
                Product.id == product_id,
                Product.stock.is_not(None),
                Product.stock + delta >= 0,
            )
            .values(stock=Product.stock + delta)
            .returning(Product.stock)
            .execution_options(synchronize_session=False)
        )
        return result.scalar_one_or_none()

    async def level_prices(
        self, product_ids: list[uuid.UUID], level_id: uuid.UUID
    ) -> dict[uuid.UUID, int]:
        rows = await self.session.execute(
            select(LevelPrice.product_id, LevelPrice.price).where(
                LevelPrice.merchant_id == self.merchant_id,
                LevelPrice.level_id == level_id,
                LevelPrice.product_id.in_(set(product_ids)),
            )
        )
        return dict(rows.all())
