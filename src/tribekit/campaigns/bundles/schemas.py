"""Request and response shapes of gift packs."""

from __future__ import annotations

import uuid

from pydantic import Field

from tribekit.kit.schemas import Input, Output


class ComponentIn(Input):
    product_id: uuid.UUID = Field(description="Goods of the same merchant (not a gift pack)")
    quantity: int = Field(ge=1, le=1_000, description="Units of it in one pack")


class ComponentsIn(Input):
    components: list[ComponentIn] = Field(min_length=1, max_length=50)


class ComponentOut(Output):
    product_id: uuid.UUID
    name: str
    quantity: int
    stock: int | None
    cost_price: int | None


class ComponentsOut(Output):
    bundle_id: uuid.UUID
    components: list[ComponentOut]
    packs_in_stock: int | None = Field(
        description="Packs the components' stock (and the pack's own, when counted) make up; "
        "null when no stock is counted"
    )
    unit_cost: int | None = Field(description="The components' cost; null when one has none")
