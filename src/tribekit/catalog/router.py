"""HTTP routes of the catalog: products, their CSV import and export, their images; and
``media_router``, which serves stored media files."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile, status
from fastapi.responses import StreamingResponse

from tribekit.api.deps import API_PREFIX, Cursor, DbSession, PageLimit, State, authorized
from tribekit.api.problems import problem_doc
from tribekit.kit.errors import NotFound, TribekitError
from tribekit.kit.storage import FileStorage, InvalidKey, build_storage
from tribekit.models.catalog import Product
from tribekit.tenancy.permissions import Permission
from tribekit.tenancy.principal import Tenant

from . import csv_format, csv_io, service
from .repository import ProductFilters
from .schemas import (
    ProductCreate,
    ProductImportReport,
    ProductKind,
    ProductOut,
    ProductPage,
    ProductRole,
    ProductUpdate,
    StockAdjustment,
    StockOut,
    StockTracking,
    StockTrackingOut,
)

router = APIRouter(prefix=f"{API_PREFIX}/products", tags=["catalog"])
#: Serves stored files at ``/media/<key>``; no authentication (product images are public).
media_router = APIRouter(tags=["media"])

Reader = Annotated[Tenant, authorized(Permission.CATALOG_READ)]
Writer = Annotated[Tenant, authorized(Permission.CATALOG_WRITE)]
CSV_MEDIA_TYPES = ("text/csv", "application/csv")


class UnsupportedMediaType(TribekitError):
    status = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


class CsvResponse(StreamingResponse):
    media_type = "text/csv"


async def media_storage(request: Request) -> FileStorage:
    """The app's file storage, built from its settings on first use."""
    state = request.app.state
    storage: FileStorage | None = getattr(state, "tribekit_storage", None)
    if storage is None:
        storage = build_storage(state.tribekit.settings)
        state.tribekit_storage = storage
    return storage


Storage = Annotated[FileStorage, Depends(media_storage)]


def _out(product: Product, tenant: Tenant) -> ProductOut:
    amount, bps, warnings = service.margin_of(product, tenant.currency)
    fields = {column.key: getattr(product, column.key) for column in Product.__table__.columns}
    return ProductOut.model_validate(
        {**fields, "margin": amount, "margin_bps": bps, "warnings": warnings}
    )


async def _filters(
    kind: ProductKind | None = None,
    role: ProductRole | None = None,
    active: bool | None = None,
    category: Annotated[str | None, Query(max_length=100)] = None,
    tag: Annotated[str | None, Query(max_length=50)] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
) -> ProductFilters:
    return ProductFilters(kind, role, active, category, tag, q)


Filters = Annotated[ProductFilters, Depends(_filters)]


@router.get("", summary="List products and events, newest first, with filters")
async def list_products(
    session: DbSession,
    tenant: Reader,
    filters: Filters,
    limit: PageLimit = 50,
    cursor: Cursor = None,
) -> ProductPage:
    page = await service.list_products(session, tenant, filters, limit=limit, cursor=cursor)
    return ProductPage(items=[_out(p, tenant) for p in page.items], next_cursor=page.next_cursor)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a product or an event")
async def create_product(data: ProductCreate, session: DbSession, tenant: Writer) -> ProductOut:
    return _out(await service.create_product(session, tenant, data), tenant)


@router.get(
    "/export",
    summary="Every product (with the same filters as the list) as a CSV file",
    response_class=CsvResponse,
    responses={200: {"description": "CSV with a header row; see docs/catalog.md"}},
)
async def export_products(state: State, tenant: Reader, filters: Filters) -> CsvResponse:
    return CsvResponse(
        csv_io.export_csv(state.db, tenant, filters),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f"attachment; filename=products-{tenant.slug}.csv"},
    )


@router.post(
    "/import",
    summary="Create and update products from a CSV file (upsert by SKU)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "UTF-8 CSV with a header row; the format is in docs/catalog.md",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
    responses={415: problem_doc("The body is not sent as text/csv")},
)
async def import_products(
    request: Request,
    session: DbSession,
    tenant: Writer,
    dry_run: Annotated[bool, Query(description="Validate everything, write nothing")] = False,
    all_or_nothing: Annotated[
        bool, Query(description="Write nothing if any row has a problem")
    ] = False,
) -> ProductImportReport:
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type not in CSV_MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"send the file as the request body with 'Content-Type: text/csv' "
            f"(got {media_type or 'no content type'!r})"
        )
    text = csv_format.decode(await request.body())
    report = await csv_io.import_csv(
        session, tenant, text, dry_run=dry_run, all_or_nothing=all_or_nothing
    )
    return ProductImportReport.model_validate(report, from_attributes=True)


@router.get("/{product_id:uuid}", summary="One product or event")
async def get_product(product_id: uuid.UUID, session: DbSession, tenant: Reader) -> ProductOut:
    return _out(await service.get_product(session, tenant, product_id), tenant)


@router.patch("/{product_id:uuid}", summary="Change a product; only the fields sent change")
async def update_product(
    product_id: uuid.UUID, data: ProductUpdate, session: DbSession, tenant: Writer
) -> ProductOut:
    return _out(await service.update_product(session, tenant, product_id, data), tenant)


@router.post("/{product_id}/stock-adjustments", summary="Add or remove stock")
async def adjust_stock(
    product_id: uuid.UUID, data: StockAdjustment, session: DbSession, tenant: Writer
) -> StockOut:
    stock = await service.adjust_stock(session, tenant, product_id, data.delta)
    return StockOut(product_id=product_id, stock=stock)


@router.put(
    "/{product_id}/stock-tracking",
    summary="Start tracking stock (with the units on hand now) or stop tracking it",
)
async def set_stock_tracking(
    product_id: uuid.UUID, data: StockTracking, session: DbSession, tenant: Writer
) -> StockTrackingOut:
    product = await service.set_stock_tracking(session, tenant, product_id, data)
    return StockTrackingOut(
        product_id=product.id,
        tracked=product.stock is not None,
        stock=product.stock,
        tracked_since=product.stock_tracked_since,
    )


@router.post(
    "/{product_id}/images",
    status_code=status.HTTP_201_CREATED,
    summary="Upload an image (JPEG, PNG or WebP, at most 5 MB) and append it to the product",
)
async def upload_image(
    product_id: uuid.UUID,
    file: Annotated[UploadFile, File(description="The image; its type is read from its bytes")],
    session: DbSession,
    tenant: Writer,
    storage: Storage,
) -> ProductOut:
    data = await file.read(service.MAX_IMAGE_BYTES + 1)
    return _out(await service.add_image(session, tenant, product_id, data, storage), tenant)


@media_router.get(
    "/media/{key:path}",
    summary="A stored file, such as a product image",
    response_class=Response,
    responses={
        200: {"description": "The file", "content": {"image/*": {}}},
        404: problem_doc("No such file"),
    },
)
async def media_file(key: str, storage: Storage) -> Response:
    try:
        found = await storage.open(key)
    except InvalidKey:
        found = None
    if found is None:
        raise NotFound(f"no stored file {key[:200]!r}")
    data, content_type = found
    return Response(
        data,
        media_type=content_type,
        headers={
            # Keys are never reused (each upload gets a new one), so the file never changes.
            "Cache-Control": "public, max-age=31536000, immutable",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'",
        },
    )
