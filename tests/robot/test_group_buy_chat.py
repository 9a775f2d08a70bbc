"""A group buy joined from a Telegram group (the real Bot API client against the suite's local
server): the announcement is posted with a "+1" button; a member's "+1" reply to it and another
member's press of the button join this group's team and answer with each member's own link to
the team page; a second "+1" from a member in the team says so; "+1" to any other message is
an ordinary message; ``/sales`` lists the group buy."""

from __future__ import annotations

import time
import uuid

from sqlalchemy import select

from tests.campaigns.group_buys.world import FRIDAY, World, make, participants
from tests.campaigns.schedules.world import announce
from tests.conftest import SECRET
from tests.factories import Factory
from tests.robot.broadcasts.helpers import run, sweeps
from tests.robot.fake_telegram import FakeTelegram, StoredMessage
from tests.robot.worlds import led_telegram_groups
from tribekit.kit.db import Database
from tribekit.models.campaigns import GroupBuyTeam
from tribekit.robot import campaigns, pipeline

CHATS = (-100800, -100801)
ANNA, BO, LEADER = 8001, 8002, 8003
URL = "https://shop.example"


def _announcement(fake: FakeTelegram, chat: int) -> StoredMessage:
    [posted] = [m for m in fake.sent(chat) if m.reply_markup]
    return posted


async def test_plus_one_and_the_join_button_join_this_groups_team(
    db: Database, factory: Factory, fake_telegram: FakeTelegram
) -> None:
    for user, name in ((ANNA, "Anna"), (BO, "Bo"), (LEADER, "Lin")):
        fake_telegram.add_user(user, name)
    shop = await factory.shop()
    robot = await led_telegram_groups(
        db,
        factory,
        fake_telegram,
        token="720001:group-buy-robot",
        robot_name="Gift robot",
        chat_ids=CHATS,
        leader=LEADER,
        greeter=LEADER,
        members=(ANNA, BO, LEADER),
        shop=shop,
    )
    robot.context = pipeline.RobotContext(secret_key=SECRET, public_url=URL)
    try:
        product = await factory.product(shop, name="Fruit gift pack", price=10_000)
        group_buy = await make(db, World(shop, product), FRIDAY, name="Friday gift pack")
        assert await announce(db) >= 1
        await run(db, sweeps(db, {"telegram": robot.channel}), rounds=3)
        posted = _announcement(fake_telegram, CHATS[0])
        buttons = [b for row in posted.api["reply_markup"]["inline_keyboard"] for b in row]
        assert buttons[0] == {
            "text": "+1 Join",
            "callback_data": campaigns.join_button(group_buy.id),
        }
        assert buttons[1]["url"] == f"{URL}/m/group-buys/{group_buy.id}"

        at = int(time.time())
        [plus_one] = fake_telegram.feed(
            fake_telegram.message(CHATS[0], ANNA, "+1", reply_to=posted.message_id, date=at)
        )
        assert await robot.receive(plus_one) == ["group buy: +1"]
        await robot.work()
        answer = str(fake_telegram.sent(CHATS[0])[-1].text)
        assert answer.startswith("You are in the team for Friday gift pack (1/5), CN¥90.00 each")
        assert f"{URL}/m/group-buys/teams/" in answer
        assert "?t=tkm_" in answer  # Anna's own link

        press = fake_telegram.callback_query(
            CHATS[0], BO, posted.message_id, campaigns.join_button(group_buy.id)
        )
        [pressed] = fake_telegram.feed(press)
        assert await robot.receive(pressed) == ["group buy: button"]
        await robot.work()
        assert len(fake_telegram.calls_to("answerCallbackQuery")) == 1
        told = str(fake_telegram.sent(CHATS[0])[-1].text)
        assert told.startswith("Bo: You are in the team for Friday gift pack (2/5)")

        async with db.unit_of_work(read_only=True) as session:
            teams = (await session.scalars(select(GroupBuyTeam))).all()
        assert [(t.size, t.community_id is not None) for t in teams] == [(2, True)]
        assert len(await participants(db, teams[0].id)) == 2

        [again] = fake_telegram.feed(
            fake_telegram.message(CHATS[0], ANNA, "+1", reply_to=posted.message_id, date=at + 20)
        )
        assert await robot.receive(again) == ["group buy: +1"]
        await robot.work()
        assert str(fake_telegram.sent(CHATS[0])[-1].text).startswith(
            "You are in a team for Friday gift pack already"
        )
        [elsewhere] = fake_telegram.feed(
            fake_telegram.message(CHATS[0], BO, "+1", reply_to=told_id(fake_telegram), date=at + 40)
        )
        assert await robot.receive(elsewhere) == ["clean"]  # not an announcement: nothing joined
        [sales] = fake_telegram.feed(fake_telegram.message(CHATS[0], BO, "/sales", date=at + 60))
        assert await robot.receive(sales) == ["command: sales"]
        await robot.work()
        listed = str(fake_telegram.sent(CHATS[0])[-1].text)
        assert "👥 Friday gift pack: 2 people CN¥90.00 each, 3 people CN¥85.00 each, " in listed
        assert f"{URL}/m/group-buys/{group_buy.id}?t=tkm_" in listed
        async with db.unit_of_work(read_only=True) as session:
            assert uuid.UUID(str(teams[0].id)) == (await session.scalar(select(GroupBuyTeam.id)))
    finally:
        await robot.channel.aclose()


def told_id(fake: FakeTelegram) -> int:
    return fake.messages(CHATS[0])[0].message_id
