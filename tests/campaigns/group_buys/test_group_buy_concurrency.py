"""Seats, stock and settlement under concurrency, released together from a barrier; exact
totals afterwards. The full sizes run on PostgreSQL; SQLite (one writer at a time) runs the
same races smaller."""

from __future__ import annotations

import contextlib
from collections import Counter

from sqlalchemy import func, select

from tests.campaigns.group_buys import world as gw
from tests.concurrency import fire
from tests.factories import Factory, count_rows
from tests.orders.test_orders_concurrency import many_members
from tribekit.campaigns.group_buys import joining
from tribekit.campaigns.group_buys.schemas import JoinIn
from tribekit.campaigns.group_buys.spec import Tier
from tribekit.kit.db import Database
from tribekit.kit.errors import TribekitError
from tribekit.models.campaigns import GroupBuyParticipant, GroupBuyTeam
from tribekit.models.orders import Order


async def test_1000_joins_on_a_team_of_10_take_exactly_10_seats(
    db: Database, factory: Factory
) -> None:
    joiners = 1000 if db.dialect == "postgresql" else 60
    w = await gw.world(db, factory, stock=500)
    group_buy = await gw.make(db, w, tiers=(Tier(2, 9000), Tier(5, 8000), Tier(10, 7000)))
    first = await gw.join(db, w, await gw.member(factory, w, "Initiator"), group_buy)
    member_ids = await many_members(db, w.shop, joiners)

    async def attempt(i: int) -> str:
        async def work(session: object) -> str:
            await joining.join(
                session,  # type: ignore[arg-type]  # db.run hands an AsyncSession
                w.shop.tenant,
                member_ids[i],
                group_buy.id,
                JoinIn(code=first.team.code),
                actor="member",
            )
            return "ok"

        try:
            return await db.run(work)
        except TribekitError as exc:
            return exc.code

    outcomes = Counter(await fire(joiners, attempt))
    assert outcomes == {"ok": 9, "team_full": joiners - 9}
    team = await gw.team(db, first.team.id)
    assert (team.size, team.max_size) == (10, 10)
    in_team = GroupBuyParticipant.team_id == first.team.id
    assert await count_rows(db, GroupBuyParticipant, in_team) == 10
    assert await count_rows(db, Order, Order.campaign_id == group_buy.id) == 10
    assert await gw.stock(db, w.product.id) == 490
    assert await count_rows(db, GroupBuyTeam) == 1


async def test_concurrent_payments_and_a_close_keep_tier_price_times_portions(
    db: Database, factory: Factory
) -> None:
    """Payments racing the close: whatever lands before it counts, what lands after is
    refunded by the orders domain; the team keeps exactly its tier price x paid portions."""
    w = await gw.world(db, factory)
    group_buy = await gw.make(db, w, join_price="lowest")
    first = await gw.join(db, w, await gw.member(factory, w), group_buy)
    joined = [first]
    for _ in range(4):
        joined.append(
            await gw.join(db, w, await gw.member(factory, w), group_buy, code=first.team.code)
        )

    async def act(i: int) -> None:
        if i == len(joined):
            await gw.close(db, group_buy)
            return
        with contextlib.suppress(TribekitError):  # closed first: the order was cancelled unpaid
            await gw.pay(db, w, joined[i].order.order.id)

    await fire(len(joined) + 1, act)
    await gw.close(db, group_buy)  # anything left to settle
    team = await gw.team(db, first.team.id)
    async with db.unit_of_work(read_only=True) as session:
        settled = await session.scalar(
            select(func.coalesce(func.sum(GroupBuyParticipant.portions), 0)).where(
                GroupBuyParticipant.team_id == team.id, GroupBuyParticipant.status == "settled"
            )
        )
    portions = int(settled or 0)
    if team.status == "succeeded":
        assert team.final_unit_price is not None
        assert await gw.kept(db, team.id) == team.final_unit_price * portions
    else:
        assert team.status == "failed"
        assert await gw.kept(db, team.id) == 0
