"""A Matrix robot on a real Synapse, end to end through the database: registered through the API
after the homeserver's whoami; invited to a room, it joins and the room becomes a pending group
that staff confirm; its rooms read with /sync, each event handled once (a round read again is
found, not handled twice), the next_batch kept on the account; a numbered reply to its buttons
read as the press; a timed mute and a timed ban lifted at their end; the rooms' admins read by
the worker; and ``tribekit robot poll``'s poller syncing Matrix robots next to Telegram's."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from httpx import AsyncClient
from sqlalchemy import select

from tests.factories import Factory, Shop, count_rows
from tribekit.communities import service as communities
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.models.communities import Community
from tribekit.models.enums import ActionKind, ActionStatus, Channel, CommunityStatus
from tribekit.models.robot import ChatAdmins, RobotAccount, RobotAction, RobotEvent
from tribekit.robot import accounts, actions, tasks
from tribekit.robot.channels import Button, OutboundAction
from tribekit.robot.channels.matrix import MatrixChannel
from tribekit.robot.channels.telegram import TelegramChannel
from tribekit.robot.matrix_sync import MatrixSync, store_token, stored_token
from tribekit.robot.poll import Poller
from tribekit.robot.receive import Receiver, Served

from .fake_telegram import FakeTelegram
from .synapse import Synapse, User

START = datetime(2026, 12, 2, 20, 0, tzinfo=UTC)


@pytest.fixture
async def matrix(db: Database) -> AsyncIterator[MatrixChannel]:
    channel = MatrixChannel()
    yield channel
    await channel.aclose()


async def _robot(db: Database, shop: Shop, synapse: Synapse, matrix: MatrixChannel) -> User:
    robot = synapse.register()
    async with db.unit_of_work() as session:
        await accounts.register_matrix_robot(
            session,
            shop.tenant,
            {"matrix": matrix},
            homeserver=synapse.url,
            token=robot.access_token,
        )
    return robot


async def _account(db: Database) -> RobotAccount:
    async with db.unit_of_work(read_only=True) as session:
        return (await session.scalars(select(RobotAccount))).one()


async def _served(receiver: Receiver) -> Served:
    account = await _account(receiver.db)
    served = await receiver.served(account.id)
    assert served is not None
    return served


async def _sweep(db: Database, matrix: MatrixChannel) -> int:
    sweep = tasks.actions_sweep(db, {"matrix": matrix})
    return await db.run(lambda session: sweep.run(session, sweep.batch_size))


def _problem(response: object) -> tuple[int, str]:
    status = response.status_code  # type: ignore[attr-defined]
    return status, response.json()["code"]  # type: ignore[attr-defined]


async def test_a_matrix_robot_is_registered_after_whoami(
    db: Database, factory: Factory, client: AsyncClient, synapse: Synapse
) -> None:
    shop = await factory.shop()
    robot = synapse.register()
    body = {"channel": "matrix", "homeserver": synapse.url + "/", "token": robot.access_token}
    created = await client.post("/api/v1/robot/accounts", json=body, headers=shop.headers)
    assert created.status_code == 201, created.text
    out = created.json()
    assert (out["channel"], out["external_id"], out["username"], out["name"]) == (
        "matrix",
        robot.user_id,
        robot.user_id,
        robot.localpart,  # the user's name on the homeserver, when none is given
    )
    assert (out["homeserver"], out["mode"], out["active"]) == (synapse.url, "poll", True)
    again = await client.post("/api/v1/robot/accounts", json=body, headers=shop.headers)
    assert _problem(again) == (409, "robot_registered")
    refused = await client.post(
        "/api/v1/robot/accounts", json={**body, "token": "syt_not_a_token"}, headers=shop.headers
    )
    assert _problem(refused) == (422, "robot_token_refused")
    assert "does not accept this access token" in refused.json()["detail"]
    nowhere = await client.post(
        "/api/v1/robot/accounts",
        json={**body, "homeserver": "http://127.0.0.1:9"},
        headers=shop.headers,
    )
    assert _problem(nowhere) == (422, "robot_homeserver_unreachable")
    by_number = await client.post(
        "/api/v1/robot/accounts",
        json={**body, "homeserver": "http://10.0.0.1:8008"},  # never called: refused as given
        headers=shop.headers,
    )
    assert _problem(by_number) == (422, "validation_failed")
    assert by_number.json()["errors"][0]["loc"][-1] == "homeserver"
    path = f"/api/v1/robot/accounts/{out['id']}"
    switched = await client.patch(path, json={"mode": "webhook"}, headers=shop.headers)
    assert _problem(switched) == (409, "robot_matrix_syncs")
    hooked = await client.post(f"{path}/webhook", headers=shop.headers)
    assert _problem(hooked) == (409, "robot_matrix_syncs")
    assert await count_rows(db, RobotAccount) == 1
    account = await _account(db)
    assert (account.token, account.homeserver, account.sync_token) == (
        robot.access_token,
        synapse.url,
        None,
    )


async def test_an_invited_room_becomes_a_pending_group_and_its_events_are_handled_once(
    db: Database, factory: Factory, synapse: Synapse, matrix: MatrixChannel
) -> None:
    shop = await factory.shop()
    robot = await _robot(db, shop, synapse, matrix)
    owner, mei = synapse.register(), synapse.register()
    room_id = synapse.create_room(
        owner, "Greenwood Fruit Lovers", invite=(mei.user_id,), power={robot.user_id: 100}
    )
    synapse.join(mei, room_id)
    synapse.send_text(mei, room_id, "posted before the robot came: https://t.me/joinchat/old")
    receiver = Receiver(db, {"matrix": matrix})
    sync = MatrixSync(receiver, matrix, wait=0)
    served = await _served(receiver)

    synapse.invite(owner, room_id, robot.user_id)
    assert await sync.round(served) == ["group pending"]  # the invite; then it joins
    assert synapse.membership(room_id, robot.user_id) == "join"
    async with db.unit_of_work(read_only=True) as session:
        group = (await session.scalars(select(Community))).one()
    assert (group.name, group.channel, group.external_id, group.status) == (
        "Greenwood Fruit Lovers",
        Channel.MATRIX,
        room_id,
        CommunityStatus.PENDING,
    )
    first_token = await stored_token(receiver, served.account.id)
    assert first_token is not None
    assert first_token == sync.tokens[served.account.id]

    # Its own join comes next (the same group; the history the room came with is not read);
    # nothing is moderated until staff confirm.
    synapse.send_text(mei, room_id, "hello https://t.me/joinchat/abc")
    assert await sync.round(served) == ["group pending", "group pending"]
    async with db.unit_of_work() as session:
        await communities.confirm_community(session, shop.tenant, group.id)
    spam = synapse.send_text(mei, room_id, "join us https://t.me/joinchat/abc")
    second_token = await stored_token(receiver, served.account.id)
    assert await sync.round(served) == ["warn: invite_link"]
    assert await _sweep(db, matrix) == 2  # the message redacted, Mei warned
    assert synapse.event(owner, room_id, spam)["content"] == {}
    [warning] = [
        e
        for e in synapse.messages(owner, room_id, limit=5)
        if e["type"] == "m.room.message" and e["sender"] == robot.user_id
    ]
    assert (
        warning["content"]["body"]
        == f"{mei.localpart}, links to other groups are not allowed here."
    )
    assert await count_rows(db, RobotEvent) == 4  # the invite, the join and two posts

    # A poller that died before storing the token reads the round again: nothing twice.
    assert second_token is not None
    await store_token(receiver, served.account.id, second_token)
    sync.tokens.clear()
    assert await sync.round(served) == ["duplicate"]
    assert await count_rows(db, RobotEvent) == 4
    assert await count_rows(db, RobotAction) == 2

    # A numbered reply to a robot message with buttons is read as the press (the replied-to
    # message fetched from the homeserver first).
    sent = await matrix.perform(
        served.as_channel,
        OutboundAction(ActionKind.SEND, room_id, text="Pick one", buttons=((Button("A", "a"),),)),
    )
    assert sent.message_id is not None
    synapse.send_text(
        mei, room_id, "1", **{"m.relates_to": {"m.in_reply_to": {"event_id": sent.message_id}}}
    )
    assert await sync.round(served) == ["ignored"]  # a press of no captcha of the robot's
    async with db.unit_of_work(read_only=True) as session:
        kinds = (await session.scalars(select(RobotEvent.kind).order_by(RobotEvent.at))).all()
    assert kinds[-1] == "button"


async def test_a_timed_mute_and_a_timed_ban_end_at_their_time(
    db: Database, factory: Factory, synapse: Synapse, matrix: MatrixChannel
) -> None:
    shop = await factory.shop()
    robot = await _robot(db, shop, synapse, matrix)
    owner, ana = synapse.register(), synapse.register()
    room_id = synapse.create_room(
        owner, "Mutes", invite=(robot.user_id, ana.user_id), power={robot.user_id: 100}
    )
    synapse.join(robot, room_id)
    synapse.join(ana, room_id)
    account = await _account(db)

    def level() -> int:
        levels = synapse.state(owner, room_id, "m.room.power_levels")
        return int(levels["users"].get(ana.user_id, levels["users_default"]))

    async def mute(decision: str, minutes: int) -> None:
        async with db.unit_of_work() as session:
            await actions.owe(
                session,
                shop.tenant,
                robot_account_id=account.id,
                community_id=None,
                decision=decision,
                action=OutboundAction(
                    ActionKind.RESTRICT,
                    room_id,
                    person_id=ana.user_id,
                    until=START + timedelta(minutes=minutes),
                ),
            )

    with clock.frozen_at(START) as frozen:
        await mute("mute:1", 10)
        await mute("mute:2", 60)  # a longer mute before the first ended
        async with db.unit_of_work(read_only=True) as session:
            rows = (await session.scalars(select(RobotAction).order_by(RobotAction.due_at))).all()
        ends = [(r.kind, r.status, r.due_at) for r in rows if r.kind == ActionKind.UNRESTRICT]
        assert ends == [
            (ActionKind.UNRESTRICT, ActionStatus.CANCELLED, START + timedelta(minutes=10)),
            (ActionKind.UNRESTRICT, ActionStatus.PENDING, START + timedelta(minutes=60)),
        ]
        assert await _sweep(db, matrix) == 2  # both mutes (the second changes nothing)
        assert level() == -1
        frozen.advance(timedelta(minutes=59))
        assert await _sweep(db, matrix) == 0
        frozen.advance(timedelta(minutes=1))
        assert await _sweep(db, matrix) == 1
    assert level() == 0
    synapse.send_text(ana, room_id, "back")

    # A ban for a day on Matrix is lifted at its end the same way.
    with clock.frozen_at(START + timedelta(hours=2)) as frozen:
        async with db.unit_of_work() as session:
            await actions.owe(
                session,
                shop.tenant,
                robot_account_id=account.id,
                community_id=None,
                decision="ban:day",
                action=OutboundAction(
                    ActionKind.BAN,
                    room_id,
                    person_id=ana.user_id,
                    until=START + timedelta(hours=26),
                ),
            )
        assert await _sweep(db, matrix) == 1
        assert synapse.membership(room_id, ana.user_id) == "ban"
        frozen.advance(timedelta(hours=24))
        assert await _sweep(db, matrix) == 1
    assert synapse.membership(room_id, ana.user_id) == "leave"


async def test_the_worker_reads_a_rooms_admins(
    db: Database, factory: Factory, synapse: Synapse, matrix: MatrixChannel
) -> None:
    shop = await factory.shop()
    robot = await _robot(db, shop, synapse, matrix)
    owner, mod = synapse.register(), synapse.register()
    room_id = synapse.create_room(
        owner, "Admins", invite=(robot.user_id, mod.user_id), power={robot.user_id: 100}
    )
    synapse.join(robot, room_id)
    synapse.join(mod, room_id)
    levels = synapse.state(owner, room_id, "m.room.power_levels")
    levels["users"][mod.user_id] = 50
    synapse.put_state(owner, room_id, "m.room.power_levels", levels)
    account = await _account(db)
    async with db.unit_of_work() as session:
        group = Community(
            merchant_id=shop.tenant.id,
            name="Admins",
            channel=Channel.MATRIX,
            external_id=room_id,
            status=CommunityStatus.ACTIVE,
            robot_account_id=account.id,
        )
        session.add(group)
    sweep = tasks.admins_sweep(db, {"matrix": matrix})
    assert await db.run(lambda session: sweep.run(session, sweep.batch_size)) == 1
    async with db.unit_of_work(read_only=True) as session:
        admins = await session.scalar(
            select(ChatAdmins.person_ids).where(ChatAdmins.community_id == group.id)
        )
    assert admins == sorted([owner.user_id, mod.user_id])  # the creator and the moderator


async def _until(check: Callable[[], Awaitable[bool]], *, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "not reached in time"
        await asyncio.sleep(0.05)


async def test_the_poller_syncs_matrix_robots(
    db: Database,
    factory: Factory,
    synapse: Synapse,
    matrix: MatrixChannel,
    fake_telegram: FakeTelegram,
) -> None:
    shop = await factory.shop()
    robot = await _robot(db, shop, synapse, matrix)
    owner = synapse.register()
    telegram = TelegramChannel(fake_telegram.base_url)
    receiver = Receiver(db, {"matrix": matrix, "telegram": telegram})
    lines: list[tuple[str, str]] = []
    poller = Poller(
        receiver, telegram, wait=1, refresh=0.2, report=lambda n, line: lines.append((n, line))
    )
    stop = asyncio.Event()
    running = asyncio.create_task(poller.run(stop))
    account_id = (await _account(db)).id

    async def synced() -> bool:
        return await stored_token(receiver, account_id) is not None

    try:
        await _until(synced)  # its first round: the rooms it is in, no history
        room_id = synapse.create_room(owner, "Polled", invite=(robot.user_id,))

        async def joined() -> bool:
            found = await count_rows(db, Community, Community.external_id == room_id) == 1
            return found and synapse.membership(room_id, robot.user_id) == "join"

        await _until(joined)
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)
        await telegram.aclose()
    assert (robot.user_id, "syncing") in lines
    assert synapse.membership(room_id, robot.user_id) == "join"
