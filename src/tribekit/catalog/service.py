"""Catalog rules: products and events, stock adjustments, product images."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock
from tribekit.kit.db import add_unique
from tribekit.kit.errors import Conflict, PayloadTooLarge, ValidationFailed, field_error
from tribekit.kit.ids import new_id
from tribekit.kit.pagination import Page, paginate
from tribekit.kit.storage import FileStorage, sniff_image
from tribekit.models.catalog import Product
from tribekit.models.enums import ProductKind
from tribekit.models.membership import MembershipPlan
from tribekit.pricing import margin
from tribekit.tenancy.principal import Tenant

from .repository import ProductFilters, Products
from .schemas import ProductCreate, ProductUpdate, StockTracking

EVENT_FIELDS = ("starts_at", "ends_at", "place", "signup_deadline")
MAX_IMAGES = 20  # as ProductFields.images allows
MAX_IMAGE_BYTES = 5 * 1024 * 1024


class NotEnoughStock(Conflict):
    code = "not_enough_stock"
    title = "Not enough stock"


class UnsupportedImage(ValidationFailed):
    code = "unsupported_image"
    title = "Not a JPEG, PNG or WebP image"


class ImageTooLarge(PayloadTooLarge):
    code = "image_too_large"
    title = "Image too large"


class TooManyImages(Conflict):
    code = "too_many_images"
    title = "The product has as many images as it may have"


def _sku_taken(sku: str | None) -> str:
    return f"another product already has SKU {sku!r}; SKUs are unique per merchant"


def check_event_fields(
    kind: str,
    starts_at: datetime | None,
    ends_at: datetime | None,
    signup_deadline: datetime | None,
    place: str | None,
) -> None:
    """An event has a start; its end and sign-up deadline fit around it. Goods and plans have
    none."""
    if kind != ProductKind.EVENT:
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


class SoldByPlan(ValidationFailed):
    code = "sold_by_plan"
    title = "This product sells a paid plan: change it through the plan"


#: What staff may change on a plan's product; the rest follows the plan.
PLAN_PRODUCT_FIELDS = frozenset({"description", "images", "category", "tags", "role", "cost_price"})


def _check_plan_product_change(product: Product, changes: dict[str, object]) -> None:
    refused = sorted(set(changes) - PLAN_PRODUCT_FIELDS)
    if refused:
        raise SoldByPlan(
            f"{refused[0]}: product {product.name!r} sells a paid plan; change its name, price "
            f"or sale through PATCH /api/v1/membership/plans/{product.plan_id}",
            fields=refused,
        )


def _refuse_stock_of_plan(product: Product) -> None:
    if product.kind == ProductKind.PLAN:
        raise SoldByPlan(f"product {product.name!r} sells a paid plan, which has no stock")


async def sell_plan(session: AsyncSession, tenant: Tenant, plan: MembershipPlan) -> Product:
    """The product that sells ``plan`` through checkout, made with the plan and kept in step
    with it: the plan's name and price, on sale while the plan is. No stock: a plan never
    runs out."""
    products = Products(session, tenant.id)
    product = await products.of_plan(plan.id)
    if product is None:
        product = Product(
            merchant_id=tenant.id,
            kind=ProductKind.PLAN,
            plan_id=plan.id,
            role="regular",
            stock=None,
            ladder=[],
            tags=[],
            images=[],
        )
        session.add(product)
    product.name = plan.name
    product.price = plan.price
    product.active = plan.active
    await session.flush()
    return product


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
    if product.kind == ProductKind.PLAN:
        _check_plan_product_change(product, changes)
    merged = {name: changes.get(name, getattr(product, name)) for name in EVENT_FIELDS}
    check_event_fields(product.kind, **merged)
    if "ladder" in changes:
        changes["ladder"] = _ladder(list(data.ladder or []))
    if "tags" in changes:
        changes["tags"] = sorted({tag.lower() for tag in data.tags or []})
    for name, value in changes.items():
        if name in ("name", "price", "role", "active", "images") and value is None:
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
    _refuse_stock_of_plan(product)
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


def check_image(data: bytes) -> tuple[str, str]:
    """``(content type, extension)`` of an uploadable image, judged by its bytes alone."""
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageTooLarge(
            f"the image is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB; send a smaller one"
        )
    sniffed = sniff_image(data)
    if sniffed is None:
        raise UnsupportedImage(
            "the file is not a JPEG, PNG or WebP image (judged by its content, not by its name "
            "or declared type)"
        )
    return sniffed


async def add_image(
    session: AsyncSession,
    tenant: Tenant,
    product_id: uuid.UUID,
    data: bytes,
    storage: FileStorage,
) -> Product:
    """Store an image and append its URL to the product's images. The product row is locked, so
    concurrent uploads each keep their image. (A file stored by a request whose transaction then
    fails stays in storage, unreferenced.)"""
    content_type, extension = check_image(data)
    product = await Products(session, tenant.id).get_or_404(product_id, for_update=True)
    if len(product.images) >= MAX_IMAGES:
        raise TooManyImages(
            f"product {product_id} has {MAX_IMAGES} images already; remove one first "
            "(PATCH the product's images)"
        )
    key = f"products/{tenant.id}/{product.id}/{new_id()}.{extension}"
    url = await storage.save(key, data, content_type)
    product.images = [*product.images, url]
    return product


class StockAlreadyTracked(Conflict):
    code = "stock_already_tracked"
    title = "The product's stock is tracked already"


async def set_stock_tracking(
    session: AsyncSession, tenant: Tenant, product_id: uuid.UUID, data: StockTracking
) -> Product:
    """Start tracking stock with the units on hand now, or stop tracking it (stopping twice is
    the same as once). Starting is refused while stock is tracked: correct it with a stock
    adjustment, which adds to what concurrent sales left instead of overwriting it."""
    products = Products(session, tenant.id)
    product = await products.get_or_404(product_id)
    _refuse_stock_of_plan(product)
    if data.track:
        assert data.stock is not None  # the schema requires it
        if not await products.start_tracking(product_id, data.stock, clock.now()):
            raise StockAlreadyTracked(
                f"product {product_id} tracks its stock already ({await _stock(products, product)}"
                " units); add or remove units with a stock adjustment",
                stock=product.stock,
            )
    else:
        await products.stop_tracking(product_id)
    await session.refresh(product, ["stock", "stock_tracked_since"])
    return product


def margin_of(product: Product, currency: str) -> tuple[int | None, int | None, list[str]]:
    """(price - cost, that in basis points of the price, warnings about prices below cost)."""
    cost = product.cost_price
    warnings = margin.price_warnings(product.price, cost, "price", currency)
    for tier in product.ladder:
        warnings += margin.price_warnings(
            int(tier["unit_price"]),
            cost,
            f"ladder price from {tier['min_quantity']} units",
            currency,
        )
    if cost is None:
        return None, None, warnings
    got = margin.of(product.price, cost, currency)
    return got.amount, got.bps, warnings
