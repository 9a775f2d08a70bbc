"""Gift packs: a product of kind ``bundle`` sold as a set of other products.

``check_components`` validates a pack's components (goods of the same merchant, not packs,
each once, at least one unit per pack); ``do_set_components`` replaces them. A pack's
components are fixed once it has been sold, so that what its orders give back to stock is what
they took (``stock.py``): to sell another set, make another pack. The change locks the pack's
product row and checks for sales under that lock, and checkout reads the components again
after locking the same row, so neither can slip past the other.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.catalog.repository import Products
from tribekit.kit.errors import Conflict, field_error
from tribekit.models.campaigns import BundleComponent
from tribekit.models.catalog import Product
from tribekit.models.enums import ProductKind
from tribekit.models.orders import OrderLine
from tribekit.tenancy.principal import Tenant

from . import stock
from .schemas import ComponentIn


class GiftPackSold(Conflict):
    code = "gift_pack_sold"
    title = "The gift pack has been sold: its components are fixed"


@dataclass(frozen=True)
class Components:
    bundle: Product
    parts: list[tuple[Product, int]]  # component, units per pack; in component id order

    @property
    def packs_in_stock(self) -> int | None:
        counts = [p.stock // quantity for p, quantity in self.parts if p.stock is not None]
        if self.bundle.stock is not None:
            counts.append(self.bundle.stock)
        return min(counts) if counts else None

    @property
    def unit_cost(self) -> int | None:
        costs = [p.cost_price for p, _ in self.parts]
        if not self.parts or any(c is None for c in costs):
            return None
        return sum((p.cost_price or 0) * quantity for p, quantity in self.parts)


async def _bundle(session: AsyncSession, tenant: Tenant, bundle_id: uuid.UUID) -> Product:
    product = await Products(session, tenant.id).get_or_404(bundle_id)
    if product.kind != ProductKind.BUNDLE:
        raise field_error(
            "product_id",
            f"{product.name!r} is a {product.kind.value}, not a gift pack; make a product of "
            "kind 'bundle'",
        )
    return product


async def check_components(
    session: AsyncSession, tenant: Tenant, bundle_id: uuid.UUID, components: list[ComponentIn]
) -> None:
    await _bundle(session, tenant, bundle_id)
    seen: set[uuid.UUID] = set()
    found = await Products(session, tenant.id).by_ids([c.product_id for c in components])
    for index, component in enumerate(components):
        loc = f"components.{index}.product_id"
        if component.product_id in seen:
            raise field_error(loc, "listed twice: give one line per product with its quantity")
        seen.add(component.product_id)
        if component.product_id == bundle_id:
            raise field_error(loc, "a gift pack cannot contain itself")
        product = found.get(component.product_id)
        if product is None:
            raise field_error(loc, f"no product with id {component.product_id} at this merchant")
        if product.kind != ProductKind.GOODS:
            raise field_error(
                loc, f"{product.name!r} is a {product.kind.value}; a gift pack holds goods only"
            )


async def do_set_components(
    session: AsyncSession, tenant: Tenant, bundle_id: uuid.UUID, components: list[ComponentIn]
) -> Components:
    """Replace the pack's components, unless it has been sold (409 ``gift_pack_sold``)."""
    await Products(session, tenant.id).lock_in_order([bundle_id])
    sold = await session.scalar(
        select(
            exists().where(OrderLine.merchant_id == tenant.id, OrderLine.product_id == bundle_id)
        )
    )
    if sold:
        raise GiftPackSold(
            "this gift pack has been ordered, so its components stay as they are (its orders "
            "give back what they took); make a new gift pack with the new components"
        )
    await session.execute(
        delete(BundleComponent).where(
            BundleComponent.merchant_id == tenant.id, BundleComponent.bundle_id == bundle_id
        )
    )
    session.add_all(
        BundleComponent(
            merchant_id=tenant.id,
            bundle_id=bundle_id,
            product_id=c.product_id,
            quantity=c.quantity,
        )
        for c in components
    )
    await session.flush()
    return await get_components(session, tenant, bundle_id)


async def set_components(
    session: AsyncSession, tenant: Tenant, bundle_id: uuid.UUID, components: list[ComponentIn]
) -> Components:
    await check_components(session, tenant, bundle_id, components)
    return await do_set_components(session, tenant, bundle_id, components)


async def get_components(session: AsyncSession, tenant: Tenant, bundle_id: uuid.UUID) -> Components:
    bundle = await _bundle(session, tenant, bundle_id)
    parts = (await stock.parts_of(session, tenant.id, [bundle_id])).get(bundle_id, ())
    products = await Products(session, tenant.id).by_ids([p for p, _ in parts])
    return Components(bundle, [(products[p], quantity) for p, quantity in parts])
