"""A group-buy order's end, as the orders domain meets it.

* Paid (``paid``, an in-transaction subscriber of ``OrderPaid`` listed in
  ``tribekit/subscribers.py``): the participant is paid, in the payment's own transaction, so a
  team never counts a payment that rolled back nor misses one that committed. It changes the
  participant's row only (no ranked lock), so it fits wherever the payment's locks stand.
* Closed unpaid, expired or cancelled (``release``, called by ``orders.service.lifecycle``
  before the products are given back): the participant's seat is freed, once — only the
  transaction whose conditional update moves the participant ``joined -> cancelled`` frees it.
  This cannot be a subscriber of ``OrderExpired`` (emitted after the products' stock went
  back, and the team ranks before the products) nor a stream consumer (one consumer's batch
  would lock teams in event order, not id order), hence the hook.

Locks follow ``kit.locks``: the order (held by whoever closes it), then the team (rank
CAMPAIGN), then the products.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock, locks
from tribekit.models.campaigns import FlashReservation, GroupBuyParticipant, GroupBuyTeam
from tribekit.models.orders import Order
from tribekit.orders.events import Emitted, OrderPaid
from tribekit.tenancy.principal import Tenant

from .repository import Teams


async def paid(session: AsyncSession, tenant: Tenant, event: Emitted[OrderPaid]) -> None:
    """The order of a joined participant was paid: the participant is paid."""
    await session.execute(
        update(GroupBuyParticipant)
        .where(
            GroupBuyParticipant.merchant_id == tenant.id,
            GroupBuyParticipant.order_id == event.order_id,
            GroupBuyParticipant.status == "joined",
        )
        .values(status="paid", paid_at=event.payload.paid_at)
        .execution_options(synchronize_session=False)
    )


async def release(session: AsyncSession, order: Order) -> None:
    """The order closed unpaid: its participant is cancelled and the seat freed, once."""
    row = (
        await session.execute(
            update(GroupBuyParticipant)
            .where(
                GroupBuyParticipant.merchant_id == order.merchant_id,
                GroupBuyParticipant.order_id == order.id,
                GroupBuyParticipant.status == "joined",
            )
            .values(status="cancelled", left_at=clock.now())
            .returning(GroupBuyParticipant.team_id, GroupBuyParticipant.portions)
            .execution_options(synchronize_session=False)
        )
    ).one_or_none()
    if row is not None:
        await Teams(session, order.merchant_id).free_seats(row.team_id, row.portions)


async def lock_teams(session: AsyncSession, order_ids: Sequence[uuid.UUID]) -> None:
    """Lock the teams whose seats closing these unpaid orders frees, in id order (a batch of
    the expiry sweep). Flash sales share the rank CAMPAIGN and are locked right after by
    ``campaigns.flash.settle.lock_sales``: both sets are recorded with the tracker here at once,
    so that the two tables' ids count as one order (every path that locks both locks the teams
    first)."""
    if not order_ids:
        return
    ids = list(order_ids)
    team_ids = set(
        (
            await session.scalars(
                select(GroupBuyParticipant.team_id).where(
                    GroupBuyParticipant.order_id.in_(ids), GroupBuyParticipant.status == "joined"
                )
            )
        ).all()
    )
    if not team_ids:
        return
    sale_ids = set(
        (
            await session.scalars(
                select(FlashReservation.sale_id).where(
                    FlashReservation.order_id.in_(ids), FlashReservation.status == "reserved"
                )
            )
        ).all()
    )
    locks.acquire(session, locks.Rank.CAMPAIGN, [*team_ids, *sale_ids])
    await session.execute(
        select(GroupBuyTeam.id)
        .where(GroupBuyTeam.id.in_(sorted(team_ids)))
        .order_by(GroupBuyTeam.id)
        .with_for_update()
    )
