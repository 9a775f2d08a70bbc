"""The robot's test worlds: a shop's Telegram robot, its groups and a member it knows, written as
rows (tests that need the robot registered through the Bot API use ``accounts`` instead)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from tests.factories import Factory, Shop
from tribekit.kit.db import Database
from tribekit.models.communities import Community
from tribekit.models.enums import Channel, CommunityStatus
from tribekit.models.members import MemberIdentity
from tribekit.models.robot import RobotAccount

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
