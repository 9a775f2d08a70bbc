"""Order queries. Status changes are conditional updates: ``WHERE status IN (expected)``; the
one request whose update changed the row owns what follows (stock back, points back). Only the
moves declared in ``transitions.TRANSITIONS`` can be asked for."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from tribekit.kit import locks
from tribekit.kit.repository import TenantRepository
from tribekit.members.repository import Members
from tribekit.membership.repository import membership_defaults
from tribekit.models.enums import OrderStatus, PaymentStatus
from tribekit.models.members import Member
from tribekit.models.membership import Level, MembershipAccount, MembershipSettings
from tribekit.models.orders import (
    CheckoutSettings,
    Order,
    OrderLine,
    Payment,
    PickupPoint,
    Refund,
)
from tribekit.models.tenancy import Merchant

from . import transitions
from .transitions import PAID_STATES

__all__ = ["PAID_STATES", "OrderFilters", "Orders", "Payments", "PickupPoints"]


@dataclass(frozen=True)
class OrderFilters:
    status: str | None = None
    member_id: uuid.UUID | None = None
    community_id: uuid.UUID | None = None
    channel: str | None = None
    placed_from: datetime | None = None
    placed_to: datetime | None = None
    #: A leader's reach: only orders attributed to one of these communities.
    within: frozenset[uuid.UUID] | None = None


class Orders(TenantRepository[Order]):
    model = Order
    noun = "order"
    lock_rank = locks.Rank.ORDER

    def filtered(self, filters: OrderFilters) -> Select[Any]:
        stmt = self.select()
        if filters.status:
            stmt = stmt.where(Order.status == filters.status)
        if filters.member_id:
            stmt = stmt.where(Order.member_id == filters.member_id)
        if filters.community_id:
            stmt = stmt.where(Order.community_id == filters.community_id)
        if filters.channel:
            stmt = stmt.where(Order.channel == filters.channel)
        if filters.placed_from:
            stmt = stmt.where(Order.placed_at >= filters.placed_from)
        if filters.placed_to:
            stmt = stmt.where(Order.placed_at < filters.placed_to)
        if filters.within is not None:
            stmt = stmt.where(Order.community_id.in_(sorted(filters.within)))
        return stmt

    async def transition(
        self, order: Order, from_states: Iterable[OrderStatus], to: OrderStatus, **values: Any
    ) -> bool:
        """Move the order to ``to`` if it is in one of ``from_states``; True if this call did
        (and then ``order`` in memory shows the change). False: reload to see why. A move the
        table does not declare raises ``transitions.UndeclaredTransition`` (a bug)."""
        from_states = list(from_states)
        transitions.check(from_states, to)
        return await self._update_if(order, from_states, {"status": to, **values})

    async def keep_open(self, order: Order, **values: Any) -> bool:
        """Change ``values`` of a placed order while it is still placed (no status change)."""
        return await self._update_if(order, [OrderStatus.PLACED], values)

    def move(self, order: Order, to: OrderStatus) -> None:
        """Move a locked order (``get(..., for_update=True)``) to ``to`` in memory; the move
        must be declared (``transitions.UndeclaredTransition`` otherwise)."""
        transitions.check([order.status], to)
        order.status = to

    async def _update_if(
        self, order: Order, from_states: list[OrderStatus], values: dict[str, Any]
    ) -> bool:
        locks.acquire(self.session, locks.Rank.ORDER, [order.id])
        result = await self.session.execute(
            update(Order)
            .where(
                Order.merchant_id == self.merchant_id,
                Order.id == order.id,
                Order.status.in_(from_states),
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if not result.rowcount:  # type: ignore[attr-defined]  # DML results have it
            return False
        for name, value in values.items():
            set_committed_value(order, name, value)
        return True

    async def reload(self, order: Order) -> Order:
        await self.session.refresh(order)
        return order

    async def lines(self, order_id: uuid.UUID) -> list[OrderLine]:
        stmt = (
            select(OrderLine)
            .where(OrderLine.merchant_id == self.merchant_id, OrderLine.order_id == order_id)
            .order_by(OrderLine.line_no)
        )
        return list((await self.session.scalars(stmt)).all())

    async def lines_of(self, order_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[OrderLine]]:
        stmt = (
            select(OrderLine)
            .where(OrderLine.merchant_id == self.merchant_id, OrderLine.order_id.in_(order_ids))
            .order_by(OrderLine.line_no)
        )
        grouped: dict[uuid.UUID, list[OrderLine]] = {oid: [] for oid in order_ids}
        for line in await self.session.scalars(stmt):
            grouped[line.order_id].append(line)
        return grouped

    async def payments(self, order_id: uuid.UUID) -> list[Payment]:
        stmt = (
            select(Payment)
            .where(Payment.merchant_id == self.merchant_id, Payment.order_id == order_id)
            .order_by(Payment.id)
        )
        return list((await self.session.scalars(stmt)).all())

    async def refunds(self, order_id: uuid.UUID) -> list[Refund]:
        stmt = (
            select(Refund)
            .where(Refund.merchant_id == self.merchant_id, Refund.order_id == order_id)
            .order_by(Refund.id)
        )
        return list((await self.session.scalars(stmt)).all())


class Payments(TenantRepository[Payment]):
    model = Payment
    noun = "payment"

    async def settle(self, payment: Payment, status: PaymentStatus, **values: Any) -> bool:
        """Settle a pending payment once (succeeded, failed or expired)."""
        result = await self.session.execute(
            update(Payment)
            .where(
                Payment.merchant_id == self.merchant_id,
                Payment.id == payment.id,
                Payment.status == PaymentStatus.PENDING,
            )
            .values(status=status, **values)
            .execution_options(synchronize_session=False)
        )
        if not result.rowcount:  # type: ignore[attr-defined]  # DML results have it
            return False
        for name, value in {"status": status, **values}.items():
            set_committed_value(payment, name, value)
        return True


class PickupPoints(TenantRepository[PickupPoint]):
    model = PickupPoint
    noun = "pickup point"


def _checkout_defaults(merchant_id: uuid.UUID) -> CheckoutSettings:
    defaults = CheckoutSettings(merchant_id=merchant_id)
    for column in CheckoutSettings.__table__.columns:
        if getattr(defaults, column.key) is None and column.default is not None:
            setattr(defaults, column.key, column.default.arg)
    return defaults


async def checkout_settings(session: AsyncSession, merchant_id: uuid.UUID) -> CheckoutSettings:
    """The merchant's saved checkout settings, or the defaults (not saved)."""
    saved = await session.get(CheckoutSettings, merchant_id)
    return saved if saved is not None else _checkout_defaults(merchant_id)


async def pricing_settings(
    session: AsyncSession, merchant_id: uuid.UUID
) -> tuple[CheckoutSettings, MembershipSettings]:
    """The checkout and membership settings a price needs, in one statement (each saved one,
    or its defaults). Later reads of either in this transaction cost no query."""
    row = (
        await session.execute(
            select(CheckoutSettings, MembershipSettings)
            .select_from(Merchant)
            .outerjoin(CheckoutSettings, CheckoutSettings.merchant_id == Merchant.id)
            .outerjoin(MembershipSettings, MembershipSettings.merchant_id == Merchant.id)
            .where(Merchant.id == merchant_id)
        )
    ).one()
    checkout, membership = row
    return (
        checkout if checkout is not None else _checkout_defaults(merchant_id),
        membership if membership is not None else membership_defaults(session, merchant_id),
    )


@dataclass(frozen=True)
class Buyer:
    member: Member
    level: Level | None
    points_balance: int


async def buyer(
    session: AsyncSession, merchant_id: uuid.UUID, member_id: uuid.UUID
) -> Buyer | None:
    """The member (if they exist: neither erased nor merged) with their level and points
    balance, as pricing needs them, in one statement (no lock: a quote)."""
    stmt = (
        Members(session, merchant_id)
        .current()
        .where(Member.id == member_id)
        .outerjoin(
            MembershipAccount,
            and_(
                MembershipAccount.merchant_id == merchant_id,
                MembershipAccount.member_id == Member.id,
            ),
        )
        .outerjoin(Level, Level.id == MembershipAccount.level_id)
        .add_columns(Level, MembershipAccount.balance)
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    member, level, balance = row
    return Buyer(member, level, int(balance or 0))
