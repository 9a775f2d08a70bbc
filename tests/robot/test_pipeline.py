"""The inbound pipeline end to end over Telegram (scenario 2): updates from the local Bot API
server parsed by the Telegram channel, handled, and the actions carried out by the worker
through aiogram. A group the robot meets waits for staff; a spammer's invite link is deleted
and warned about, the second strike mutes, the third bans from every group at once, and a
banned member who joins another group is removed on sight."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from sqlalchemy import event as sql_events
from sqlalchemy import select, update

from tests.factories import Factory, Shop, count_rows
from tribekit.kit.db import Database
from tribekit.models.communities import Community
from tribekit.models.coupons import Coupon, CouponGrant
from tribekit.models.enums import CommunityStatus, CouponKind
from tribekit.models.members import Member
from tribekit.models.moderation import AutoReply, Ban, ModerationEntry, Strike
from tribekit.models.robot import RobotAccount, RobotAction
from tribekit.robot import accounts, pipeline, tasks
from tribekit.robot.channels import Channel as ChatChannel
from tribekit.robot.channels.telegram import TelegramChannel

from .fake_telegram import FakeTelegram

TOKEN = "700001:robot-token"
GROUPS = [-3001, -3002, -3003]
SPAMMER, REGULAR = 42, 43


@pytest.fixture
async def telegram(fake_telegram: FakeTelegram) -> AsyncIterator[TelegramChannel]:
    bot = fake_telegram.add_bot(TOKEN, "shop_robot")
    fake_telegram.add_user(SPAMMER, "Sam")
    fake_telegram.add_user(REGULAR, "Mei")
    for chat_id in GROUPS:
        fake_telegram.add_chat(chat_id, f"Greenwood {chat_id}")
        fake_telegram.add_member(chat_id, bot, status="administrator")
    for chat_id in GROUPS[:2]:
        fake_telegram.add_member(chat_id, SPAMMER)
        fake_telegram.add_member(chat_id, REGULAR)
    channel = TelegramChannel(fake_telegram.base_url)
    yield channel
    await channel.aclose()


class Robot:
    def __init__(
        self, db: Database, shop: Shop, account: RobotAccount, channel: TelegramChannel
    ) -> None:
        self.db, self.shop, self.account, self.channel = db, shop, account, channel
        self.channels: Mapping[str, ChatChannel] = {"telegram": channel}

    async def receive(self, update: dict[str, Any]) -> list[str]:
        events = self.channel.parse(accounts.as_channel_account(self.account), update)
        outcomes = []
        for event in events:
            async with self.db.unit_of_work() as session:
                outcomes.append(
                    await pipeline.handle(session, self.shop.tenant, self.account, event)
                )
        return outcomes

    async def work(self) -> None:
        sweep = tasks.actions_sweep(self.db, self.channels)
        while await self.db.run(lambda session: sweep.run(session, sweep.batch_size)):
            pass


@pytest.fixture
async def robot(db: Database, factory: Factory, telegram: TelegramChannel) -> Robot:
    shop = await factory.shop()
    async with db.unit_of_work() as session:
        account = await accounts.register_telegram_bot(
            session, shop.tenant, {"telegram": telegram}, token=TOKEN
        )
    return Robot(db, shop, account, telegram)


async def _confirm_all(db: Database) -> None:
    async with db.unit_of_work() as session:
        await session.execute(
            update(Community).values(status=CommunityStatus.ACTIVE, welcome_text=None)
        )


async def test_a_group_the_robot_meets_waits_for_staff(
    robot: Robot, fake_telegram: FakeTelegram, db: Database
) -> None:
    bot = fake_telegram.bots[TOKEN].user
    added = fake_telegram.feed(fake_telegram.member_joined(GROUPS[0], bot))
    assert {o for update in added for o in await robot.receive(update)} <= {
        "group pending",
        "duplicate",
    }
    [spam] = fake_telegram.feed(fake_telegram.message(GROUPS[0], SPAMMER, "join t.me/+freecoins"))
    assert await robot.receive(spam) == ["group pending"]  # not confirmed: nothing done
    assert await count_rows(db, RobotAction) == 0
    async with db.unit_of_work(read_only=True) as session:
        [group] = (await session.scalars(select(Community))).all()
    assert (group.status, group.name, group.external_id) == (
        CommunityStatus.PENDING,
        f"Greenwood {GROUPS[0]}",
        str(GROUPS[0]),
    )


async def test_three_strikes_ban_the_spammer_from_every_group_at_once(
    robot: Robot, fake_telegram: FakeTelegram, db: Database
) -> None:
    bot = fake_telegram.bots[TOKEN].user
    for chat_id in GROUPS:  # the robot is added to the three groups; staff confirm them
        for added in fake_telegram.feed(fake_telegram.member_joined(chat_id, bot)):
            await robot.receive(added)
        fake_telegram.add_member(chat_id, bot, status="administrator")  # staff make it admin
    await _confirm_all(db)

    [clean] = fake_telegram.feed(
        fake_telegram.message(GROUPS[0], REGULAR, "Are the mangoes ripe? 45.00 for a box?")
    )
    assert await robot.receive(clean) == ["clean"]

    [first] = fake_telegram.feed(
        fake_telegram.message(GROUPS[0], SPAMMER, "free coins t.me/+freecoins")
    )
    assert await robot.receive(first) == ["warn: invite_link"]
    await robot.work()
    spam_id = first["message"]["message_id"]
    assert [m.deleted for m in fake_telegram.messages(GROUPS[0]) if m.message_id == spam_id] == [
        True
    ]
    warnings = [m.text for m in fake_telegram.sent(GROUPS[0]) if m.text]
    assert warnings == ["Sam, links to other groups are not allowed here."]

    [second] = fake_telegram.feed(
        fake_telegram.message(GROUPS[1], SPAMMER, "join t.me/+freecoins now")
    )
    assert await robot.receive(second) == ["mute: invite_link"]
    await robot.work()
    assert fake_telegram.status(GROUPS[1], SPAMMER) == "restricted"

    fake_telegram.add_member(GROUPS[0], SPAMMER)  # still a member of the first group
    [third] = fake_telegram.feed(fake_telegram.message(GROUPS[0], SPAMMER, "t.me/+freecoins"))
    assert await robot.receive(third) == ["banned: invite_link"]
    await robot.work()
    assert fake_telegram.status(GROUPS[0], SPAMMER) == "kicked"
    assert fake_telegram.status(GROUPS[1], SPAMMER) == "kicked"
    assert await count_rows(db, Ban) == 1
    assert await count_rows(db, Strike) == 3
    async with db.unit_of_work(read_only=True) as session:
        log = (await session.scalars(select(ModerationEntry).order_by(ModerationEntry.at))).all()
    assert [(e.rule, e.action, e.actor) for e in log if e.rule] == [
        ("invite_link", "warn", "robot"),
        ("invite_link", "mute", "robot"),
        ("invite_link", "ban", "robot"),
    ]
    assert log[0].excerpt is not None
    assert "t.me/+freecoins" in log[0].excerpt

    # Later the spammer joins the third group: removed on sight.
    fake_telegram.add_member(GROUPS[2], SPAMMER, status="left")
    joins = fake_telegram.feed(fake_telegram.member_joined(GROUPS[2], SPAMMER))
    outcomes = [o for update in joins for o in await robot.receive(update)]
    assert "banned member removed" in outcomes
    await robot.work()
    assert fake_telegram.status(GROUPS[2], SPAMMER) == "kicked"


async def test_a_redelivered_update_is_handled_once(
    robot: Robot, fake_telegram: FakeTelegram, db: Database
) -> None:
    [hello] = fake_telegram.feed(fake_telegram.message(GROUPS[0], REGULAR, "hello"))
    await robot.receive(hello)
    await _confirm_all(db)
    [spam] = fake_telegram.feed(fake_telegram.message(GROUPS[0], SPAMMER, "t.me/+freecoins"))
    assert await robot.receive(spam) == ["warn: invite_link"]
    assert await robot.receive(spam) == ["duplicate"]
    await robot.work()
    assert len(fake_telegram.sent(GROUPS[0])) == 1
    assert len(fake_telegram.calls_to("deleteMessage")) == 1


async def test_commands_and_keyword_replies_answer_in_the_groups_language(
    robot: Robot, fake_telegram: FakeTelegram, db: Database
) -> None:
    [hello] = fake_telegram.feed(fake_telegram.message(GROUPS[0], REGULAR, "hello"))
    await robot.receive(hello)
    await _confirm_all(db)
    async with db.unit_of_work() as session:
        await session.execute(
            update(Community).values(language="zh-CN", rules_text="不发广告，不刷屏。")  # noqa: RUF001
        )
        session.add(
            AutoReply(
                merchant_id=robot.shop.tenant.id,
                match="contains",
                pattern="营业时间",
                reply="每天 9:00-21:00。",
            )
        )
    [again_hello] = fake_telegram.feed(fake_telegram.message(GROUPS[0], REGULAR, "hi again"))
    assert await robot.receive(again_hello) == ["clean"]  # Mei is a member now
    async with db.unit_of_work() as session:
        member = await session.scalar(select(Member).where(Member.display_name == "Mei"))
        assert member is not None
        member.marketing_consent = True

    start = int(time.time())
    for i, text in enumerate(("/rules", "/me@shop_robot", "请问营业时间？", "/stop", "/nope")):  # noqa: RUF001
        # 11 s apart: seven messages within seconds would be a flood
        at = start + 11 * (i + 1)
        [update_] = fake_telegram.feed(fake_telegram.message(GROUPS[0], REGULAR, text, date=at))
        await robot.receive(update_)
    await robot.work()
    answers = [m.text for m in fake_telegram.sent(GROUPS[0]) if m.text]
    assert answers[0] == "不发广告，不刷屏。"  # noqa: RUF001
    assert answers[1].startswith("您的等级：")  # noqa: RUF001
    assert answers[2] == "每天 9:00-21:00。"
    assert answers[3].startswith("已退订")
    assert len(answers) == 4  # an unknown command is not answered
    replies = [m for m in fake_telegram.sent(GROUPS[0]) if m.text]
    assert all(m.api.get("reply_to_message") for m in replies)
    async with db.unit_of_work(read_only=True) as session:
        again = await session.scalar(select(Member).where(Member.display_name == "Mei"))
    assert again is not None
    assert again.marketing_consent is False


async def test_an_ordinary_message_costs_ten_statements_at_most(
    robot: Robot, fake_telegram: FakeTelegram, db: Database
) -> None:
    """Every message of every group passes here: a guard on its round trips (the event's
    insert, the group, where the author stands, the join, the member's count, the group's and
    the member's day counters, the recent posts, the auto-replies, the event's outcome; BEGIN
    and COMMIT not counted). In production Redis keeps the recent posts: nine."""
    bot = fake_telegram.bots[TOKEN].user
    for added in fake_telegram.feed(fake_telegram.member_joined(GROUPS[0], bot)):
        await robot.receive(added)
    await _confirm_all(db)
    [first] = fake_telegram.feed(fake_telegram.message(GROUPS[0], REGULAR, "good morning all"))
    assert await robot.receive(first) == ["clean"]  # the member is made, the group joined
    statements: list[str] = []

    def counted(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    [second] = fake_telegram.feed(fake_telegram.message(GROUPS[0], REGULAR, "the mangos came"))
    sql_events.listen(db.engine.sync_engine, "before_cursor_execute", counted)
    try:
        assert await robot.receive(second) == ["clean"]
    finally:
        sql_events.remove(db.engine.sync_engine, "before_cursor_execute", counted)
    work = [s for s in statements if not s.lstrip().upper().startswith(("BEGIN", "COMMIT"))]
    assert len(work) <= 10, "\n".join(work)


async def test_a_member_the_robot_meets_gets_the_shops_welcome_gift_once(
    robot: Robot, fake_telegram: FakeTelegram, db: Database
) -> None:
    async with db.unit_of_work() as session:
        session.add(
            Coupon(
                merchant_id=robot.shop.tenant.id,
                code="WELCOME",
                kind=CouponKind.AMOUNT,
                value=500,
                issue_mode="grant",
                grant_reason="welcome",
                valid_days=7,
            )
        )
    [hello] = fake_telegram.feed(fake_telegram.message(GROUPS[0], REGULAR, "hello"))
    await robot.receive(hello)
    await _confirm_all(db)
    at = int(time.time())
    for i in range(2):
        [again] = fake_telegram.feed(
            fake_telegram.message(GROUPS[0], REGULAR, f"hi {i}", date=at + 20 * i)
        )
        await robot.receive(again)
    async with db.unit_of_work(read_only=True) as session:
        mei = await session.scalar(select(Member.id).where(Member.display_name == "Mei"))
        grants = (await session.scalars(select(CouponGrant))).all()
    assert [(g.member_id, g.source_key) for g in grants] == [(mei, "welcome")]
