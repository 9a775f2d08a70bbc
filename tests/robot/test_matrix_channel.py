"""The Matrix channel against a real Synapse, through matrix-nio: real users post in a real room;
their events, as the homeserver keeps them, become channel-neutral events; every action happens
in the room (read back from the server); the homeserver's 429 surfaces with its exact wait, a
refusal as ActionRefused, an unreachable server as RetryLater."""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from nio import RoomSendError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.loopback_server import LoopbackServer
from tribekit.robot.channels import (
    ActionKind,
    ActionRefused,
    Button,
    EventKind,
    MediaKind,
    OutboundAction,
    RetryLater,
    RobotAccount,
)
from tribekit.robot.channels.matrix import BUTTONS_KEY, MatrixChannel, _mapped

from .synapse import Synapse, SynapseError, User


def _png() -> bytes:
    """A 1x1 PNG, made here."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x80\x00"))
        + chunk(b"IEND", b"")
    )


PNG = _png()


class Pictures(LoopbackServer):
    """The shop's own pictures, served on loopback (a product image the robot posts)."""

    name = "pictures"

    def __init__(self) -> None:
        super().__init__()

        async def picture(request: Request) -> Response:
            return Response(PNG, media_type="image/png")

        self.app = Starlette(routes=[Route("/media/mango.png", picture)])


@dataclass
class Room:
    synapse: Synapse
    owner: User
    robot: User
    mei: User
    room_id: str

    @property
    def account(self) -> RobotAccount:
        return RobotAccount(
            "robot-1",
            "matrix",
            self.robot.access_token,
            self.robot.user_id,
            homeserver=self.synapse.url,
        )

    def update(self, event: dict[str, object], replied: dict[str, object] | None = None) -> dict:  # type: ignore[type-arg]  # a sync's loose mapping
        return {
            "room_id": self.room_id,
            "event": event,
            "room_name": "Greenwood Fruit Lovers",
            "sender_name": "Mei",
            "sender_level": 0,
            "replied_to": replied,
        }


@pytest.fixture(scope="module")
def room(synapse: Synapse) -> Room:
    """A room made by its owner, the robot a moderator (power 100) and Mei a member."""
    owner, robot, mei = synapse.register(), synapse.register(), synapse.register()
    room_id = synapse.create_room(
        owner,
        "Greenwood Fruit Lovers",
        invite=(robot.user_id, mei.user_id),
        power={robot.user_id: 100},
    )
    synapse.join(robot, room_id)
    synapse.join(mei, room_id)
    return Room(synapse, owner, robot, mei, room_id)


@pytest.fixture
async def matrix(synapse: Synapse) -> AsyncIterator[MatrixChannel]:
    channel = MatrixChannel()
    yield channel
    await channel.aclose()


@pytest.fixture(scope="module")
def pictures() -> Iterator[Pictures]:
    with Pictures().start() as server:
        yield server


# -- parse --------------------------------------------------------------------------------------


def test_messages_become_channel_neutral_events(room: Room, matrix: MatrixChannel) -> None:
    s = room.synapse
    html = (
        'Mangoes at <a href="https://greenwood.example/m">our shop</a>, ask '
        f'<a href="https://matrix.to/#/{room.owner.user_id}">the owner</a>'
    )
    event_id = s.send_text(
        room.mei,
        room.room_id,
        "Mangoes at our shop, ask the owner https://t.me/joinchat/abc",
        format="org.matrix.custom.html",
        formatted_body=html,
    )
    raw = s.event(room.robot, room.room_id, event_id)
    [event] = matrix.parse(room.account, room.update(raw))
    assert event.kind == EventKind.MESSAGE
    assert (event.event_id, event.message_id) == (event_id, event_id)
    assert (event.chat_id, event.chat_title) == (room.room_id, "Greenwood Fruit Lovers")
    assert event.person is not None
    assert (event.person.external_id, event.person.display_name) == (room.mei.user_id, "Mei")
    assert event.person.is_admin is False
    assert event.text == "Mangoes at our shop, ask the owner https://t.me/joinchat/abc"
    assert event.links == ("https://greenwood.example/m",)
    assert event.mentions == (room.owner.user_id,)
    assert event.media == MediaKind.NONE
    assert event.at == datetime.fromtimestamp(raw["origin_server_ts"] / 1000, UTC)


def test_commands_with_either_prefix(room: Room, matrix: MatrixChannel) -> None:
    s = room.synapse
    for text, args in (("!Points please", "please"), ("/points", "")):
        raw = s.event(room.robot, room.room_id, s.send_text(room.mei, room.room_id, text))
        [event] = matrix.parse(room.account, room.update(raw))
        assert (event.kind, event.command, event.command_args) == (
            EventKind.COMMAND,
            "points",
            args,
        )


def test_a_picture_is_media_and_a_reply_names_what_it_answers(
    room: Room, matrix: MatrixChannel
) -> None:
    s = room.synapse
    first = s.event(room.robot, room.room_id, s.send_text(room.owner, room.room_id, "New stock"))
    picture_id = s.send_text(
        room.mei,
        room.room_id,
        "> <@owner:localhost> New stock\n\nlook",
        msgtype="m.image",
        url="mxc://localhost/abc",
        filename="mango.png",
        **{"m.relates_to": {"m.in_reply_to": {"event_id": first["event_id"]}}},
    )
    raw = s.event(room.robot, room.room_id, picture_id)
    [event] = matrix.parse(room.account, room.update(raw, replied=first))
    assert event.media == MediaKind.PHOTO
    assert event.text == "look"  # the caption, without the quoted message
    assert event.reply_to_message_id == first["event_id"]
    assert event.reply_to_person is not None
    assert event.reply_to_person.external_id == room.owner.user_id


async def test_joins_leaves_and_the_robots_own_arrival_and_removal(
    synapse: Synapse, matrix: MatrixChannel
) -> None:
    owner, robot, ana = synapse.register(), synapse.register(), synapse.register()
    room_id = synapse.create_room(owner, "Pop-up", invite=(robot.user_id, ana.user_id))
    account = RobotAccount(
        "robot-2", "matrix", robot.access_token, robot.user_id, homeserver=synapse.url
    )
    synapse.join(robot, room_id)
    synapse.join(ana, room_id)
    synapse.call(ana, "POST", f"/_matrix/client/v3/rooms/{room_id}/leave", {})
    synapse.call(
        owner, "POST", f"/_matrix/client/v3/rooms/{room_id}/kick", {"user_id": robot.user_id}
    )
    members = [
        e
        for e in reversed(synapse.messages(owner, room_id))
        if e["type"] == "m.room.member" and e["state_key"] != owner.user_id
    ]
    seen = []
    for raw in members:
        for event in matrix.parse(
            account, {"room_id": room_id, "event": raw, "room_name": "Pop-up"}
        ):
            assert event.person is not None
            seen.append((event.kind, event.person.external_id))
    assert seen == [
        (EventKind.ROBOT_ADDED, robot.user_id),  # invited
        (EventKind.ROBOT_ADDED, robot.user_id),  # joined
        (EventKind.MEMBER_JOINED, ana.user_id),  # her invite is not a join; her join is
        (EventKind.MEMBER_LEFT, ana.user_id),
        (EventKind.ROBOT_REMOVED, robot.user_id),
    ]


async def test_a_numbered_reply_to_a_robot_message_presses_its_button(
    room: Room, matrix: MatrixChannel
) -> None:
    s = room.synapse
    buttons = (
        (Button("I am human", data="captcha:1"),),
        (Button("Shop", url="https://greenwood.example"), Button("Not me", data="captcha:2")),
    )
    sent = await matrix.perform(
        room.account,
        OutboundAction(ActionKind.SEND, room.room_id, text="Welcome!", buttons=buttons),
    )
    assert sent.message_id is not None
    prompt = s.event(room.mei, room.room_id, sent.message_id)
    assert prompt["content"]["body"] == (
        "Welcome!\n\n1. I am human\nShop: https://greenwood.example\n2. Not me\n"
        "(reply to this message with a number to choose)"
    )
    assert prompt["content"][BUTTONS_KEY][1][1] == {
        "text": "Not me",
        "data": "captcha:2",
        "url": None,
    }
    assert matrix.parse(room.account, room.update(prompt)) == []  # the robot's own words

    def reply(text: str) -> dict[str, object]:
        event_id = s.send_text(
            room.mei,
            room.room_id,
            f"> <{room.robot.user_id}> Welcome!\n\n{text}",
            **{"m.relates_to": {"m.in_reply_to": {"event_id": sent.message_id}}},
        )
        return s.event(room.robot, room.room_id, event_id)

    [pressed] = matrix.parse(room.account, room.update(reply("2"), replied=prompt))
    assert (pressed.kind, pressed.button_data) == (EventKind.BUTTON, "captcha:2")
    assert pressed.message_id == sent.message_id  # the prompt, which a solved captcha removes
    [other] = matrix.parse(room.account, room.update(reply("3"), replied=prompt))
    assert (other.kind, other.text) == (EventKind.MESSAGE, "3")  # no third choice: a message


# -- perform ------------------------------------------------------------------------------------


async def test_send_reply_pin_and_delete(room: Room, matrix: MatrixChannel) -> None:
    s, account = room.synapse, room.account
    question = s.send_text(room.mei, room.room_id, "When do mangoes come?")
    sent = await matrix.perform(
        account, OutboundAction(ActionKind.SEND, room.room_id, text="Sale!")
    )
    replied = await matrix.perform(
        account,
        OutboundAction(ActionKind.REPLY, room.room_id, text="Friday", message_id=question),
    )
    assert sent.message_id
    assert replied.message_id
    content = s.event(room.owner, room.room_id, replied.message_id)["content"]
    assert content == {
        "msgtype": "m.text",
        "body": "Friday",
        "m.relates_to": {"m.in_reply_to": {"event_id": question}},
    }
    for _ in range(2):  # pinning twice pins once
        await matrix.perform(
            account, OutboundAction(ActionKind.PIN, room.room_id, message_id=sent.message_id)
        )
    pinned = s.state(room.owner, room.room_id, "m.room.pinned_events")["pinned"]
    assert pinned.count(sent.message_id) == 1
    for _ in range(2):  # deleting twice leaves it deleted
        await matrix.perform(
            account, OutboundAction(ActionKind.DELETE, room.room_id, message_id=question)
        )
    assert s.event(room.owner, room.room_id, question)["content"] == {}
    with pytest.raises(ActionRefused, match="M_NOT_FOUND"):
        await matrix.perform(
            account, OutboundAction(ActionKind.DELETE, room.room_id, message_id="$not-there")
        )
    # Nothing to answer on Matrix: the press's answer does nothing and succeeds.
    done = await matrix.perform(account, OutboundAction(ActionKind.ANSWER_BUTTON, room.room_id))
    assert done.message_id is None


async def test_mute_unmute_ban_unban_kick(synapse: Synapse, matrix: MatrixChannel) -> None:
    owner, robot, ana = synapse.register(), synapse.register(), synapse.register()
    room_id = synapse.create_room(
        owner, "Moderated", invite=(robot.user_id, ana.user_id), power={robot.user_id: 100}
    )
    synapse.join(robot, room_id)
    synapse.join(ana, room_id)
    account = RobotAccount(
        "robot-3", "matrix", robot.access_token, robot.user_id, homeserver=synapse.url
    )

    def act(kind: ActionKind) -> OutboundAction:
        return OutboundAction(kind, room_id, person_id=ana.user_id)

    await matrix.perform(account, act(ActionKind.RESTRICT))
    levels = synapse.state(owner, room_id, "m.room.power_levels")
    assert levels["users"][ana.user_id] == levels["events_default"] - 1
    with pytest.raises(SynapseError) as refused:
        synapse.send_text(ana, room_id, "can I speak?")
    assert refused.value.status_code == 403
    await matrix.perform(account, act(ActionKind.UNRESTRICT))
    levels = synapse.state(owner, room_id, "m.room.power_levels")
    assert ana.user_id not in levels["users"]
    assert levels["users"][robot.user_id] == 100
    synapse.send_text(ana, room_id, "thanks")

    await matrix.perform(account, act(ActionKind.KICK))
    assert synapse.membership(room_id, ana.user_id) == "leave"
    await matrix.perform(account, act(ActionKind.KICK))  # gone already: stays gone
    synapse.invite(owner, room_id, ana.user_id)
    synapse.join(ana, room_id)  # a kick lets her back
    for _ in range(2):
        await matrix.perform(account, act(ActionKind.BAN))
        assert synapse.membership(room_id, ana.user_id) == "ban"
    for _ in range(2):  # unbanning one who is not banned changes nothing
        await matrix.perform(account, act(ActionKind.UNBAN))
        assert synapse.membership(room_id, ana.user_id) == "leave"

    await matrix.perform(account, OutboundAction(ActionKind.LEAVE, room_id))
    assert synapse.membership(room_id, robot.user_id) == "leave"
    with pytest.raises(ActionRefused, match="M_FORBIDDEN"):
        await matrix.perform(account, OutboundAction(ActionKind.SEND, room_id, text="hello?"))


async def test_a_right_the_robot_lacks_is_refused(room: Room, matrix: MatrixChannel) -> None:
    mei = RobotAccount(
        "robot-mei", "matrix", room.mei.access_token, room.mei.user_id, homeserver=room.synapse.url
    )
    with pytest.raises(ActionRefused, match="M_FORBIDDEN"):
        await matrix.perform(
            mei, OutboundAction(ActionKind.BAN, room.room_id, person_id=room.owner.user_id)
        )
    assert room.synapse.membership(room.room_id, room.owner.user_id) == "join"


async def test_the_rooms_admins(room: Room, matrix: MatrixChannel) -> None:
    # The owner created the room (room version 12: creators outrank every level); the robot
    # itself is left out; Mei is an ordinary member until given the moderator level.
    assert await matrix.admins(room.account, room.room_id) == [room.owner.user_id]


async def test_a_picture_is_uploaded_and_posted(
    room: Room, matrix: MatrixChannel, pictures: Pictures
) -> None:
    url = f"{pictures.base_url}/media/mango.png"
    sent = await matrix.perform(
        room.account,
        OutboundAction(
            ActionKind.SEND,
            room.room_id,
            text="Mangoes today",
            image_url=url,
            buttons=((Button("Buy", data="buy:mango"),),),
        ),
    )
    assert sent.message_id is not None
    content = room.synapse.event(room.owner, room.room_id, sent.message_id)["content"]
    assert (content["msgtype"], content["body"], content["filename"]) == (
        "m.image",
        "Mangoes today\n\n1. Buy\n(reply to this message with a number to choose)",
        "mango.png",
    )
    assert content[BUTTONS_KEY] == [[{"text": "Buy", "data": "buy:mango", "url": None}]]
    assert content["info"] == {"mimetype": "image/png", "size": len(PNG)}
    media = content["url"].removeprefix("mxc://")
    downloaded = room.synapse.http.get(
        f"/_matrix/client/v1/media/download/{media}",
        headers={"Authorization": f"Bearer {room.owner.access_token}"},
    )
    assert (downloaded.status_code, downloaded.content) == (200, PNG)
    with pytest.raises(ActionRefused, match="answered 404"):
        await matrix.perform(
            room.account,
            OutboundAction(ActionKind.SEND, room.room_id, image_url=f"{pictures.base_url}/x.png"),
        )


async def test_a_direct_chat_is_found_again(room: Room, matrix: MatrixChannel) -> None:
    first = await matrix.direct_chat(room.account, room.mei.user_id)
    again = await matrix.direct_chat(room.account, room.mei.user_id)
    assert first == again
    direct = room.synapse.call(
        room.robot, "GET", f"/_matrix/client/v3/user/{room.robot.user_id}/account_data/m.direct"
    )
    assert direct == {room.mei.user_id: [first]}
    assert room.synapse.membership(first, room.mei.user_id) == "invite"
    sent = await matrix.perform(room.account, OutboundAction(ActionKind.SEND, first, text="Hi Mei"))
    assert sent.message_id is not None


# -- the homeserver's answers -------------------------------------------------------------------


async def test_a_429_surfaces_with_the_homeservers_exact_wait(
    synapse: Synapse, room: Room, matrix: MatrixChannel
) -> None:
    slow = synapse.register()
    synapse.invite(room.owner, room.room_id, slow.user_id)
    synapse.join(slow, room.room_id)
    synapse.override_ratelimit(slow, messages_per_second=1, burst_count=1)
    account = RobotAccount(
        "robot-slow", "matrix", slow.access_token, slow.user_id, homeserver=synapse.url
    )
    send = OutboundAction(ActionKind.SEND, room.room_id, text="one")

    async def until_refused() -> tuple[int, RetryLater]:
        for sent in range(10):  # one message a second: the next one at once is refused
            try:
                await matrix.perform(account, send)  # nio never waits a 429 out itself
            except RetryLater as exc:
                return sent, exc
        raise AssertionError("the homeserver never answered 429")

    sent, limited = await until_refused()
    assert sent <= 2  # however slow this machine is, a burst of one is soon spent
    waited = limited.retry_after
    assert waited is not None
    assert 0 < waited <= 1.0
    milliseconds = round(waited * 1000)
    assert waited == milliseconds / 1000
    assert limited.detail == f"the Matrix homeserver asked to wait {milliseconds} ms"
    # The mapping itself: the homeserver's retry_after_ms, in seconds, exactly.
    mapped = _mapped(RoomSendError("Too Many Requests", "M_LIMIT_EXCEEDED", 12_345))
    assert isinstance(mapped, RetryLater)
    assert mapped.retry_after == 12.345


async def test_an_unreachable_or_refusing_homeserver(synapse: Synapse) -> None:
    channel = MatrixChannel(timeout=5)
    try:
        account = RobotAccount(
            "robot-x",
            "matrix",
            "syt_token",
            "@robot:localhost",
            homeserver="http://127.0.0.1:9",  # discard: nothing listens
        )
        with pytest.raises(RetryLater, match="could not be reached"):
            await channel.perform(
                account, OutboundAction(ActionKind.SEND, "!r:localhost", text="x")
            )
        with pytest.raises(ActionRefused, match="M_UNKNOWN_TOKEN"):
            await channel.who_am_i(synapse.url, "syt_not_a_token")
        me = await channel.who_am_i(synapse.url, synapse.register("robotwho").access_token)
        assert (me.external_id, me.display_name) == ("@robotwho:localhost", "robotwho")
    finally:
        await channel.aclose()
