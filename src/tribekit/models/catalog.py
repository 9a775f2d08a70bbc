"""The catalog: products (goods, events and paid plans), their stock and their price ladders.

``stock`` is what can still be sold: placing an order takes units with a conditional update
(``stock >= n``), cancelling, expiring or refunding with restock gives them back. NULL means the
product's stock is not tracked. For an event, stock is the number of free seats.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tribekit.kit import clock
from tribekit.kit.db import StrEnumText, TenantRow
from tribekit.models.enums import ProductKind


class Product(TenantRow):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("price >= 0", name="price_not_negative"),
        Index(None, "merchant_id", "sku", unique=True),
        Index(None, "merchant_id", "kind", "starts_at"),
        Index(None, "merchant_id", "id"),
        Index(None, "plan_id", unique=True),
    )

    sku: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[ProductKind] = mapped_column(
        StrEnumText(ProductKind, 8), default=ProductKind.GOODS
    )
    # Kind "plan": the paid plan this product sells. Its name, price and whether it is on sale
    # follow the plan (``catalog.service.sell_plan``); a payment grants the plan.
    plan_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("membership_plans.id"))
    role: Mapped[str] = mapped_column(String(8), default="regular")  # traffic | profit | regular
    price: Mapped[int] = mapped_column(Integer)  # regular price, minor units
    cost_price: Mapped[int | None] = mapped_column(Integer)  # for margin by role
    stock: Mapped[int | None] = mapped_column(Integer)
    # When stock tracking last started: an unpaid order placed before then took no stock, so
    # closing it gives none back (``Products.put_back``).
    stock_tracked_since: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    category: Mapped[str | None] = mapped_column(String(100))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    images: Mapped[list[str]] = mapped_column(JSON, default=list)  # URLs, in display order
    # Quantity ladder: [{"min_quantity": 5, "unit_price": 900}, ...], strictly increasing.
    ladder: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Events: when, where, and until when members may sign up; capacity is the stock.
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    place: Mapped[str | None] = mapped_column(String(300))
    signup_deadline: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)
