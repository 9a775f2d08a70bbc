"""A team of the gift-pack day from first join to close, on both databases: prices paid up
front, the tier reached, partial refunds of the difference, a team below the minimum refunded
in full, unpaid joins cancelled, leaving, and what progress shows."""

from __future__ import annotations

import pytest

from tests.campaigns.group_buys import world as gw
from tests.factories import Factory
from tribekit.campaigns.group_buys import joining, service
from tribekit.campaigns.group_buys.errors import GroupBuyNotOpen, LeaveWouldRaisePrice, TeamFull
from tribekit.kit.db import Database


async def test_a_team_of_five_pays_75_each_and_gets_the_difference_back(
    db: Database, factory: Factory
) -> None:
    w = await gw.world(db, factory, stock=20)
    group_buy = await gw.make(db, w)
    names = ["Ann", "Bo", "Cy", "Di", "Ed"]
    members = [await gw.member(factory, w, n) for n in names]
    first = await gw.join(db, w, members[0], group_buy)
    code = first.team.code
    joined = [first]
    await gw.pay(db, w, first.order.order.id)
    for member_id in members[1:]:
        one = await gw.join(db, w, member_id, group_buy, code=code)
        await gw.pay(db, w, one.order.order.id)
        joined.append(one)
    # Each paid the tier the team reached with them: alone 90 (below the minimum), 2: 90,
    # 3: 85, 4: 85, 5: 75.
    assert [j.participant.unit_price_paid for j in joined] == [9000, 9000, 8500, 8500, 7500]
    assert [j.order.order.total for j in joined] == [9000, 9000, 8500, 8500, 7500]
    lines = joined[2].order.lines
    assert lines[0].price_source == "campaign"
    async with db.unit_of_work(read_only=True) as session:
        seen = await joining.public_progress(session, code.lower())
    assert seen.members == tuple(names)
    assert (seen.paid_portions, seen.unit_price, seen.next, seen.needed_for_next) == (
        5,
        7500,
        None,
        0,
    )
    assert seen.current is not None
    assert seen.current.size == 5
    await gw.close(db, group_buy)
    team = await gw.team(db, first.team.id)
    assert (team.status, team.final_unit_price) == ("succeeded", 7500)
    assert await gw.kept(db, team.id) == 5 * 7500
    for j in joined:
        order = await gw.order(db, j.order.order.id)
        paid_more = j.participant.unit_price_paid - 7500
        assert (order.status, order.refunded_amount) == ("paid", paid_more)
    assert [p.status for p in await gw.participants(db, team.id)] == ["settled"] * 5


async def test_a_team_below_the_minimum_is_refunded_in_full_and_unpaid_joins_cancelled(
    db: Database, factory: Factory
) -> None:
    w = await gw.world(db, factory, stock=10)
    group_buy = await gw.make(db, w)
    alone = await gw.join(db, w, await gw.member(factory, w), group_buy)
    await gw.pay(db, w, alone.order.order.id)
    unpaid = await gw.join(db, w, await gw.member(factory, w), group_buy, code=alone.team.code)
    await gw.close(db, group_buy)
    team = await gw.team(db, alone.team.id)
    assert (team.status, team.final_unit_price, team.size) == ("failed", None, 1)
    assert await gw.kept(db, team.id) == 0
    refunded = await gw.order(db, alone.order.order.id)
    assert (refunded.status, refunded.refunded_amount) == ("refunded", 9000)
    assert (await gw.order(db, unpaid.order.order.id)).status == "cancelled"
    assert [p.status for p in await gw.participants(db, team.id)] == ["refunded", "cancelled"]
    assert (
        await gw.stock(db, w.product.id)
    ) == 10  # both packs back: one refunded with restock, one never paid


async def test_seats_are_the_maximum_and_leaving_frees_one(db: Database, factory: Factory) -> None:
    w = await gw.world(db, factory)
    group_buy = await gw.make(db, w, join_price="lowest")
    first = await gw.join(db, w, await gw.member(factory, w), group_buy)
    for _ in range(4):
        await gw.join(db, w, await gw.member(factory, w), group_buy, code=first.team.code)
    late = await gw.member(factory, w)
    with pytest.raises(TeamFull):
        await gw.join(db, w, late, group_buy, code=first.team.code)
    await gw.pay(db, w, first.order.order.id)
    await gw.leave(db, w, first.participant.member_id, group_buy)  # paid: refunded in full
    assert (await gw.order(db, first.order.order.id)).status == "refunded"
    again = await gw.join(db, w, late, group_buy, code=first.team.code)
    assert again.team.size == 5
    assert again.participant.unit_price_paid == 9000  # lowest: the first tier's price


async def test_a_leave_that_would_raise_the_price_is_refused(
    db: Database, factory: Factory
) -> None:
    w = await gw.world(db, factory)
    group_buy = await gw.make(db, w)
    a = await gw.join(db, w, await gw.member(factory, w), group_buy)
    await gw.pay(db, w, a.order.order.id)
    b = await gw.join(db, w, await gw.member(factory, w), group_buy, code=a.team.code)
    await gw.pay(db, w, b.order.order.id)
    c = await gw.join(db, w, await gw.member(factory, w), group_buy, code=a.team.code)
    await gw.pay(db, w, c.order.order.id)
    assert c.participant.unit_price_paid == 8500
    with pytest.raises(LeaveWouldRaisePrice):  # 2 left would pay 90, C paid 85
        await gw.leave(db, w, a.participant.member_id, group_buy)
    assert (await gw.order(db, a.order.order.id)).status == "paid"
    assert (await gw.team(db, a.team.id)).size == 3


async def test_a_cancelled_group_buy_refunds_every_paid_member_in_full(
    db: Database, factory: Factory
) -> None:
    w = await gw.world(db, factory, stock=10)
    group_buy = await gw.make(db, w)
    a = await gw.join(db, w, await gw.member(factory, w), group_buy)
    b = await gw.join(db, w, await gw.member(factory, w), group_buy, code=a.team.code)
    c = await gw.join(db, w, await gw.member(factory, w), group_buy, code=a.team.code)
    for paid in (a, b):
        await gw.pay(db, w, paid.order.order.id)
    async with db.unit_of_work() as session:
        cancelled = await service.cancel(session, w.shop.tenant, group_buy.id)
    assert cancelled.status == "cancelled"
    with pytest.raises(GroupBuyNotOpen):
        await gw.join(db, w, await gw.member(factory, w), group_buy, code=a.team.code)
    await gw.close(db, group_buy)
    team = await gw.team(db, a.team.id)
    assert (team.status, team.size) == ("failed", 2)
    assert await gw.kept(db, team.id) == 0
    statuses = [(await gw.order(db, j.order.order.id)).status for j in (a, b, c)]
    assert statuses == ["refunded", "refunded", "cancelled"]
    assert await gw.stock(db, w.product.id) == 10
