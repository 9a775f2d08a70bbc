"""A broadcast in the built-in web community: the robot's message in the group, with the
image's URL above the text and the links under it (a web message has neither picture nor
buttons of its own); a web group needs no chat id nor robot of its own."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select

from tests.factories import Factory
from tests.robot.worlds import World
from tribekit.kit.db import Database
from tribekit.models.communities import Community
from tribekit.models.enums import Channel as ChannelName
from tribekit.models.enums import CommunityStatus
from tribekit.models.robot import RobotAccount
from tribekit.models.web import AuthorKind, WebMessage
from tribekit.robot.broadcasts.service import Counts
from tribekit.robot.channels import Channel
from tribekit.robot.channels.web import WebChannel

from . import helpers


async def test_a_broadcast_with_an_image_and_a_link_in_the_web_community(
    db: Database, factory: Factory
) -> None:
    shop = await factory.shop()
    async with db.unit_of_work() as session:
        group = Community(
            merchant_id=shop.tenant.id,
            name="Fruit lovers",
            channel=ChannelName.WEB,
            external_id=None,
            status=CommunityStatus.ACTIVE,
        )
        robot = RobotAccount(
            merchant_id=shop.tenant.id,
            channel=ChannelName.WEB,
            name="Greenwood robot",
            external_id=f"web:{shop.tenant.id}",
            webhook_secret="w" * 32,
        )
        session.add_all([group, robot])
    world = World(shop, robot.id, robot.id, [group.id])
    channels: Mapping[str, Channel] = {"web": WebChannel(db)}
    broadcast_id = await helpers.broadcast(
        db,
        world,
        channels,
        content=helpers.content(
            "Mangoes are in!",
            image_url="https://shop.example/mango.jpg",
            buttons=[
                [{"text": "Order", "url": "https://shop.example/m", "data": None}],
                [{"text": "Remind me", "url": None, "data": "remind"}],
            ],
        ),
    )
    await helpers.run_until_done(db, helpers.sweeps(db, channels), broadcast_id)
    async with db.unit_of_work(read_only=True) as session:
        [message] = (await session.scalars(select(WebMessage))).all()
    assert message.community_id == group.id
    assert message.author_kind == AuthorKind.ROBOT
    assert message.author_name == "Greenwood robot"
    assert message.text == (
        "https://shop.example/mango.jpg\nMangoes are in!\n\nOrder: https://shop.example/m"
    )
    [delivery] = await helpers.deliveries(db, broadcast_id)
    assert (delivery.chat_id, delivery.robot_account_id) == (str(group.id), robot.id)
    assert delivery.message_id == str(message.id)
    assert await helpers.counts(db, broadcast_id) == Counts(sent=1)
