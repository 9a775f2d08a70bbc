"""Group buys priced by the size a team reaches (the gift-pack day).

``check_create`` validates a group buy (the product is goods or a gift pack of this merchant,
tiers with sizes increasing and prices not increasing, a maximum that holds the largest tier, a
start before the deadline, communities of this merchant); ``do_create`` writes it, once per
schedule occurrence. Joining, leaving and progress are ``joining.py``; the worker's opening and
closing ``closing.py``.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.catalog.repository import Products
from tribekit.kit import clock
from tribekit.kit.errors import NotFound, field_error
from tribekit.kit.ids import new_id
from tribekit.kit.pagination import Page, paginate
from tribekit.models.campaigns import GroupBuy, GroupBuyTeam
from tribekit.models.enums import ProductKind
from tribekit.tenancy.principal import Tenant

from . import closing
from . import repository as repo
from .errors import GroupBuyClosed
from .joining import (
    Joined,
    TeamProgress,
    join,
    leave,
    list_open,
    my_team,
    progress,
    progress_of,
    public_progress,
    share_path,
)
from .repository import GroupBuys, Teams
from .spec import GroupBuySpec

#: The most seats one team may have: a group buy is a few friends or one address, not a sale.
MAX_TEAM_SIZE = 1_000


def _check_tiers(spec: GroupBuySpec) -> None:
    if not spec.tiers:
        raise field_error("tiers", "give at least one tier (size and unit price)")
    for index, tier in enumerate(spec.tiers):
        if tier.size < 1:
            raise field_error(f"tiers.{index}.size", "a tier's size is at least 1")
        if tier.unit_price < 0:
            raise field_error(f"tiers.{index}.unit_price", "a price cannot be negative")
        if index:
            before = spec.tiers[index - 1]
            if tier.size <= before.size:
                raise field_error(
                    f"tiers.{index}.size",
                    f"sizes must increase: {tier.size} comes after {before.size}",
                )
            if tier.unit_price > before.unit_price:
                raise field_error(
                    f"tiers.{index}.unit_price",
                    "a larger team never pays more: "
                    f"{tier.unit_price} is above the {before.unit_price} of size {before.size}",
                )


def max_size(spec: GroupBuySpec) -> int:
    return spec.max_size if spec.max_size is not None else spec.tiers[-1].size


async def check_create(session: AsyncSession, tenant: Tenant, spec: GroupBuySpec) -> None:
    """Refuse a group buy that cannot be made, saying which field to fix."""
    _check_tiers(spec)
    largest = spec.tiers[-1].size
    most = max_size(spec)
    if most < largest or most > MAX_TEAM_SIZE:
        raise field_error(
            "max_size",
            f"a team's maximum is between the largest tier ({largest}) and {MAX_TEAM_SIZE}",
        )
    if not 1 <= spec.per_member_limit <= most:
        raise field_error(
            "per_member_limit", f"a member takes between 1 and {most} portions (the maximum)"
        )
    if spec.grouping not in ("team", "address"):
        raise field_error("grouping", "one of 'team', 'address'")
    if spec.join_price not in ("reached", "lowest"):
        raise field_error("join_price", "one of 'reached', 'lowest'")
    if spec.starts_at.tzinfo is None or spec.deadline.tzinfo is None:
        raise field_error("starts_at", "give times with a timezone (UTC offset)")
    if spec.deadline <= spec.starts_at:
        raise field_error("deadline", "the deadline comes after the start")
    if spec.deadline <= clock.now():
        raise field_error("deadline", "the deadline has passed already")
    product = await Products(session, tenant.id).get(spec.product_id)
    if product is None:
        raise NotFound(f"no product with id {spec.product_id} at this merchant")
    if product.kind not in (ProductKind.GOODS, ProductKind.BUNDLE):
        raise field_error(
            "product_id", f"a group buy sells goods or a gift pack, not a {product.kind.value}"
        )
    if not product.active:
        raise field_error("product_id", f"{product.name!r} is not on sale; activate it first")
    if spec.community_ids:
        known = await GroupBuys(session, tenant.id).community_ids(list(spec.community_ids))
        missing = sorted(str(c) for c in set(spec.community_ids) - known)
        if missing:
            raise field_error(
                "community_ids", f"no community with id {', '.join(missing)} at this merchant"
            )


async def do_create(
    session: AsyncSession,
    tenant: Tenant,
    spec: GroupBuySpec,
    created_by: str,
    *,
    schedule_id: uuid.UUID | None = None,
    occurrence_key: str | None = None,
) -> GroupBuy | None:
    """Write the group buy (validated by ``check_create``). None when the occurrence
    ``(schedule_id, occurrence_key)`` was made already (by another worker, or before)."""
    product = await Products(session, tenant.id).get_or_404(spec.product_id)
    now = clock.now()
    started = spec.starts_at <= now
    group_buy_id = new_id()
    made = await GroupBuys(session, tenant.id).insert_once(
        {
            "id": group_buy_id,
            "name": spec.name or product.name,
            "product_id": spec.product_id,
            "tiers": [asdict(tier) for tier in spec.tiers],
            "min_size": spec.tiers[0].size,
            "max_size": max_size(spec),
            "per_member_limit": spec.per_member_limit,
            "grouping": spec.grouping,
            "join_price": spec.join_price,
            "starts_at": spec.starts_at,
            "deadline": spec.deadline,
            "community_ids": [str(c) for c in spec.community_ids],
            "status": "open" if started else "scheduled",
            "due_at": spec.deadline if started else spec.starts_at,
            "announcements": spec.announcements,
            "announced": [],
            "announce_before_seconds": spec.announce_before_seconds,
            "schedule_id": schedule_id,
            "occurrence_key": occurrence_key,
            "version": 1,
            "created_by": created_by,
            "created_at": now,
        }
    )
    if not made:
        return None
    return await GroupBuys(session, tenant.id).get_or_404(group_buy_id)


async def create(
    session: AsyncSession, tenant: Tenant, spec: GroupBuySpec, created_by: str
) -> GroupBuy:
    """Make a group buy that staff asked for."""
    await check_create(session, tenant, spec)
    made = await do_create(session, tenant, spec, created_by)
    assert made is not None  # no occurrence key: nothing to clash with
    return made


@dataclass(frozen=True)
class TeamView:
    team: GroupBuyTeam
    paid_portions: int


@dataclass(frozen=True)
class GroupBuyView:
    group_buy: GroupBuy
    teams: list[TeamView] | None = None


async def get(session: AsyncSession, tenant: Tenant, group_buy_id: uuid.UUID) -> GroupBuyView:
    """One group buy with its teams, their sizes and paid portions."""
    group_buy = await GroupBuys(session, tenant.id).get_or_404(group_buy_id)
    teams = await Teams(session, tenant.id).of_group_buy(group_buy.id)
    paid = await repo.paid_by_team(session, [t.id for t in teams])
    return GroupBuyView(group_buy, [TeamView(t, paid.get(t.id, 0)) for t in teams])


async def page(
    session: AsyncSession,
    tenant: Tenant,
    *,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> Page[GroupBuy]:
    stmt = GroupBuys(session, tenant.id).select()
    if status is not None:
        stmt = stmt.where(GroupBuy.status == status)
    return await paginate(session, stmt, key=GroupBuy.id, limit=limit, cursor=cursor)


async def cancel(session: AsyncSession, tenant: Tenant, group_buy_id: uuid.UUID) -> GroupBuy:
    """Cancel a group buy that has not closed: its teams close as failed, so the worker refunds
    every paid participant in full and cancels every unpaid order (``closing.py``)."""
    group_buy = await GroupBuys(session, tenant.id).get_or_404(group_buy_id)
    if not await closing.stop(session, group_buy, to="cancelled"):
        raise GroupBuyClosed(
            f"group buy {group_buy.name!r} is {group_buy.status}; only a scheduled or open one "
            "can be cancelled"
        )
    return group_buy


async def get_group_buy(session: AsyncSession, tenant: Tenant, group_buy_id: uuid.UUID) -> GroupBuy:
    return await GroupBuys(session, tenant.id).get_or_404(group_buy_id)


#: What the other faces call (the robot's "+1" and /sales, member pages, campaign schedules):
#: making a group buy here, joining, leaving and progress from ``joining.py``.
__all__ = [
    "GroupBuyView",
    "Joined",
    "TeamProgress",
    "TeamView",
    "cancel",
    "check_create",
    "create",
    "do_create",
    "get",
    "get_group_buy",
    "join",
    "leave",
    "list_open",
    "max_size",
    "my_team",
    "page",
    "progress",
    "progress_of",
    "public_progress",
    "share_path",
]
