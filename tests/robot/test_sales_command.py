"""``/sales`` in a Telegram group (the real Bot API client against the suite's local server):
the live flash sales for this group with price, units left and end time, each with the
member's own signed link to its page; a sale aimed at another group is not listed; a sold-out
sale says so; nothing on sale says that."""

from __future__ import annotations

import time
from datetime import timedelta
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

from httpx import AsyncClient
from sqlalchemy import select

from tests.campaigns.flash.world import FlashShop, buy, flash_headers, live_sale
from tests.conftest import SECRET
from tests.factories import Factory, Shop
from tests.robot.fake_telegram import FakeTelegram
from tests.robot.test_recent import Robot
from tests.robot.worlds import led_telegram_groups
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.members import access
from tribekit.models.communities import Community
from tribekit.models.members import Member
from tribekit.robot import pipeline

CHATS = (-100700, -100701)
ANNA, LEADER = 7001, 7002
URL = "https://shop.example"


async def test_sales_lists_what_is_on_now_with_the_members_own_link(
    client: AsyncClient, db: Database, factory: Factory, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.add_user(ANNA, "Anna")
    fake_telegram.add_user(LEADER, "Lin")
    shop = await factory.shop()
    robot = await led_telegram_groups(
        db,
        factory,
        fake_telegram,
        token="710001:sales-robot",
        robot_name="Sales robot",
        chat_ids=CHATS,
        leader=LEADER,
        greeter=LEADER,
        members=(ANNA, LEADER),
        shop=shop,
    )
    robot.context = pipeline.RobotContext(secret_key=SECRET, public_url=URL)
    try:
        await _ask_sales(robot, shop, client, db, factory, fake_telegram)
    finally:
        await robot.channel.aclose()


async def _ask_sales(
    robot: Robot,
    shop: Shop,
    client: AsyncClient,
    db: Database,
    factory: Factory,
    fake_telegram: FakeTelegram,
) -> None:
    product = await factory.product(shop, name="Lychee crate", price=8800, stock=30)
    world = FlashShop(shop, product)
    async with db.unit_of_work(read_only=True) as session:
        groups = {c.external_id: c.id for c in (await session.scalars(select(Community))).all()}
        anna = await session.scalar(
            select(Member.id).where(Member.display_name == fake_telegram.users[ANNA].first_name)
        )
    assert anna is not None
    at = int(time.time())

    async def ask(chat: int) -> str:
        nonlocal at
        at += 30
        [update] = fake_telegram.feed(fake_telegram.message(chat, ANNA, "/sales", date=at))
        assert await robot.receive(update) == ["command: sales"]
        await robot.work()
        return str(fake_telegram.sent(chat)[-1].text)

    assert await ask(CHATS[0]) == "Nothing is on sale right now. Watch this group for the next one!"

    ends = clock.now() + timedelta(hours=2)
    everywhere = await live_sale(
        client, db, world, quantity=5, price=4900, ends_at=ends.isoformat()
    )
    elsewhere = await live_sale(
        client,
        db,
        world,
        quantity=1,
        per_member_limit=1,
        community_ids=[str(groups[str(CHATS[1])])],
    )
    answer = await ask(CHATS[0])
    lines = answer.split("\n")
    local_end = ends.astimezone(ZoneInfo(shop.tenant.timezone))
    assert lines[0] == "On sale now:"
    assert lines[2] == f"⚡ Lychee crate: CN¥49.00, 5 left, until {local_end:%H:%M}"
    link = urlparse(lines[3])
    assert f"{link.scheme}://{link.netloc}{link.path}" == f"{URL}/m/flash/{everywhere}"
    member_link = parse_qs(link.query)["t"][0]
    async with db.unit_of_work(read_only=True) as session:
        signed_in = await access.authenticate(session, SECRET, member_link)
    assert signed_in.member_id == anna  # the member's own link
    assert elsewhere not in answer  # aimed at the other group only

    bought = await buy(
        client, elsewhere, flash_headers(shop, anna, communities=[groups[str(CHATS[1])]])
    )
    assert bought.status_code == 201, bought.text
    other = await ask(CHATS[1])
    assert "⚡ Lychee crate: CN¥49.00, 5 left" in other
    assert "⚡ Lychee crate: CN¥49.00, sold out" in other
    assert f"/m/flash/{elsewhere}?t=" in other
