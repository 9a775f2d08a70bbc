"""One ban list across platforms, end to end: a merchant runs 12 Matrix rooms on a real Synapse and
12 Telegram groups on the suite's Bot API server. A spammer, one member known on both (a Matrix
user and a Telegram user), posts invite links in the Matrix rooms: read by the robot's /sync,
each post is redacted and the spammer warned; the second strike mutes them in that room; the
third bans them in all 24 groups on both platforms (the membership read back from Synapse, the
bans from the Bot API server's calls). A 25th room confirmed later removes them on sight when they
join. Lifting the ban reverses it everywhere."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from tests.factories import Factory, Shop
from tribekit.communities import service as communities
from tribekit.kit.db import Database
from tribekit.models.communities import Community
from tribekit.models.enums import Channel, CommunityStatus
from tribekit.models.members import MemberIdentity
from tribekit.models.moderation import Ban
from tribekit.models.robot import RobotAccount
from tribekit.robot import accounts, bans, tasks
from tribekit.robot.channels import Channel as ChatChannel
from tribekit.robot.channels.matrix import MatrixChannel
from tribekit.robot.channels.telegram import TelegramChannel
from tribekit.robot.matrix_sync import MatrixSync
from tribekit.robot.receive import Receiver, Served

from .fake_telegram import FakeTelegram
from .synapse import Synapse, User

TOKEN = "700003:cross-platform-robot"
TELEGRAM_GROUPS = [-3000 - i for i in range(12)]
TELEGRAM_SPAMMER = 4242


@dataclass
class Rooms:
    owner: User
    robot: User
    spammer: User
    rooms: list[str]


@pytest.fixture(scope="module")
def matrix_rooms(synapse: Synapse) -> Rooms:
    """12 rooms of one owner, shared by the runs on each database: the robot a moderator in
    each, the spammer a member (put back by each run, whose end leaves them unbanned)."""
    owner, robot, spammer = synapse.register(), synapse.register(), synapse.register()
    rooms = [
        synapse.create_room(
            owner, f"Greenwood room {i}", invite=(robot.user_id,), power={robot.user_id: 100}
        )
        for i in range(12)
    ]
    for room_id in rooms:
        synapse.join(robot, room_id)
    return Rooms(owner, robot, spammer, rooms)


@pytest.fixture
def spammer_in_every_room(synapse: Synapse, matrix_rooms: Rooms) -> Rooms:
    spammer = matrix_rooms.spammer.user_id
    for room_id in matrix_rooms.rooms:
        membership = synapse.membership(room_id, spammer)
        if membership == "ban":  # a run on the other database stopped half-way
            synapse.call(
                matrix_rooms.owner,
                "POST",
                f"/_matrix/client/v3/rooms/{room_id}/unban",
                {"user_id": spammer},
            )
        levels = synapse.state(matrix_rooms.owner, room_id, "m.room.power_levels")
        if spammer in levels["users"]:  # muted by such a run
            del levels["users"][spammer]
            synapse.put_state(matrix_rooms.owner, room_id, "m.room.power_levels", levels)
        if membership != "join":
            synapse.invite(matrix_rooms.owner, room_id, spammer)
            synapse.join(matrix_rooms.spammer, room_id)
    # The robot on a device of this run's own (a homeserver answers a device's first /sync
    # again for a while: the run on the other database made the same first request).
    matrix_rooms.robot = synapse.login(matrix_rooms.robot)
    return matrix_rooms


@pytest.fixture
async def channels(
    db: Database, fake_telegram: FakeTelegram
) -> AsyncIterator[dict[str, ChatChannel]]:
    bot = fake_telegram.add_bot(TOKEN, "greenwood_robot")
    fake_telegram.add_user(TELEGRAM_SPAMMER, "Spammer")
    for chat_id in TELEGRAM_GROUPS:
        fake_telegram.add_chat(chat_id, f"Greenwood group {chat_id}")
        fake_telegram.add_member(chat_id, bot, status="administrator")
        fake_telegram.add_member(chat_id, TELEGRAM_SPAMMER)
    telegram = TelegramChannel(fake_telegram.base_url)
    matrix = MatrixChannel()
    yield {"telegram": telegram, "matrix": matrix}
    await telegram.aclose()
    await matrix.aclose()


async def _world(
    db: Database, factory: Factory, synapse: Synapse, rooms: Rooms, channels: dict[str, ChatChannel]
) -> tuple[Shop, uuid.UUID, RobotAccount]:
    """The shop: its Telegram bot in 12 active groups, its Matrix robot (registered after
    whoami) in 12 active rooms, and one member known as the spammer on both."""
    shop = await factory.shop()
    member = (await factory.member(shop, display_name="Spammer")).member
    async with db.unit_of_work() as session:
        matrix_robot = await accounts.register_matrix_robot(
            session, shop.tenant, channels, homeserver=synapse.url, token=rooms.robot.access_token
        )
        telegram_robot = await accounts.register_telegram_bot(
            session, shop.tenant, channels, token=TOKEN
        )
        session.add_all(
            [
                *(
                    Community(
                        merchant_id=shop.tenant.id,
                        name=f"Greenwood group {chat_id}",
                        channel=Channel.TELEGRAM,
                        external_id=str(chat_id),
                        status=CommunityStatus.ACTIVE,
                        robot_account_id=telegram_robot.id,
                    )
                    for chat_id in TELEGRAM_GROUPS
                ),
                *(
                    Community(
                        merchant_id=shop.tenant.id,
                        name=f"Greenwood room {i}",
                        channel=Channel.MATRIX,
                        external_id=room_id,
                        status=CommunityStatus.ACTIVE,
                        robot_account_id=matrix_robot.id,
                    )
                    for i, room_id in enumerate(rooms.rooms)
                ),
                MemberIdentity(
                    merchant_id=shop.tenant.id,
                    member_id=member.id,
                    channel="telegram",
                    external_id=str(TELEGRAM_SPAMMER),
                ),
                MemberIdentity(
                    merchant_id=shop.tenant.id,
                    member_id=member.id,
                    channel="matrix",
                    external_id=rooms.spammer.user_id,
                ),
            ]
        )
    return shop, member.id, matrix_robot


async def _sweep_all(db: Database, channels: Mapping[str, ChatChannel]) -> int:
    """Carry out every action due, as the worker's sweep does, until none is left."""
    sweep = tasks.actions_sweep(db, channels)
    done = 0
    while claimed := await db.run(lambda session: sweep.run(session, sweep.batch_size)):
        done += claimed
    return done


def _robot_said(synapse: Synapse, rooms: Rooms, room_id: str) -> list[str]:
    return [
        e["content"]["body"]
        for e in reversed(synapse.messages(rooms.owner, room_id, limit=20))
        if e["type"] == "m.room.message" and e["sender"] == rooms.robot.user_id
    ]


async def test_a_spammer_is_banned_from_24_groups_on_two_platforms_and_let_back_everywhere(
    db: Database,
    factory: Factory,
    synapse: Synapse,
    spammer_in_every_room: Rooms,
    channels: dict[str, ChatChannel],
    fake_telegram: FakeTelegram,
) -> None:
    rooms = spammer_in_every_room
    shop, member_id, robot = await _world(db, factory, synapse, rooms, channels)
    receiver = Receiver(db, channels)
    matrix = channels["matrix"]
    assert isinstance(matrix, MatrixChannel)
    sync = MatrixSync(receiver, matrix, wait=0)
    served = await receiver.served(robot.id)
    assert served is not None
    await sync.round(served)  # the first round: the rooms the robot is in, no history
    first, second = rooms.rooms[0], rooms.rooms[1]

    async def posts(room_id: str, text: str) -> tuple[str, list[str]]:
        event_id = synapse.send_text(rooms.spammer, room_id, text)
        assert isinstance(served, Served)
        return event_id, await sync.round(served)

    # First strike: the post redacted, the spammer warned.
    spam, outcomes = await posts(first, "Free coins! https://t.me/joinchat/AAAAfree")
    assert outcomes == ["warn: invite_link"]
    assert await _sweep_all(db, channels) == 2
    assert synapse.event(rooms.owner, first, spam)["content"] == {}
    name = rooms.spammer.localpart  # their name on Matrix
    warning = f"{name}, links to other groups are not allowed here."
    assert _robot_said(synapse, rooms, first)[-1] == warning

    # Second strike: muted in that room for an hour (below what sending takes).
    spam, outcomes = await posts(first, "Still free: https://t.me/+AAAAfree")
    assert outcomes == ["mute: invite_link"]
    assert await _sweep_all(db, channels) == 3  # redact, mute, warn
    assert synapse.event(rooms.owner, first, spam)["content"] == {}
    levels = synapse.state(rooms.owner, first, "m.room.power_levels")
    assert levels["users"][rooms.spammer.user_id] == levels["events_default"] - 1

    # Third strike, in another room: banned everywhere the member is known.
    spam, outcomes = await posts(second, "Last call https://t.me/joinchat/AAAAfree")
    assert outcomes == ["banned: invite_link"]
    assert await _sweep_all(db, channels) == 26  # redact, say, and 24 bans
    assert synapse.event(rooms.owner, second, spam)["content"] == {}
    assert name in _robot_said(synapse, rooms, second)[-1]  # told why they are gone
    assert {synapse.membership(r, rooms.spammer.user_id) for r in rooms.rooms} == {"ban"}
    banned = fake_telegram.calls_to("banChatMember", token=TOKEN)
    assert sorted(int(c.params["chat_id"]) for c in banned) == sorted(TELEGRAM_GROUPS)
    assert {int(c.params["user_id"]) for c in banned} == {TELEGRAM_SPAMMER}
    assert {fake_telegram.status(chat_id, TELEGRAM_SPAMMER) for chat_id in TELEGRAM_GROUPS} == {
        "kicked"
    }

    # A 25th room later: staff confirm it, and the spammer joining it is removed on sight.
    late = synapse.create_room(
        rooms.owner,
        "Greenwood pop-up",
        invite=(rooms.robot.user_id,),
        power={rooms.robot.user_id: 100},
    )
    # The robot reads its invite, and the spammer gone from the 12 rooms it banned them from.
    assert await sync.round(served) == ["group pending"] + ["left"] * 12
    async with db.unit_of_work() as session:
        group = (
            await session.scalars(select(Community).where(Community.external_id == late))
        ).one()
        await communities.confirm_community(session, shop.tenant, group.id)
    assert await sync.round(served) == ["ignored"]  # the robot's own join
    synapse.invite(rooms.owner, late, rooms.spammer.user_id)
    synapse.join(rooms.spammer, late)
    assert await sync.round(served) == ["banned member removed"]
    assert await _sweep_all(db, channels) == 1
    assert synapse.membership(late, rooms.spammer.user_id) == "ban"

    # Lifting the ban lets them back in all 25 Matrix rooms and the 12 Telegram groups.
    async with db.unit_of_work() as session:
        lifted = await bans.unban(session, shop.tenant, member_id, actor="staff:owner")
    assert lifted is not None
    assert await _sweep_all(db, channels) == 25
    for room_id in [*rooms.rooms, late]:
        assert synapse.membership(room_id, rooms.spammer.user_id) == "leave"
    unbanned = fake_telegram.calls_to("unbanChatMember", token=TOKEN)
    assert sorted(int(c.params["chat_id"]) for c in unbanned) == sorted(TELEGRAM_GROUPS)
    assert {fake_telegram.status(chat_id, TELEGRAM_SPAMMER) for chat_id in TELEGRAM_GROUPS} == {
        "left"
    }
    async with db.unit_of_work(read_only=True) as session:
        assert (await session.scalars(select(Ban.lifted_by))).all() == ["staff:owner"]
