"""The worker's part of group buys: open them at ``starts_at``, close them at ``deadline`` and
settle each team, any number of workers at once.

One sweep claims one due group buy at a time (``FOR UPDATE SKIP LOCKED``: group-buy rows are
outside the lock order, taken before any ranked row; two workers never hold the same one) and
does its next step in that unit of work:

1. ``scheduled`` past ``starts_at``: ``open``, due again at the deadline.
2. ``open`` past ``deadline`` (or staff cancelling, ``cancelled``): ``stop`` — every open team
   becomes ``closing`` by one conditional update, so no seat can be taken after it commits
   (a join takes its seat on an ``open`` team only); due again now.
3. ``settling`` (or ``cancelled``) with a ``closing`` team: settle that one team (below). None
   left: ``closed`` (a cancelled one stays ``cancelled``), due no more.

**Settling a team** locks, up front and in the order of ``kit.locks``, every row its work
takes: the participants' orders (ORDER, id order), the team (CAMPAIGN), the products and gift
pack components (PRODUCT), the members' accounts (ACCOUNT; refunds move points). The
participants cannot change meanwhile (each change holds its order). Then, by the paid
portions: a team reaching the first tier ``succeeded`` at that tier's price, and each paid
participant keeps exactly price x portions, the rest given back by a partial refund
(``orders.service.refunds.refund_amount``: durable, paid back at the provider after commit);
a team below the minimum (or of a cancelled group buy) ``failed``, every paid participant
refunded in full (goods back to stock). Unpaid joins are cancelled either way (their seats
and stock come back through the orders' release). Done once: the team leaves ``closing`` in
the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.campaigns.bundles import stock as bundle_stock
from tribekit.catalog.repository import Products
from tribekit.kit import clock, locks
from tribekit.kit.worker import claim_due
from tribekit.membership.repository import Accounts
from tribekit.models.campaigns import GroupBuy, GroupBuyTeam
from tribekit.models.tenancy import Merchant
from tribekit.orders.payments import PaymentProvider
from tribekit.orders.repository import PAID_STATES, Orders
from tribekit.orders.schemas import RefundIn
from tribekit.orders.service import lifecycle, refunds
from tribekit.tenancy.principal import Tenant

from . import repository as repo
from . import tiers
from .repository import Teams

#: Statuses the worker still acts on.
DUE = ("scheduled", "open", "settling", "cancelled")


async def stop(session: AsyncSession, group_buy: GroupBuy, *, to: str) -> bool:
    """Close ``group_buy`` to joins (``to``: ``settling`` at the deadline, ``cancelled`` by
    staff) and its open teams with it; False when it was no longer scheduled or open."""
    now = clock.now()
    moved = await session.scalar(
        update(GroupBuy)
        .where(GroupBuy.id == group_buy.id, GroupBuy.status.in_(("scheduled", "open")))
        .values(status=to, due_at=now, version=GroupBuy.version + 1)
        .returning(GroupBuy.id)
        .execution_options(synchronize_session=False)
    )
    if moved is None:
        return False
    team_ids = list(
        (
            await session.scalars(
                select(GroupBuyTeam.id).where(
                    GroupBuyTeam.group_buy_id == group_buy.id, GroupBuyTeam.status == "open"
                )
            )
        ).all()
    )
    if team_ids:
        # Rank CAMPAIGN; this transaction holds no ranked row before it.
        locks.acquire(session, locks.Rank.CAMPAIGN, team_ids)
        await session.execute(
            update(GroupBuyTeam)
            .where(GroupBuyTeam.group_buy_id == group_buy.id, GroupBuyTeam.status == "open")
            .values(status="closing")
            .execution_options(synchronize_session=False)
        )
    await session.refresh(group_buy)
    return True


async def _tenant(session: AsyncSession, merchant_id: uuid.UUID) -> Tenant:
    merchant = await session.get(Merchant, merchant_id)
    assert merchant is not None  # a merchant's group buys go with it
    return Tenant.of(merchant)


async def settle_team(
    session: AsyncSession,
    tenant: Tenant,
    providers: Mapping[str, PaymentProvider],
    group_buy: GroupBuy,
    team_id: uuid.UUID,
) -> None:
    """Settle one ``closing`` team (see the module's docstring)."""
    seen = await repo.active(session, team_id)
    orders = await Orders(session, tenant.id).lock_in_order([p.order_id for p in seen])
    team = (await Teams(session, tenant.id).lock_in_order([team_id]))[team_id]
    if team.status != "closing":
        return
    everyone = await repo.active(session, team_id)
    assert {p.order_id for p in everyone} <= set(orders)  # no seat is taken once closing
    lines = await Orders(session, tenant.id).lines_of(list(orders))
    product_ids = {line.product_id for each in lines.values() for line in each}
    parts = await bundle_stock.parts_of(session, tenant.id, product_ids)
    product_ids |= {part for each in parts.values() for part, _ in each}
    await Products(session, tenant.id).lock_in_order(sorted(product_ids))
    for member_id in sorted({p.member_id for p in everyone}):
        await Accounts(session, tenant.id).lock(member_id)

    paid = [p for p in everyone if p.status == "paid" and orders[p.order_id].status in PAID_STATES]
    portions = sum(p.portions for p in paid)
    tier = (
        None
        if group_buy.status == "cancelled"
        else tiers.reached(tiers.tiers_of(group_buy.tiers), portions)
    )
    now = clock.now()
    for participant in paid:
        order_id = participant.order_id
        if tier is None:
            await refunds.refund(
                session,
                tenant,
                providers,
                order_id,
                RefundIn(restock=True, reason=_failed_reason(group_buy, portions)),
                actor="system",
                key=f"group-buy-failed:{participant.id}",
            )
            participant.status = "refunded"
            continue
        line = next(ln for ln in lines[order_id] if ln.product_id == group_buy.product_id)
        over = line.total - line.refunded_amount - tiers.kept(tier.unit_price, participant.portions)
        if over > 0:
            await refunds.refund_amount(
                session,
                tenant,
                providers,
                order_id,
                line.id,
                over,
                reason=f"group buy {group_buy.name}: the team reached {tier.size} "
                f"({tier.unit_price} per portion)",
                actor="system",
            )
        participant.status = "settled"
    for participant in everyone:
        if participant.status == "joined":  # never paid: its order closes, its seat is freed
            await lifecycle.cancel(
                session,
                tenant,
                participant.order_id,
                reason=f"group buy {group_buy.name} closed before this order was paid",
                actor="system",
            )
        elif participant.status == "paid":  # its order was refunded by staff meanwhile
            participant.status = "refunded"
    team.status = "succeeded" if tier is not None else "failed"
    team.final_unit_price = tier.unit_price if tier is not None else None
    team.closed_at = now
    await session.flush()


def _failed_reason(group_buy: GroupBuy, portions: int) -> str:
    if group_buy.status == "cancelled":
        return f"group buy {group_buy.name} was cancelled"
    return (
        f"group buy {group_buy.name}: the team had {portions} paid of the "
        f"{group_buy.min_size} it needed"
    )


async def step(
    session: AsyncSession, providers: Mapping[str, PaymentProvider], group_buy: GroupBuy
) -> None:
    """The claimed group buy's next step (see the module's docstring)."""
    now = clock.now()
    if group_buy.status == "scheduled":
        if group_buy.starts_at <= now:
            group_buy.status = "open"
            group_buy.due_at = group_buy.deadline
        else:
            group_buy.due_at = group_buy.starts_at
        return
    if group_buy.status == "open":
        if group_buy.deadline <= now:
            await stop(session, group_buy, to="settling")
        else:
            group_buy.due_at = group_buy.deadline
        return
    team_id = await session.scalar(
        select(GroupBuyTeam.id)
        .where(GroupBuyTeam.group_buy_id == group_buy.id, GroupBuyTeam.status == "closing")
        .order_by(GroupBuyTeam.id)
        .limit(1)
    )
    if team_id is not None:
        tenant = await _tenant(session, group_buy.merchant_id)
        await settle_team(session, tenant, providers, group_buy, team_id)
        return
    if group_buy.status == "settling":
        group_buy.status = "closed"
    group_buy.closed_at = group_buy.closed_at or now
    group_buy.due_at = None


async def claim(session: AsyncSession) -> GroupBuy | None:
    """One group buy due for its next step that no other worker holds."""
    due = (
        select(GroupBuy)
        .where(GroupBuy.status.in_(DUE), GroupBuy.due_at <= clock.now())
        .order_by(GroupBuy.due_at)
        .execution_options(populate_existing=True)
    )
    found: GroupBuy | None = await session.scalar(claim_due(due, 1))
    return found
