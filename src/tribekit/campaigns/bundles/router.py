"""HTTP routes of gift packs: a pack's components, set and read by staff with the catalog's
permissions (a pack is a product)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter

from tribekit.api.deps import API_PREFIX, DbSession, authorized
from tribekit.api.problems import problem_doc
from tribekit.tenancy.permissions import Permission
from tribekit.tenancy.principal import Tenant

from . import service
from .schemas import ComponentOut, ComponentsIn, ComponentsOut

router = APIRouter(prefix=f"{API_PREFIX}/products", tags=["catalog"])

Reader = Annotated[Tenant, authorized(Permission.CATALOG_READ)]
Writer = Annotated[Tenant, authorized(Permission.CATALOG_WRITE)]

_SOLD: dict[int | str, dict[str, Any]] = {
    409: problem_doc("`gift_pack_sold`: the pack has been ordered; make a new pack instead")
}


def _out(found: service.Components) -> ComponentsOut:
    return ComponentsOut(
        bundle_id=found.bundle.id,
        components=[
            ComponentOut(
                product_id=p.id,
                name=p.name,
                quantity=quantity,
                stock=p.stock,
                cost_price=p.cost_price,
            )
            for p, quantity in found.parts
        ],
        packs_in_stock=found.packs_in_stock,
        unit_cost=found.unit_cost,
    )


@router.put(
    "/{product_id}/components",
    summary="Set a gift pack's components (goods and units per pack)",
    responses=_SOLD,
)
async def set_components(
    product_id: uuid.UUID, data: ComponentsIn, session: DbSession, tenant: Writer
) -> ComponentsOut:
    return _out(await service.set_components(session, tenant, product_id, data.components))


@router.get("/{product_id}/components", summary="A gift pack's components and packs in stock")
async def get_components(
    product_id: uuid.UUID, session: DbSession, tenant: Reader
) -> ComponentsOut:
    return _out(await service.get_components(session, tenant, product_id))
