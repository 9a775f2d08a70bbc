"""The robot's test worlds: a shop's Telegram robot, its groups and a member it knows, written as
rows (tests that need the robot registered through the Bot API use ``accounts`` instead)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select, update

from tests.factories import Factory, Shop
from tests.robot.fake_telegram import FakeTelegram
from tests.robot.test_recent import Robot
from tribekit.kit.db import Database
from tribekit.models.communities import Community, CommunityLeader
from tribekit.models.enums import Channel, CommunityStatus
from tribekit.models.members import Member, MemberIdentity
from tribekit.models.robot import RobotAccount
from tribekit.robot import accounts, pipeline
from tribekit.robot.channels.telegram import TelegramChannel

TOKEN = "700001:robot-token"


@dataclass
class World:
    shop: Shop
    member_id: uuid.UUID  # known to the robot as Telegram user ``person_id``
    robot_id: uuid.UUID
    groups: list[uuid.UUID]  # active, in the order of the chat ids given


async def telegram_world(
    db: Database,
    factory: Factory,
    chat_ids: Iterable[int],
    *,
    person_id: int = 42,
    token: str = TOKEN,
    display_name: str = "Spammer",
) -> World:
    """A shop whose robot is in the active Telegram groups ``chat_ids``, and a member known
    there as Telegram user ``person_id``."""
    shop = await factory.shop()
    member = (await factory.member(shop, display_name=display_name)).member
    async with db.unit_of_work() as session:
        robot = RobotAccount(
            merchant_id=shop.tenant.id,
            channel=Channel.TELEGRAM,
            name="Shop robot",
            username="shop_robot",
            external_id=token.partition(":")[0],
            token=token,
            webhook_secret="s" * 32,
        )
        session.add(robot)
        await session.flush()
        groups = [
            Community(
                merchant_id=shop.tenant.id,
                name=f"Group {chat_id}",
                channel=Channel.TELEGRAM,
                external_id=str(chat_id),
                status=CommunityStatus.ACTIVE,
                robot_account_id=robot.id,
            )
            for chat_id in chat_ids
        ]
        session.add_all(groups)
        session.add(
            MemberIdentity(
                merchant_id=shop.tenant.id,
                member_id=member.id,
                channel="telegram",
                external_id=str(person_id),
            )
        )
        await session.flush()
        return World(shop, member.id, robot.id, [g.id for g in groups])


async def led_telegram_groups(
    db: Database,
    factory: Factory,
    fake: FakeTelegram,
    *,
    token: str,
    robot_name: str,
    chat_ids: Sequence[int],
    leader: int,
    greeter: int,
    members: Sequence[int],
    shop: Shop | None = None,
) -> Robot:
    """A shop's robot, registered through the Bot API, in the active Telegram groups
    ``chat_ids``: met through ``greeter``'s hello, confirmed, each of ``members`` known in
    every group, and ``leader`` (one of them, a user of the fake server) leading the first.
    ``shop``: the shop whose robot it is (a new one when None)."""
    bot = fake.add_bot(token, robot_name)
    for chat_id in chat_ids:
        fake.add_chat(chat_id, f"Tea {chat_id}")
        fake.add_member(chat_id, bot, status="administrator")
    channel = TelegramChannel(fake.base_url)
    shop = shop or await factory.shop()
    async with db.unit_of_work() as session:
        account = await accounts.register_telegram_bot(
            session, shop.tenant, {"telegram": channel}, token=token
        )
    robot = Robot(db, shop.tenant, account, channel, pipeline.RobotContext())
    for chat_id in chat_ids:  # the robot meets the groups; staff confirm them
        [hello] = fake.feed(fake.message(chat_id, greeter, "hello"))
        await robot.receive(hello)
    async with db.unit_of_work() as session:
        await session.execute(update(Community).values(status=CommunityStatus.ACTIVE))
    for chat_id in chat_ids:  # members of an active group are known to the robot
        for user in members:
            [hello] = fake.feed(fake.message(chat_id, user, f"hi from {user}"))
            await robot.receive(hello)
    async with db.unit_of_work() as session:
        first = await session.scalar(
            select(Community).where(Community.external_id == str(chat_ids[0]))
        )
        led_by = await session.scalar(
            select(Member).where(Member.display_name == fake.users[leader].first_name)
        )
        assert first is not None
        assert led_by is not None
        session.add(
            CommunityLeader(merchant_id=shop.tenant.id, community_id=first.id, member_id=led_by.id)
        )
    return robot
