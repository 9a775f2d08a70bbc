"""The Telegram channel against the local Bot API server, through aiogram's real client: updates
become channel-neutral events, actions happen in the group, Telegram's answers map onto
RetryLater and ActionRefused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

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
from tribekit.robot.channels.telegram import TelegramChannel

from .fake_telegram import FakeTelegram

TOKEN = "700001:robot-token"
GROUP = -1001234


@pytest.fixture
async def telegram(fake_telegram: FakeTelegram) -> AsyncIterator[TelegramChannel]:
    channel = TelegramChannel(fake_telegram.base_url)
    yield channel
    await channel.aclose()


def _account() -> RobotAccount:
    return RobotAccount(id="robot-1", channel="telegram", token=TOKEN, username="shop_robot")


def _world(fake: FakeTelegram) -> None:
    fake.add_bot(TOKEN, "shop_robot")
    fake.add_chat(GROUP, "Greenwood Fruit Lovers")
    fake.add_member(GROUP, fake.bots[TOKEN].user, status="administrator")
    fake.add_user(42, "Mei", username="mei")
    fake.add_member(GROUP, 42)


async def test_updates_become_channel_neutral_events(
    fake_telegram: FakeTelegram, telegram: TelegramChannel
) -> None:
    _world(fake_telegram)
    account = _account()
    [posted] = fake_telegram.feed(
        fake_telegram.message(GROUP, 42, "Fresh mangoes at https://greenwood.example/m 🍋")
    )
    [event] = telegram.parse(account, posted)
    assert event.kind == EventKind.MESSAGE
    assert event.event_id == str(posted["update_id"])
    assert (event.chat_id, event.chat_title) == (str(GROUP), "Greenwood Fruit Lovers")
    assert event.person is not None
    assert event.person.external_id == "42"
    assert event.links == ("https://greenwood.example/m",)
    assert event.media == MediaKind.NONE

    command = fake_telegram.message(GROUP, 42, "/me@shop_robot please")
    [asked] = telegram.parse(account, command)
    assert (asked.kind, asked.command, asked.command_args) == (EventKind.COMMAND, "me", "please")
    other_bot = fake_telegram.message(GROUP, 42, "/me@someone_else")
    assert telegram.parse(account, other_bot)[0].kind == EventKind.MESSAGE

    forwarded = fake_telegram.message(
        GROUP,
        42,
        "join my channel",
        forward_origin={"type": "channel", "chat": {"id": -100777, "type": "channel"}, "date": 1},
    )
    assert telegram.parse(account, forwarded)[0].forwarded_from_channel is True

    fake_telegram.add_user(43, "Tao")
    joined = [
        event
        for update in fake_telegram.feed(fake_telegram.member_joined(GROUP, 43))
        for event in telegram.parse(account, update)
    ]
    assert {e.kind for e in joined} == {EventKind.MEMBER_JOINED}
    assert {e.person.external_id for e in joined if e.person} == {"43"}
    assert telegram.parse(account, {"update_id": 9, "edited_message": {}}) == []


async def test_actions_happen_in_the_group(
    fake_telegram: FakeTelegram, telegram: TelegramChannel
) -> None:
    _world(fake_telegram)
    account, chat = _account(), str(GROUP)
    spam = fake_telegram.message(GROUP, 42, "buy followers t.me/+spam")["message"]["message_id"]

    sent = await telegram.perform(
        account,
        OutboundAction(
            ActionKind.REPLY,
            chat,
            text="<b>Links to other groups</b> are not allowed here",
            message_id=str(spam),
            buttons=((Button("Rules", data="rules"),),),
        ),
    )
    [reply] = fake_telegram.sent(GROUP)
    assert sent.message_id == str(reply.message_id)
    assert reply.text == "<b>Links to other groups</b> are not allowed here"  # never markup
    assert reply.parse_mode is None
    assert reply.reply_markup == {
        "inline_keyboard": [[{"text": "Rules", "callback_data": "rules"}]]
    }

    await telegram.perform(account, OutboundAction(ActionKind.DELETE, chat, message_id=str(spam)))
    assert [m.deleted for m in fake_telegram.messages(GROUP) if m.message_id == spam] == [True]

    until = datetime.now(UTC) + timedelta(hours=1)
    await telegram.perform(
        account, OutboundAction(ActionKind.RESTRICT, chat, person_id="42", until=until)
    )
    assert fake_telegram.status(GROUP, 42) == "restricted"
    await telegram.perform(account, OutboundAction(ActionKind.UNRESTRICT, chat, person_id="42"))
    await telegram.perform(account, OutboundAction(ActionKind.BAN, chat, person_id="42"))
    assert fake_telegram.status(GROUP, 42) == "kicked"
    await telegram.perform(account, OutboundAction(ActionKind.BAN, chat, person_id="42"))
    assert fake_telegram.status(GROUP, 42) == "kicked"  # twice is the same as once
    await telegram.perform(account, OutboundAction(ActionKind.UNBAN, chat, person_id="42"))
    assert fake_telegram.status(GROUP, 42) == "left"


async def test_telegram_answers_map_onto_retry_later_and_refused(
    fake_telegram: FakeTelegram, telegram: TelegramChannel
) -> None:
    _world(fake_telegram)
    account, chat = _account(), str(GROUP)
    fake_telegram.fail_next("sendMessage", 429, retry_after=7)
    with pytest.raises(RetryLater) as slow:
        await telegram.perform(account, OutboundAction(ActionKind.SEND, chat, text="hello"))
    assert slow.value.retry_after == 7
    assert fake_telegram.sent(GROUP) == []

    with pytest.raises(ActionRefused) as gone:
        await telegram.perform(account, OutboundAction(ActionKind.DELETE, chat, message_id="999"))
    assert "message to delete not found" in gone.value.detail

    fake_telegram.fail_next("sendMessage", 502)
    with pytest.raises(RetryLater):
        await telegram.perform(account, OutboundAction(ActionKind.SEND, chat, text="hello"))

    me = await telegram.who_am_i(TOKEN)
    assert (me.external_id, me.username) == ("700001", "shop_robot")
    with pytest.raises(ActionRefused):
        await telegram.who_am_i("700002:revoked")
