"""The demo merchant that ``make run`` creates: a shop with history that holds together."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from tribekit import migrations
from tribekit.demo.seed import seed_demo
from tribekit.kit.db import Database
from tribekit.models.campaigns import CampaignSchedule, GroupBuy
from tribekit.models.catalog import Product
from tribekit.models.coupons import Coupon
from tribekit.models.membership import MembershipAccount, PointsEntry
from tribekit.models.orders import Order, OrderLine, Refund
from tribekit.tenancy import auth


async def test_demo_shop_has_orders_of_every_kind_and_consistent_totals(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}")
    try:
        await migrations.upgrade(db)
        first = await seed_demo(db, "demo-secret-key-long-enough-for-tests")
        again = await seed_demo(db, "demo-secret-key-long-enough-for-tests")
        assert (first.created, again.created) == (True, False)
        # The token printed first (say by ``serve --demo``) still works after a second run.
        assert first.api_token != again.api_token
        async with db.unit_of_work() as session:
            for login in (first, again):
                principal = await auth.authenticate_token(
                    session, "demo-secret-key-long-enough-for-tests", login.api_token
                )
                assert principal.email == login.email
        async with db.unit_of_work() as session:
            statuses: dict[str, int] = {
                str(status): count
                for status, count in (
                    await session.execute(select(Order.status, func.count()).group_by(Order.status))
                ).all()
            }
            assert set(statuses) == {"completed", "paid", "refunded", "cancelled", "placed"}
            assert statuses["completed"] > 300
            kinds = dict(
                (
                    await session.execute(select(Product.kind, func.count()).group_by(Product.kind))
                ).all()
            )
            # The Black card sells as a plan; the gift pack of the group buys is a bundle.
            assert kinds == {"goods": 6, "event": 3, "plan": 1, "bundle": 1}
            assert (await session.scalar(select(func.min(Product.stock))) or 0) >= 0
            attributed = await session.scalar(
                select(func.count()).where(Order.community_id.is_not(None))
            )
            assert (attributed or 0) > statuses["completed"] // 2
            lines = await session.scalar(select(func.sum(OrderLine.total)))
            orders = await session.scalar(select(func.sum(Order.total - Order.shipping)))
            assert lines == orders
            # Refunded in full, or in part (a group buy's team paid back down to its tier).
            refunded = await session.scalar(select(func.sum(Order.refunded_amount)))
            assert refunded == await session.scalar(select(func.sum(Refund.amount)))
            # The second run made no campaign twice.
            assert await session.scalar(select(func.count()).select_from(CampaignSchedule)) == 3
            assert await session.scalar(select(func.count()).select_from(Coupon)) == 4
            assert (
                await session.scalar(
                    select(func.count()).where(GroupBuy.status == "closed").select_from(GroupBuy)
                )
                == 1
            )
            balances = await session.scalar(select(func.sum(MembershipAccount.balance)))
            assert balances == await session.scalar(select(func.sum(PointsEntry.points)))
    finally:
        await db.dispose()
