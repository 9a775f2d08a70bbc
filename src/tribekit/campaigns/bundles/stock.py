"""What selling a gift pack does to stock, as checkout and the stock returns meet it.

A pack (a product of kind ``bundle``) takes its own stock when that is counted (how many packs
are made up) and, always, every component's ``quantity`` x packs, in the same transaction and
by the same conditional updates as any product (``Products.take_stock``, products in id order):
one component short refuses the whole order, so no pack is ever sold without all its parts.
Giving stock back (an unpaid order closed, goods refunded with restock) gives back the same
parts. A pack's components do not change once it is sold (``service.do_set_components``), so
the parts given back are the parts taken.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit.errors import Conflict, ValidationFailed
from tribekit.models.campaigns import BundleComponent
from tribekit.models.catalog import Product
from tribekit.models.enums import ProductKind

#: A pack's components: (component product id, units per pack), in component id order.
Parts = tuple[tuple[uuid.UUID, int], ...]


class GiftPackEmpty(ValidationFailed):
    code = "gift_pack_empty"
    title = "The gift pack has no components"


class GiftPackChanged(Conflict):
    code = "gift_pack_changed"
    title = "The gift pack's components changed while ordering"


@dataclass(frozen=True)
class Packs:
    """The gift packs of a cart: their components and the components' cost prices."""

    parts: Mapping[uuid.UUID, Parts] = field(default_factory=dict)
    costs: Mapping[uuid.UUID, int | None] = field(default_factory=dict)
    names: Mapping[uuid.UUID, str] = field(default_factory=dict)

    def unit_cost(self, product: Product) -> int | None:
        """A pack's cost is its components' (None when one has no cost price); any other
        product's is its own cost price."""
        parts = self.parts.get(product.id)
        if parts is None:
            return product.cost_price
        costs = [self.costs.get(part_id) for part_id, _ in parts]
        if any(cost is None for cost in costs):
            return None
        return sum((cost or 0) * quantity for cost, (_, quantity) in zip(costs, parts, strict=True))

    def with_components(self, ordered: Mapping[uuid.UUID, int]) -> Counter[uuid.UUID]:
        """The units to take by product: what was ordered plus each pack's components."""
        wanted: Counter[uuid.UUID] = Counter(ordered)
        for product_id, packs in ordered.items():
            for part_id, quantity in self.parts.get(product_id, ()):
                wanted[part_id] += quantity * packs
        return wanted

    def needed_for(
        self,
        product_id: uuid.UUID,
        ordered: Mapping[uuid.UUID, int],
        products: Mapping[uuid.UUID, Product],
    ) -> str:
        """Which packs of the order need ``product_id`` (for the refusal's message)."""
        needs = [
            f"{packs} x {products[pack_id].name!r} need {quantity * packs}"
            for pack_id, packs in ordered.items()
            for part_id, quantity in self.parts.get(pack_id, ())
            if part_id == product_id and pack_id in products
        ]
        return f" (gift packs: {'; '.join(needs)})" if needs else ""


async def parts_of(
    session: AsyncSession, merchant_id: uuid.UUID, product_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Parts]:
    """The components of those of ``product_ids`` that are gift packs with components."""
    ids = set(product_ids)
    if not ids:
        return {}
    rows = await session.execute(
        select(BundleComponent.bundle_id, BundleComponent.product_id, BundleComponent.quantity)
        .where(BundleComponent.merchant_id == merchant_id, BundleComponent.bundle_id.in_(ids))
        .order_by(BundleComponent.bundle_id, BundleComponent.product_id)
    )
    found: dict[uuid.UUID, list[tuple[uuid.UUID, int]]] = defaultdict(list)
    for bundle_id, part_id, quantity in rows.all():
        found[bundle_id].append((part_id, quantity))
    return {bundle_id: tuple(parts) for bundle_id, parts in found.items()}


async def packs(
    session: AsyncSession, merchant_id: uuid.UUID, bundle_ids: list[uuid.UUID]
) -> Packs:
    """The components of the packs ``bundle_ids``; a pack without any cannot be sold."""
    if not bundle_ids:
        return Packs()
    parts = await parts_of(session, merchant_id, bundle_ids)
    empty = sorted(set(bundle_ids) - set(parts))
    if empty:
        raise GiftPackEmpty(
            f"gift pack {empty[0]} has no components yet; "
            f"set them: PUT /api/v1/products/{empty[0]}/components"
        )
    part_ids = {part_id for each in parts.values() for part_id, _ in each}
    rows = await session.execute(
        select(Product.id, Product.cost_price, Product.name).where(
            Product.merchant_id == merchant_id, Product.id.in_(part_ids)
        )
    )
    found = rows.all()
    return Packs(
        parts=parts,
        costs={row.id: row.cost_price for row in found},
        names={row.id: row.name for row in found},
    )


async def check_unchanged(session: AsyncSession, merchant_id: uuid.UUID, priced: Packs) -> None:
    """Refuse (409, try again) when a pack's components are no longer those priced: read once
    the pack's row is locked, so a change can no longer slip in before the order commits."""
    if not priced.parts:
        return
    now = await parts_of(session, merchant_id, priced.parts)
    if now != dict(priced.parts):
        raise GiftPackChanged(
            "a gift pack's components changed while this order was placed; place it again"
        )


async def with_parts(
    session: AsyncSession, merchant_id: uuid.UUID, units: Mapping[uuid.UUID, int]
) -> Counter[uuid.UUID]:
    """``units`` by product plus the components of the packs among them (stock given back)."""
    return Packs(parts=await parts_of(session, merchant_id, units)).with_components(units)


def is_pack(product: Product) -> bool:
    return product.kind == ProductKind.BUNDLE
