"""One batch of the orders' expiry sweep closing unpaid group-buy joins and flash-sale
reservations together: teams and sales share the lock rank CAMPAIGN, and the batch locks them
up front in one id order, so it runs without a lock-order violation; every seat and every
unit comes back once."""

from __future__ import annotations

from datetime import timedelta

from httpx import AsyncClient
from sqlalchemy import update

from tests.campaigns.flash.world import FlashShop, buy, flash_headers, live_sale, sale_row
from tests.campaigns.group_buys import world as gw
from tests.factories import Factory
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.models.orders import Order
from tribekit.orders import tasks as order_tasks


async def test_one_expiry_batch_frees_seats_and_flash_units_together(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    w = await gw.world(db, factory, stock=50)
    flash = FlashShop(w.shop, w.product)
    sales = [await live_sale(client, db, flash, quantity=3) for _ in range(2)]
    teams = []
    for _ in range(3):
        group_buy = await gw.make(db, w)
        joined = await gw.join(db, w, await gw.member(factory, w), group_buy)
        teams.append(joined.team.id)
    for sale_id in sales:
        bought = await buy(client, sale_id, flash_headers(w.shop, await gw.member(factory, w)))
        assert bought.status_code == 201, bought.text
    assert [(await sale_row(db, s)).remaining for s in sales] == [2, 2]
    async with db.unit_of_work() as session:
        await session.execute(update(Order).values(expires_at=clock.now() - timedelta(seconds=1)))
    assert await db.run(lambda session: order_tasks.expire_unpaid(session, 100)) == 5
    assert [(await gw.team(db, t)).size for t in teams] == [0, 0, 0]
    assert [(await sale_row(db, s)).remaining for s in sales] == [3, 3]
    assert await gw.stock(db, w.product.id) == 50 - 2 * 3  # the sales' allotments only
