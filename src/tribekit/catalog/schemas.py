"""API shapes of the catalog. Amounts are integer minor units of the merchant's currency."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from tribekit.kit.schemas import Input, Output, UtcDatetime

MAX_AMOUNT = 10**9  # 10,000,000.00 in a two-decimal currency; a per-item price
ProductKind = Literal["goods", "event", "plan", "bundle"]
#: What staff create here; a plan's product is made with its plan (``/membership/plans``). A
#: gift pack (``bundle``) gets its components at ``PUT /products/{id}/components``.
NewProductKind = Literal["goods", "event", "bundle"]
ProductRole = Literal["traffic", "profit", "regular"]


class LadderTier(Input):
    min_quantity: int = Field(ge=1, le=1_000_000, examples=[5])
    unit_price: int = Field(ge=0, le=MAX_AMOUNT, examples=[900])


def check_ladder(ladder: list[LadderTier] | None) -> None:
    if ladder:
        steps = [tier.min_quantity for tier in ladder]
        if steps != sorted(set(steps)):
            raise ValueError("ladder: tiers must be listed by strictly increasing min_quantity")


class ProductFields(Input):
    sku: str | None = Field(default=None, min_length=1, max_length=64, examples=["BOX-MANGO"])
    description: str | None = Field(default=None, max_length=20_000)
    role: ProductRole = Field(
        default="regular", description="traffic (draws people in) / profit / regular"
    )
    cost_price: int | None = Field(default=None, ge=0, le=MAX_AMOUNT, examples=[3000])
    stock: int | None = Field(
        default=None, ge=0, le=10**9, description="Units left to sell; null: not tracked"
    )
    active: bool = True
    category: str | None = Field(default=None, min_length=1, max_length=100)
    tags: list[str] = Field(default_factory=list, max_length=30)
    images: list[str] = Field(default_factory=list, max_length=20, description="Image URLs")
    ladder: list[LadderTier] = Field(
        default_factory=list, max_length=20, description="Quantity ladder, e.g. 5+: 9.00 each"
    )
    starts_at: UtcDatetime | None = None
    ends_at: UtcDatetime | None = None
    place: str | None = Field(default=None, min_length=1, max_length=300)
    signup_deadline: UtcDatetime | None = None


class ProductCreate(ProductFields):
    name: str = Field(min_length=1, max_length=200, examples=["Mango box 3 kg"])
    kind: NewProductKind = "goods"
    price: int = Field(ge=0, le=MAX_AMOUNT, examples=[5900], description="Regular price")

    @model_validator(mode="after")
    def _consistent(self) -> ProductCreate:
        check_ladder(self.ladder)
        return self


class ProductUpdate(Input):
    """Only the fields sent change; stock changes go through stock adjustments."""

    sku: str | None = Field(default=None, min_length=1, max_length=64)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=20_000)
    role: ProductRole | None = None
    price: int | None = Field(default=None, ge=0, le=MAX_AMOUNT)
    cost_price: int | None = Field(default=None, ge=0, le=MAX_AMOUNT)
    active: bool | None = None
    category: str | None = Field(default=None, min_length=1, max_length=100)
    tags: list[str] | None = Field(default=None, max_length=30)
    images: list[str] | None = Field(default=None, max_length=20)
    ladder: list[LadderTier] | None = Field(default=None, max_length=20)
    starts_at: UtcDatetime | None = None
    ends_at: UtcDatetime | None = None
    place: str | None = Field(default=None, min_length=1, max_length=300)
    signup_deadline: UtcDatetime | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ProductUpdate:
        check_ladder(self.ladder)
        return self


class StockAdjustment(Input):
    delta: int = Field(ge=-(10**9), le=10**9, description="Units to add (negative: remove)")
    reason: str = Field(min_length=1, max_length=300, examples=["delivery from the farm"])


class StockOut(Output):
    product_id: uuid.UUID
    stock: int


class StockTracking(Input):
    """Start tracking a product's stock (with the units on hand now) or stop tracking it."""

    track: bool
    stock: int | None = Field(
        default=None, ge=0, le=10**9, description="Units on hand now; required to start"
    )

    @model_validator(mode="after")
    def _stock_iff_tracking(self) -> StockTracking:
        if self.track and self.stock is None:
            raise ValueError("stock: give the units on hand now to start tracking")
        if not self.track and self.stock is not None:
            raise ValueError("stock: leave it out to stop tracking")
        return self


class StockTrackingOut(Output):
    product_id: uuid.UUID
    tracked: bool
    stock: int | None
    tracked_since: datetime | None = Field(
        description="When tracking last started through the API; null when not tracked or "
        "tracked since the product was created"
    )


class ProductOut(Output):
    id: uuid.UUID
    sku: str | None
    name: str
    description: str | None
    kind: ProductKind
    plan_id: uuid.UUID | None = Field(
        description="Kind plan: the paid membership plan this product sells"
    )
    role: ProductRole
    price: int
    cost_price: int | None
    stock: int | None
    active: bool
    category: str | None
    tags: list[str]
    images: list[str]
    ladder: list[LadderTier]
    starts_at: datetime | None
    ends_at: datetime | None
    place: str | None
    signup_deadline: datetime | None
    created_at: datetime
    updated_at: datetime
    margin: int | None = Field(
        description="price - cost_price, minor units; null without a cost price"
    )
    margin_bps: int | None = Field(description="margin / price in basis points")
    warnings: list[str] = Field(
        description="Prices below the cost price (allowed, e.g. for a traffic product)"
    )


class ProductPage(Output):
    items: list[ProductOut]
    next_cursor: str | None


class ImportProblem(Output):
    row: int = Field(description="Line in the file; the header is line 1", examples=[3])
    column: str = Field(description="The CSV column, or 'row' for the row as a whole")
    message: str = Field(examples=["'45.001' has more decimals than CNY allows"])


class ProductImportReport(Output):
    """What a CSV import did (or, on a dry run, would do)."""

    rows: int = Field(description="Data rows read (blank lines not counted)")
    created: int
    updated: int
    unchanged: int
    failed: int = Field(description="Rows with at least one problem; they are never written")
    saved: bool = Field(
        description="Whether the changes counted were saved: false on a dry run, and when "
        "all_or_nothing met a failed row"
    )
    problems: list[ImportProblem]
