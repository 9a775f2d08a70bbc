"""Flash sales: made (``check_create`` validates, ``do_create`` writes), changed and cancelled
before they start, read with their counts; the live state pages and the robot show; and the
purchase of one member, the burst's one request (``purchase``).

The campaign schedules make their occurrences with ``do_create`` too, naming the schedule and
the occurrence: each occurrence becomes one sale, whichever worker gets there first (the
unique ``(schedule_id, occurrence_key)`` decides, by an insert that does nothing on conflict).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.catalog.repository import Products
from tribekit.kit import clock, locks
from tribekit.kit.db import Database
from tribekit.kit.errors import FieldProblem, NotFound, PermissionDenied
from tribekit.kit.ids import new_id
from tribekit.kit.pagination import Page, paginate
from tribekit.models.campaigns import FlashReservation, FlashSale
from tribekit.models.communities import Community
from tribekit.models.enums import ProductKind
from tribekit.models.membership import Level
from tribekit.tenancy.principal import Tenant

from .engine import SELLING, Attempt, LiveSale, Refusal, Reserved, SaleStatus
from .errors import BadFlashSale, SaleStarted, refused
from .runtime import FlashRuntime
from .spec import FlashSaleSpec
from .tokens import FlashClaims

NAME_MAX = 200
#: A reservation is kept at least a minute and at most a day before its units come back.
TTL_RANGE = (60, 86_400)
#: Units one sale may allot, and one member may hold of it.
QUANTITY_MAX = 1_000_000
ANNOUNCE_MOMENTS = frozenset({"before", "start", "sold_out", "result"})
#: How long paying a reservation waits for its order to be written (the Redis engine's drain).
ORDER_WAIT = timedelta(seconds=5)


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


# -- changing and cancelling before the start ---------------------------------------------------


def spec_of(sale: FlashSale) -> FlashSaleSpec:
    """The spec a sale was made from (as it is now)."""
    return FlashSaleSpec(
        product_id=sale.product_id,
        price=sale.price,
        quantity=sale.quantity,
        starts_at=sale.starts_at,
        ends_at=sale.ends_at,
        per_member_limit=sale.per_member_limit,
        reservation_ttl_seconds=sale.reservation_ttl_seconds,
        name=sale.name,
        community_ids=tuple(uuid.UUID(i) for i in sale.community_ids),
        level_ids=tuple(uuid.UUID(i) for i in sale.level_ids),
        announcements=dict(sale.announcements),
        announce_before_seconds=sale.announce_before_seconds,
    )


async def _row(
    session: AsyncSession, tenant: Tenant, sale_id: uuid.UUID, *, for_update: bool = False
) -> FlashSale:
    stmt = select(FlashSale).where(FlashSale.merchant_id == tenant.id, FlashSale.id == sale_id)
    if for_update:
        locks.acquire(session, locks.Rank.CAMPAIGN, [sale_id])
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    sale = await session.scalar(stmt)
    if sale is None:
        raise NotFound(f"no flash sale with id {sale_id} at this merchant")
    return sale


def _not_started(sale: FlashSale, action: str) -> None:
    if sale.status != SaleStatus.SCHEDULED:
        raise SaleStarted(
            f"flash sale {sale.name!r} is {sale.status}; it can be {action} only before it starts",
            sale_status=sale.status,
        )


async def update(
    session: AsyncSession, tenant: Tenant, sale_id: uuid.UUID, changes: dict[str, Any]
) -> FlashSale:
    """Change a sale that has not started (``changes``: fields of ``FlashSaleSpec``); the
    result is checked as a new sale would be. The row is locked first, so a start racing the
    change either waits for it or makes it a 409."""
    sale = await _row(session, tenant, sale_id, for_update=True)
    _not_started(sale, "changed")
    spec = replace(spec_of(sale), **changes)
    await check_create(session, tenant, spec)
    values = _values(spec)
    if spec.name is not None and spec.name.strip():
        values["name"] = spec.name.strip()[:NAME_MAX]
    for name, value in values.items():
        setattr(sale, name, value)
    sale.version += 1
    await session.flush()
    return sale


async def cancel(session: AsyncSession, tenant: Tenant, sale_id: uuid.UUID) -> FlashSale:
    """Cancel a sale before it starts (again: nothing changes); a started one is a 409."""
    sale = await _row(session, tenant, sale_id, for_update=True)
    if sale.status == SaleStatus.CANCELLED:
        return sale
    _not_started(sale, "cancelled")
    sale.status = SaleStatus.CANCELLED.value
    sale.due_at = None
    sale.ended_at = clock.now()
    sale.version += 1
    await session.flush()
    return sale


# -- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    """Units of a sale: ``allotted`` from stock at the start; held by reservations not paid yet
    (``reserved``), paid (``paid``), given back by reservations that expired or were cancelled
    (``expired``); ``left`` to sell (0 once it ended: what was left went back to stock,
    ``returned``)."""

    allotted: int = 0
    reserved: int = 0
    paid: int = 0
    expired: int = 0
    returned: int = 0
    left: int = 0


@dataclass(frozen=True)
class FlashSaleView:
    sale: FlashSale
    counts: Counts = field(default_factory=Counts)


async def counts(session: AsyncSession, sales: Sequence[FlashSale]) -> dict[uuid.UUID, Counts]:
    """Each sale's units by reservation status, in one statement."""
    if not sales:
        return {}
    r = FlashReservation
    rows = (
        await session.execute(
            select(r.sale_id, r.status, func.sum(r.quantity))
            .where(r.sale_id.in_([s.id for s in sales]))
            .group_by(r.sale_id, r.status)
        )
    ).all()
    units: dict[uuid.UUID, dict[str, int]] = {}
    for sale_id, status, total in rows:
        units.setdefault(sale_id, {})[status] = int(total or 0)
    found = {}
    for sale in sales:
        by = units.get(sale.id, {})
        reserved, paid = by.get("reserved", 0), by.get("paid", 0)
        expired = by.get("expired", 0) + by.get("cancelled", 0)
        selling = sale.status in SELLING
        left = max(sale.allotted - reserved - paid - sale.returned, 0) if selling else 0
        found[sale.id] = Counts(sale.allotted, reserved, paid, expired, sale.returned, left)
    return found


async def get(session: AsyncSession, tenant: Tenant, sale_id: uuid.UUID) -> FlashSaleView:
    sale = await _row(session, tenant, sale_id)
    return FlashSaleView(sale, (await counts(session, [sale]))[sale.id])


async def page(
    session: AsyncSession,
    tenant: Tenant,
    *,
    status: SaleStatus | None,
    limit: int,
    cursor: str | None,
) -> Page[FlashSaleView]:
    """The merchant's flash sales, newest first, with their counts."""
    stmt = select(FlashSale).where(FlashSale.merchant_id == tenant.id)
    if status is not None:
        stmt = stmt.where(FlashSale.status == status.value)
    found = await paginate(session, stmt, key=FlashSale.id, limit=limit, cursor=cursor)
    by_id = await counts(session, found.items)
    return Page([FlashSaleView(s, by_id[s.id]) for s in found.items], found.next_cursor)


async def list_live(session: AsyncSession, tenant: Tenant) -> list[FlashSaleView]:
    """What is on sale now (live or sold out, not past its end), soonest end first: the
    robot's ``/sales`` and the member pages list these."""
    now = clock.now()
    rows = (
        await session.scalars(
            select(FlashSale)
            .where(
                FlashSale.merchant_id == tenant.id,
                FlashSale.status.in_([s.value for s in SELLING]),
                FlashSale.ends_at > now,
            )
            .order_by(FlashSale.ends_at, FlashSale.id)
        )
    ).all()
    by_id = await counts(session, rows)
    return [FlashSaleView(s, by_id[s.id]) for s in rows]


# -- the live state and the purchase: the burst's path, no database session --------------------


@dataclass(frozen=True)
class LiveState:
    """A sale as pages and the robot show it: ``left`` is approximate while it sells."""

    sale_id: uuid.UUID
    name: str
    status: SaleStatus
    price: int
    regular_price: int
    currency: str
    per_member_limit: int
    left: int
    starts_at: datetime
    ends_at: datetime
    seconds_to_start: int
    seconds_to_end: int


def _status_now(sale: LiveSale, now: datetime, sold_out: bool) -> SaleStatus:
    """The status the clock and the sold-out flag say, ahead of the worker by up to a second."""
    if sale.status in (SaleStatus.CANCELLED, SaleStatus.ENDED) or now >= sale.ends_at:
        return SaleStatus.CANCELLED if sale.status == SaleStatus.CANCELLED else SaleStatus.ENDED
    if sale.status == SaleStatus.SCHEDULED:
        return SaleStatus.SCHEDULED
    return SaleStatus.SOLD_OUT if sold_out else SaleStatus.LIVE


async def live_state(
    runtime: FlashRuntime, sale_id: uuid.UUID, *, merchant_id: uuid.UUID | None = None
) -> LiveState:
    """The sale's live state from this process's view (no database read but about once a
    second). ``merchant_id``: only a sale of this merchant (another's is a 404)."""
    sale = await runtime.live.get(sale_id)
    if sale is None or (merchant_id is not None and sale.merchant_id != merchant_id):
        raise NotFound(f"no flash sale with id {sale_id}")
    now = clock.now()
    left = 0
    if sale.status in SELLING:
        left = await runtime.live.left(sale, runtime.engine(sale.engine))
    elif sale.status == SaleStatus.SCHEDULED:
        left = sale.quantity  # what it will sell (the stock may give fewer when it starts)
    status = _status_now(sale, now, runtime.live.is_sold_out(sale.id) or left <= 0)
    if status in (SaleStatus.ENDED, SaleStatus.CANCELLED):
        left = 0
    return LiveState(
        sale_id=sale.id,
        name=sale.name,
        status=status,
        price=sale.price,
        regular_price=sale.regular_price,
        currency=sale.currency,
        per_member_limit=sale.per_member_limit,
        left=left,
        starts_at=sale.starts_at,
        ends_at=sale.ends_at,
        seconds_to_start=max(int((sale.starts_at - now).total_seconds()), 0),
        seconds_to_end=max(int((sale.ends_at - now).total_seconds()), 0),
    )


@dataclass(frozen=True)
class Purchase:
    sale: LiveSale
    reserved: Reserved

    @property
    def total(self) -> int:
        return self.sale.price * self.reserved.quantity


def _eligible(
    sale: LiveSale, claims: FlashClaims, community_id: uuid.UUID | None
) -> tuple[bool, uuid.UUID | None]:
    """Whether the member may buy, and the community the order is attributed to."""
    if sale.level_ids and claims.level_id not in sale.level_ids:
        return False, None
    mine = claims.community_ids
    if sale.community_ids:
        shared = sale.community_ids & mine
        if community_id is not None:
            return community_id in shared, community_id
        return bool(shared), min(shared) if len(shared) == 1 else None
    return True, community_id if community_id in mine else None


async def purchase(
    runtime: FlashRuntime,
    claims: FlashClaims,
    sale_id: uuid.UUID,
    *,
    quantity: int = 1,
    community_id: uuid.UUID | None = None,
    channel: str = "web",
) -> Purchase:
    """One member's attempt: a reservation (and, on the SQL engine, its order), or a 409 with
    the refusal's code. Every check before the engine is in-process; after sell-out the answer
    comes from the sold-out flag, before any database or Redis work."""
    refusal: Refusal | None = None
    if await runtime.refused.refused(runtime.db, claims.merchant_id, claims.member_id):
        raise PermissionDenied("this member is blocked by the merchant")
    sale = await runtime.live.get(sale_id)
    if sale is None or sale.merchant_id != claims.merchant_id:
        raise NotFound(f"no flash sale with id {sale_id} at this merchant")
    now = clock.now()
    status = _status_now(sale, now, False)
    eligible, attributed = _eligible(sale, claims, community_id)
    if status == SaleStatus.SCHEDULED or now < sale.starts_at:
        refusal = Refusal.NOT_STARTED
    elif status in (SaleStatus.ENDED, SaleStatus.CANCELLED):
        refusal = Refusal.ENDED
    elif not eligible:
        refusal = Refusal.NOT_ELIGIBLE
    elif quantity > sale.per_member_limit:
        refusal = Refusal.LIMIT_REACHED
    elif runtime.live.is_sold_out(sale.id):
        refusal = Refusal.SOLD_OUT
    if refusal is not None:
        raise refused(refusal, sale_id=str(sale.id))
    attempt = Attempt(
        sale=sale,
        member_id=claims.member_id,
        quantity=quantity,
        reservation_id=new_id(),
        community_id=attributed,
        at=now,
        channel=channel,
    )
    result = await runtime.engine(sale.engine).reserve(attempt)
    if isinstance(result, Refusal):
        if result == Refusal.SOLD_OUT and quantity == 1:  # none left (not merely too few)
            runtime.live.mark_sold_out(sale.id)
        elif result == Refusal.ENDED:
            runtime.live.forget(sale.id)
        raise refused(result, sale_id=str(sale.id))
    runtime.live.note_left(sale.id, result.left)
    return Purchase(sale, result)


async def order_of_reservation(
    db: Database, tenant: Tenant, reservation_id: uuid.UUID, member_id: uuid.UUID
) -> uuid.UUID:
    """The order of the member's reservation. A reservation not written yet (the Redis
    engine's drain writes it within moments of the win) is waited for, up to ``ORDER_WAIT``;
    one of another member or merchant, or one that never comes, is a 404."""
    deadline = time.monotonic() + ORDER_WAIT.total_seconds()
    missing = NotFound(f"no flash sale reservation with id {reservation_id} of yours")
    while True:
        async with db.unit_of_work(read_only=True) as session:
            found = (
                await session.execute(
                    select(
                        FlashReservation.merchant_id,
                        FlashReservation.member_id,
                        FlashReservation.order_id,
                    ).where(FlashReservation.id == reservation_id)
                )
            ).first()
        if found is not None:
            if (found.merchant_id, found.member_id) != (tenant.id, member_id):
                raise missing
            if found.order_id is not None:
                return uuid.UUID(str(found.order_id))
        if time.monotonic() >= deadline:
            raise missing
        await asyncio.sleep(0.1)
