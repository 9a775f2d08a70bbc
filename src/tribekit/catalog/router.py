"""HTTP routes of the catalog."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from tribekit.api.deps import API_PREFIX, Cursor, DbSession, PageLimit, authorized
from tribekit.models.catalog import Product
from tribekit.tenancy.permissions import Permission
from tribekit.tenancy.principal import Tenant

from . import service
from .repository import ProductFilters
from .schemas import (
    ProductCreate,
    ProductKind,
    ProductOut,
    ProductPage,
    ProductRole,
    ProductUpdate,
    StockAdjustment,
    StockOut,
)

router = APIRouter(prefix=f"{API_PREFIX}/products", tags=["catalog"])

Reader = Annotated[Tenant, authorized(Permission.CATALOG_READ)]
Writer = Annotated[Tenant, authorized(Permission.CATALOG_WRITE)]


def _out(product: Product) -> ProductOut:
    return ProductOut.model_validate(product, from_attributes=True)


@router.get("", summary="List products and events, newest first, with filters")
async def list_products(
    session: DbSession,
    tenant: Reader,
    limit: PageLimit = 50,
    cursor: Cursor = None,
    kind: ProductKind | None = None,
    role: ProductRole | None = None,
    active: bool | None = None,
    category: Annotated[str | None, Query(max_length=100)] = None,
    tag: Annotated[str | None, Query(max_length=50)] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
) -> ProductPage:
    filters = ProductFilters(kind, role, active, category, tag, q)
    page = await service.list_products(session, tenant, filters, limit=limit, cursor=cursor)
    return ProductPage(items=[_out(p) for p in page.items], next_cursor=page.next_cursor)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a product or an event")
async def create_product(data: ProductCreate, session: DbSession, tenant: Writer) -> ProductOut:
    return _out(await service.create_product(session, tenant, data))


@router.get("/{product_id}", summary="One product or event")
async def get_product(product_id: uuid.UUID, session: DbSession, tenant: Reader) -> ProductOut:
    return _out(await service.get_product(session, tenant, product_id))


@router.patch("/{product_id}", summary="Change a product; only the fields sent change")
async def update_product(
    product_id: uuid.UUID, data: ProductUpdate, session: DbSession, tenant: Writer
) -> ProductOut:
    return _out(await service.update_product(session, tenant, product_id, data))


@router.post("/{product_id}/stock-adjustments", summary="Add or remove stock")
async def adjust_stock(
    product_id: uuid.UUID, data: StockAdjustment, session: DbSession, tenant: Writer
) -> StockOut:
    stock = await service.adjust_stock(session, tenant, product_id, data.delta)
    return StockOut(product_id=product_id, stock=stock)
