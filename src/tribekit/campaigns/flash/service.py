"""Flash sales: made (``check_create`` validates, ``do_create`` writes), changed and cancelled
before they start, read with their counts; the live state pages and the robot show; and the
purchase of one member, the burst's one request (``purchase``).

The campaign schedules make their occurrences with ``do_create`` too, naming the schedule and
the occurrence: each occurrence becomes one sale, whichever worker gets there first (the
unique ``(schedule_id, occurrence_key)`` decides, by an insert that does nothing on conflict).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.catalog.repository import Products
from tribekit.kit import clock
from tribekit.kit.errors import FieldProblem, NotFound
from tribekit.kit.ids import new_id
from tribekit.models.campaigns import FlashSale
from tribekit.models.communities import Community
from tribekit.models.enums import ProductKind
from tribekit.models.membership import Level
from tribekit.tenancy.principal import Tenant

from .engine import SaleStatus
from .errors import BadFlashSale
from .spec import FlashSaleSpec

NAME_MAX = 200
#: A reservation is kept at least a minute and at most a day before its units come back.
TTL_RANGE = (60, 86_400)
#: Units one sale may allot, and one member may hold of it.
QUANTITY_MAX = 1_000_000
ANNOUNCE_MOMENTS = frozenset({"before", "start", "sold_out", "result"})


# -- validating ---------------------------------------------------------------------------------


def _bad(field_name: str, message: str) -> BadFlashSale:
    return BadFlashSale(
        f"{field_name}: {message}",
        errors=[FieldProblem(("body", field_name), message, BadFlashSale.code)],
    )


async def _check_ids(
    session: AsyncSession,
    tenant: Tenant,
    model: type[Community] | type[Level],
    ids: Sequence[uuid.UUID],
    noun: str,
) -> None:
    """Each id names a row of this merchant; another merchant's is answered like a missing one."""
    if not ids:
        return
    found = set(
        (
            await session.scalars(
                select(model.id).where(model.merchant_id == tenant.id, model.id.in_(set(ids)))
            )
        ).all()
    )
    missing = next((i for i in ids if i not in found), None)
    if missing is not None:
        raise NotFound(f"no {noun} with id {missing} at this merchant")


def _check_values(spec: FlashSaleSpec, *, now: datetime) -> None:
    if spec.name is not None and not 1 <= len(spec.name.strip()) <= NAME_MAX:
        raise _bad("name", f"1 to {NAME_MAX} characters")
    if spec.price < 0:
        raise _bad("price", "a price in minor units, 0 or more")
    if not 1 <= spec.quantity <= QUANTITY_MAX:
        raise _bad("quantity", f"1 to {QUANTITY_MAX} units")
    if not 1 <= spec.per_member_limit <= spec.quantity:
        raise _bad("per_member_limit", f"1 to the sale's quantity ({spec.quantity})")
    if not TTL_RANGE[0] <= spec.reservation_ttl_seconds <= TTL_RANGE[1]:
        raise _bad("reservation_ttl_seconds", f"{TTL_RANGE[0]} to {TTL_RANGE[1]} seconds")
    for name, when in (("starts_at", spec.starts_at), ("ends_at", spec.ends_at)):
        if when.tzinfo is None:
            raise _bad(name, "give a time zone (e.g. 2026-12-01T20:00:00+08:00 or ...Z)")
    if spec.ends_at <= spec.starts_at:
        raise _bad("ends_at", "must be after starts_at")
    if spec.ends_at <= now:
        raise _bad("ends_at", "is in the past: a sale must end in the future")
    if spec.announce_before_seconds < 0:
        raise _bad("announce_before_seconds", "0 or more seconds")
    unknown = set(spec.announcements) - ANNOUNCE_MOMENTS
    if unknown:
        moments = ", ".join(sorted(ANNOUNCE_MOMENTS))
        raise _bad("announcements", f"unknown moment {sorted(unknown)[0]!r}; one of {moments}")
    for moment, texts in spec.announcements.items():
        if not isinstance(texts, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in texts.items()
        ):
            raise _bad(f"announcements.{moment}", "texts by language: {'en': '...'}")


async def check_create(session: AsyncSession, tenant: Tenant, spec: FlashSaleSpec) -> None:
    """A 4xx for a sale that cannot be made: a product, community or level not of this merchant
    (404); a product that is not goods on sale, a negative price, no units, a limit above the
    quantity, an end before the start or in the past, unknown announcement moments (422)."""
    _check_values(spec, now=clock.now())
    product = await Products(session, tenant.id).get(spec.product_id)
    if product is None:
        raise NotFound(f"no product with id {spec.product_id} at this merchant")
    if product.kind != ProductKind.GOODS:
        raise _bad("product_id", f"{product.name!r} is a {product.kind}; flash sales sell goods")
    if not product.active:
        raise _bad("product_id", f"{product.name!r} is not on sale; activate it first")
    await _check_ids(session, tenant, Community, spec.community_ids, "community")
    await _check_ids(session, tenant, Level, spec.level_ids, "level")


# -- writing ------------------------------------------------------------------------------------


async def _product_name(session: AsyncSession, tenant: Tenant, product_id: uuid.UUID) -> str:
    product = await Products(session, tenant.id).get(product_id)
    return product.name if product is not None else "Flash sale"


def _values(spec: FlashSaleSpec) -> dict[str, Any]:
    return {
        "product_id": spec.product_id,
        "price": spec.price,
        "quantity": spec.quantity,
        "per_member_limit": spec.per_member_limit,
        "reservation_ttl_seconds": spec.reservation_ttl_seconds,
        "starts_at": spec.starts_at,
        "ends_at": spec.ends_at,
        "community_ids": [str(i) for i in spec.community_ids],
        "level_ids": [str(i) for i in spec.level_ids],
        "announcements": dict(spec.announcements),
        "announce_before_seconds": spec.announce_before_seconds,
        "due_at": spec.starts_at,
    }


async def do_create(
    session: AsyncSession,
    tenant: Tenant,
    spec: FlashSaleSpec,
    created_by: str,
    *,
    schedule_id: uuid.UUID | None = None,
    occurrence_key: str | None = None,
) -> FlashSale | None:
    """Write the sale (checked by ``check_create``), ``scheduled`` until ``starts_at``, when
    the worker starts it. None when ``schedule_id``'s ``occurrence_key`` has its sale already
    (an insert that does nothing on conflict: two workers making one occurrence make one)."""
    name = spec.name.strip() if spec.name and spec.name.strip() else None
    if name is None:
        name = await _product_name(session, tenant, spec.product_id)
    now = clock.now()
    values = {
        "id": new_id(),
        "merchant_id": tenant.id,
        "name": name[:NAME_MAX],
        **_values(spec),
        "allotted": 0,
        "remaining": 0,
        "returned": 0,
        "status": SaleStatus.SCHEDULED.value,
        "engine": "sql",
        "announced": [],
        "schedule_id": schedule_id,
        "occurrence_key": occurrence_key,
        "version": 1,
        "created_by": created_by[:100],
        "created_at": now,
    }
    if schedule_id is not None and occurrence_key is not None:
        dialect = session.get_bind().dialect.name
        upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt: Any = (
            upsert(FlashSale)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["schedule_id", "occurrence_key"])
        )
    else:
        stmt = insert(FlashSale).values(**values)
    result = await session.execute(stmt.returning(FlashSale.id))
    made = result.scalar_one_or_none()
    if made is None:
        return None
    sale = await session.get(FlashSale, made)
    assert sale is not None  # just inserted in this transaction
    return sale


async def create(
    session: AsyncSession, tenant: Tenant, spec: FlashSaleSpec, *, created_by: str
) -> FlashSale:
    """Check, then write a sale made by staff."""
    await check_create(session, tenant, spec)
    sale = await do_create(session, tenant, spec, created_by)
    assert sale is not None  # only a schedule's occurrence can exist already
    return sale
