"""Catalog rules: products and events, stock adjustments."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit.db import add_unique
from tribekit.kit.errors import Conflict, ValidationFailed, field_error
from tribekit.kit.pagination import Page, paginate
from tribekit.models.catalog import Product
from tribekit.tenancy.principal import Tenant

from .repository import ProductFilters, Products
from .schemas import ProductCreate, ProductUpdate

EVENT_FIELDS = ("starts_at", "ends_at", "place", "signup_deadline")


class NotEnoughStock(Conflict):
    code = "not_enough_stock"
    title = "Not enough stock"


def _sku_taken(sku: str | None) -> str:
    return f"another product already has SKU {sku!r}; SKUs are unique per merchant"


def check_event_fields(
    kind: str,
    starts_at: datetime | None,
    ends_at: datetime | None,
    signup_deadline: datetime | None,
    place: str | None,
) -> None:
    """An event has a start; its end and sign-up deadline fit around it. Goods have none."""
    if kind == "goods":
        given = [
            name
            for name, value in zip(
                EVENT_FIELDS, (starts_at, ends_at, place, signup_deadline), strict=True
            )
            if value is not None
        ]
        if given:
            raise field_error(given[0], "only events have a time, place or sign-up deadline")
        return
    if starts_at is None:
        raise field_error("starts_at", "an event needs a start time", "missing")
    if ends_at is not None and ends_at <= starts_at:
        raise field_error("ends_at", "an event ends after it starts")
    if signup_deadline is not None and signup_deadline > (ends_at or starts_at):
        raise field_error("signup_deadline", "sign-up must close before the event ends")


def _ladder(tiers: list[object]) -> list[dict[str, int]]:
    return [tier.model_dump() for tier in tiers]  # type: ignore[attr-defined]  # LadderTier


async def create_product(session: AsyncSession, tenant: Tenant, data: ProductCreate) -> Product:
    check_event_fields(data.kind, data.starts_at, data.ends_at, data.signup_deadline, data.place)
    fields = data.model_dump(exclude={"ladder", "tags"})
    product = Product(
        **fields,
        merchant_id=tenant.id,
        ladder=_ladder(list(data.ladder)),
        tags=sorted({tag.lower() for tag in data.tags}),
    )
    await add_unique(session, _sku_taken(data.sku), product)
    return product


async def get_product(session: AsyncSession, tenant: Tenant, product_id: uuid.UUID) -> Product:
    return await Products(session, tenant.id).get_or_404(product_id)


async def list_products(
    session: AsyncSession,
    tenant: Tenant,
    filters: ProductFilters,
    *,
    limit: int,
    cursor: str | None,
) -> Page[Product]:
    stmt = Products(session, tenant.id).filtered(filters)
    if filters.tag:
        # Tags are a short JSON list; filtered in Python to stay portable across databases.
        rows = (await session.scalars(stmt.order_by(Product.id.desc()))).all()
        tagged = [row for row in rows if filters.tag.lower() in row.tags]
        return Page(items=tagged[:limit], next_cursor=None)
    return await paginate(session, stmt, key=Product.id, limit=limit, cursor=cursor)


async def update_product(
    session: AsyncSession, tenant: Tenant, product_id: uuid.UUID, data: ProductUpdate
) -> Product:
    product = await Products(session, tenant.id).get_or_404(product_id, for_update=True)
    changes = data.model_dump(exclude_unset=True)
    merged = {name: changes.get(name, getattr(product, name)) for name in EVENT_FIELDS}
    check_event_fields(product.kind, **merged)
    if "ladder" in changes:
        changes["ladder"] = _ladder(list(data.ladder or []))
    if "tags" in changes:
        changes["tags"] = sorted({tag.lower() for tag in data.tags or []})
    for name, value in changes.items():
        if name in ("name", "price", "role", "active") and value is None:
            raise field_error(name, "may not be null")
        setattr(product, name, value)
    await add_unique(session, _sku_taken(product.sku))
    return product


async def adjust_stock(
    session: AsyncSession, tenant: Tenant, product_id: uuid.UUID, delta: int
) -> int:
    """Add or remove units; refused (nothing changes) if it would leave less than zero."""
    products = Products(session, tenant.id)
    product = await products.get_or_404(product_id)
    if product.stock is None:
        raise ValidationFailed(
            f"product {product_id} does not track stock; set a stock on the product first"
        )
    stock = await products.adjust_stock(product_id, delta)
    if stock is None:
        raise NotEnoughStock(
            f"cannot remove {-delta} units: fewer are left", stock=await _stock(products, product)
        )
    return stock


async def _stock(products: Products, product: Product) -> int | None:
    await products.session.refresh(product, ["stock"])
    return product.stock
