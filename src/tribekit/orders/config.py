"""The merchant's checkout settings and pickup points."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit.db import add_unique
from tribekit.kit.errors import field_error
from tribekit.members.repository import Members
from tribekit.models.orders import CheckoutSettings, PickupPoint
from tribekit.tenancy.principal import Tenant

from .repository import PickupPoints, checkout_settings
from .schemas import CheckoutSettingsUpdate, PickupPointIn


async def order_settings(session: AsyncSession, tenant: Tenant) -> CheckoutSettings:
    return await checkout_settings(session, tenant.id)


async def update_order_settings(
    session: AsyncSession, tenant: Tenant, data: CheckoutSettingsUpdate
) -> CheckoutSettings:
    settings = await checkout_settings(session, tenant.id)
    for name, value in data.model_dump(exclude_unset=True).items():
        if value is None and name != "store_pickup_address":
            raise field_error(name, "may not be null")
        setattr(settings, name, value)
    await session.merge(settings)
    await session.flush()
    return settings


async def list_pickup_points(session: AsyncSession, tenant: Tenant) -> list[PickupPoint]:
    stmt = PickupPoints(session, tenant.id).select().order_by(PickupPoint.name)
    return list((await session.scalars(stmt)).all())


async def _check_leader(session: AsyncSession, tenant: Tenant, leader_id: uuid.UUID | None) -> None:
    if leader_id is not None and await Members(session, tenant.id).get_current(leader_id) is None:
        raise field_error("leader_id", "no member with this id at this merchant", "not_found")


async def create_pickup_point(
    session: AsyncSession, tenant: Tenant, data: PickupPointIn
) -> PickupPoint:
    await _check_leader(session, tenant, data.leader_id)
    point = PickupPoint(merchant_id=tenant.id, **data.model_dump())
    await add_unique(session, f"a pickup point is already called {data.name!r}", point)
    return point


async def update_pickup_point(
    session: AsyncSession, tenant: Tenant, point_id: uuid.UUID, data: PickupPointIn
) -> PickupPoint:
    point = await PickupPoints(session, tenant.id).get_or_404(point_id, for_update=True)
    await _check_leader(session, tenant, data.leader_id)
    for name, value in data.model_dump().items():
        setattr(point, name, value)
    await add_unique(session, f"a pickup point is already called {data.name!r}")
    return point
