"""The fake Telegram Bot API server, driven by the real aiogram client over HTTP."""

from __future__ import annotations

import asyncio
import datetime
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BotCommand,
    ChatMemberAdministrator,
    ChatMemberBanned,
    ChatMemberLeft,
    ChatMemberMember,
    ChatMemberOwner,
    ChatMemberRestricted,
    ChatPermissions,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageOriginChannel,
    ReplyParameters,
)
from aiohttp import web

from .fake_telegram import FakeTelegram, FakeUser
from .telegram_updates import EntityParseError, detect_entities, origin_channel, parse_text

TOKEN = "700100:fake-robot-token"
OTHER_TOKEN = "700200:fake-other-token"
GROUP = -1001000000001
BASIC_GROUP = -4000000001


@dataclass(frozen=True)
class World:
    robot: FakeUser
    owner: FakeUser
    alice: FakeUser
    bob: FakeUser


def bot_for(fake: FakeTelegram, token: str = TOKEN) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url))
    return Bot(token, session=session)


@pytest.fixture(scope="module")
async def bot(telegram_server: FakeTelegram) -> AsyncIterator[Bot]:
    """One client for the module: closing an aiogram session waits a quarter of a second."""
    client = bot_for(telegram_server)
    yield client
    await client.session.close()


@pytest.fixture
def world(fake_telegram: FakeTelegram) -> World:
    """A supergroup with its owner, the robot as an administrator, and two members."""
    fake = fake_telegram
    robot = fake.add_bot(TOKEN, "shop_robot")
    owner = fake.add_user(900, "Olga", username="olga_owner")
    alice = fake.add_user(501, "Alice", username="alice_w", language_code="en")
    bob = fake.add_user(502, "鲍勃")
    fake.add_chat(GROUP, "Shop fans")
    fake.add_member(GROUP, owner, status="creator")
    fake.add_member(GROUP, robot, status="administrator")
    fake.add_member(GROUP, alice)
    fake.add_member(GROUP, bob)
    return World(robot, owner, alice, bob)


# -- getMe -----------------------------------------------------------------------------------------


async def test_get_me_answers_the_registered_bot(
    fake_telegram: FakeTelegram, world: World, bot: Bot
) -> None:
    me = await bot.get_me()

    assert (me.id, me.is_bot, me.username, me.first_name) == (
        700100,
        True,
        "shop_robot",
        "shop_robot",
    )
    [call] = fake_telegram.calls
    assert (call.token, call.bot_id, call.method, call.status) == (TOKEN, 700100, "getMe", 200)


async def test_get_me_with_an_unknown_token_is_401(
    fake_telegram: FakeTelegram, world: World
) -> None:
    stranger = bot_for(fake_telegram, "999:unknown")
    try:
        with pytest.raises(TelegramUnauthorizedError, match="Unauthorized"):
            await stranger.get_me()
    finally:
        await stranger.session.close()

    [call] = fake_telegram.calls
    assert (call.bot_id, call.method, call.status, call.description) == (
        None,
        "getMe",
        401,
        "Unauthorized",
    )


# -- sending and editing ---------------------------------------------------------------------------


async def test_send_message_records_text_entities_keyboard_and_reply(
    fake_telegram: FakeTelegram, world: World, bot: Bot
) -> None:
    fake_telegram.message(GROUP, world.alice, "where is my order?")  # message 1
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Rules", callback_data="rules:1")]]
    )

    sent = await bot.send_message(
        GROUP,
        "<b>Welcome</b>, Alice! See shop.example.com",
        parse_mode="HTML",
        reply_markup=keyboard,
        reply_parameters=ReplyParameters(message_id=1),
    )

    assert (sent.message_id, sent.chat.id, sent.text) == (
        2,
        GROUP,
        "Welcome, Alice! See shop.example.com",
    )
    assert sent.from_user is not None
    assert sent.from_user.id == world.robot.id
    assert [(e.type, e.offset, e.length) for e in sent.entities or []] == [
        ("bold", 0, 7),
        ("url", 20, 16),
    ]
    assert sent.reply_markup is not None
    assert sent.reply_markup.model_dump() == keyboard.model_dump()
    assert sent.reply_to_message is not None
    assert sent.reply_to_message.text == "where is my order?"
    [stored] = fake_telegram.sent(GROUP)
    assert (stored.message_id, stored.text, stored.parse_mode) == (2, sent.text, "HTML")
    assert stored.reply_markup == {
        "inline_keyboard": [[{"text": "Rules", "callback_data": "rules:1"}]]
    }
    [call] = fake_telegram.calls_to("sendMessage")
    assert call.params["chat_id"] == GROUP
    assert call.params["parse_mode"] == "HTML"


async def test_send_message_refusals_leave_the_chat_unchanged(
    fake_telegram: FakeTelegram, world: World, bot: Bot
) -> None:
    with pytest.raises(TelegramBadRequest, match="message to be replied not found"):
        await bot.send_message(GROUP, "hi", reply_parameters=ReplyParameters(message_id=42))
    with pytest.raises(TelegramBadRequest, match='Unsupported start tag "script"'):
        await bot.send_message(GROUP, "Welcome <script>!", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="Character '!' is reserved"):
        await bot.send_message(GROUP, "Welcome!", parse_mode="MarkdownV2")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(-100999, "hi")
    too_long = InlineKeyboardButton(text="x", callback_data="x" * 65)
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(
            GROUP, "hi", reply_markup=InlineKeyboardMarkup(inline_keyboard=[[too_long]])
        )

    assert fake_telegram.messages(GROUP) == []
    assert [c.status for c in fake_telegram.calls_to("sendMessage")] == [400] * 5


async def test_a_bot_that_left_or_was_kicked_cannot_send(
    fake_telegram: FakeTelegram, world: World, bot: Bot
) -> None:
    assert await bot.leave_chat(GROUP) is True
    with pytest.raises(TelegramForbiddenError, match="bot is not a member of the supergroup chat"):
        await bot.send_message(GROUP, "still here?")

    fake_telegram.add_member(GROUP, world.robot, status="kicked")
    with pytest.raises(TelegramForbiddenError, match="bot was kicked from the supergroup chat"):
        await bot.send_message(GROUP, "still here?")
    assert fake_telegram.messages(GROUP) == []

    # Leaving told the bot about its own status, as Telegram does.
    [update] = fake_telegram.bots[TOKEN].updates
    change = update["my_chat_member"]
    assert (change["old_chat_member"]["status"], change["new_chat_member"]["status"]) == (
        "administrator",
        "left",
    )


async def test_edit_message_text_changes_the_bots_message(
    fake_telegram: FakeTelegram, world: World, bot: Bot
) -> None:
    sent = await bot.send_message(GROUP, "Press the button within 5 minutes")
    fake_telegram.message(GROUP, world.alice, "ok")

    edited = await bot.edit_message_text(
        "Thanks, *verified*", chat_id=GROUP, message_id=sent.message_id, parse_mode="Markdown"
    )

    assert not isinstance(edited, bool)
    assert (edited.text, edited.edit_date is not None) == ("Thanks, verified", True)
    assert fake_telegram.chat(GROUP).messages[sent.message_id].text == "Thanks, verified"
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            "Thanks, *verified*", chat_id=GROUP, message_id=sent.message_id, parse_mode="Markdown"
        )
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_text("hacked", chat_id=GROUP, message_id=2)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("hi", chat_id=GROUP, message_id=99)
    assert fake_telegram.chat(GROUP).messages[2].text == "ok"


async def test_a_private_chat_exists_once_the_user_started_the_bot(
    fake_telegram: FakeTelegram, world: World, bot: Bot
) -> None:
    with pytest.raises(TelegramForbiddenError, match="bot can't initiate conversation with a user"):
        await bot.send_message(world.alice.id, "hello")

    fake_telegram.add_private_chat(world.alice, TOKEN)
    fake_telegram.feed(fake_telegram.message(world.alice.id, world.alice, "/start ref_42"))
    [update] = await bot.get_updates(timeout=0)
    sent = await bot.send_message(world.alice.id, "Welcome!")

    assert update.message is not None
    assert (update.message.chat.type, update.message.chat.first_name) == ("private", "Alice")
    assert [(e.type, e.offset, e.length) for e in update.message.entities or []] == [
        ("bot_command", 0, 6)
    ]
    assert (sent.chat.id, sent.message_id) == (world.alice.id, 2)


# -- deleting --------------------------------------------------------------------------------------


async def test_delete_message_marks_it_deleted_once(
    fake_telegram: FakeTelegram, world: World, bot: Bot
) -> None:
    spam = fake_telegram.message(GROUP, world.alice, "cheap followers t.me/spamgroup")
    message_id = spam["message"]["message_id"]

    assert await bot.delete_message(GROUP, message_id) is True
    assert fake_telegram.chat(GROUP).messages[message_id].deleted is True

    with pytest.raises(TelegramBadRequest, match="Bad Request: message to delete not found"):
        await bot.delete_message(GROUP, message_id)
    with pytest.raises(TelegramBadRequest, match="Bad Request: message to delete not found"):
        await bot.delete_message(GROUP, 777)


async def test_a_bot_without_the_right_cannot_delete_others_messages(
    fake_telegram: FakeTelegram, world: World, bot: Bot
) -> None:
    fake_telegram.add_member(
        GROUP, world.robot, status="administrator", rights={"can_delete_messages": False}
    )
    fake_telegram.message(GROUP, world.alice, "hello")
    own = await bot.send_message(GROUP, "welcome")

    with pytest.raises(TelegramBadRequest, match="message can't be deleted"):
        await bot.delete_message(GROUP, 1)
    assert await bot.delete_message(GROUP, own.message_id) is True

    assert [(m.message_id, m.deleted) for m in fake_telegram.messages(GROUP)] == [
        (1, False),
        (2, True),
    ]


async def test_delete_messages_skips_the_missing_ones(
    fake_telegram: FakeTelegram, world: World, bot: Bot
) -> None:
    for text in ("spam 1", "spam 2", "fine"):
        fake_telegram.message(GROUP, world.bob, text)

    assert await bot.delete_messages(GROUP, [1, 2, 50]) is True

    assert [m.text for m in fake_telegram.messages(GROUP, deleted=False)] == ["fine"]
    assert [m.text for m in fake_telegram.messages(GROUP, deleted=True)] == ["spam 1", "spam 2"]


# -- banning and restricting -----------------------------------------------------------------------


async def test_ban_then_unban_round_trip(
    fake_telegram: FakeTelegram, world: World, bot: Bot
) -> None:
    until = int(time.time()) + 7 * 86400

    assert await bot.ban_chat_member(GROUP, world.alice.id, until_date=until) is True
    banned = await bot.get_chat_member(GROUP, world.alice.id)
    assert isinstance(banned, ChatMemberBanned)
    assert int(banned.until_date.timestamp()) == until
    assert fake_telegram.member(GROUP, world.alice.id).status == "kicked"
    with pytest.raises(ValueError, match="kicked"):
        fake_telegram.message(GROUP, world.alice, "let me in")

    assert await bot.unban_chat_member(GROUP, world.alice.id, only_if_banned=True) is True
    assert isinstance(await bot.get_chat_member(GROUP, world.alice.id), ChatMemberLeft)

    # Unbanning a member without only_if_banned removes them, as the Bot API says.
    assert await bot.unban_chat_member(GROUP, world.bob.id) is True
    assert fake_telegram.status(GROUP, world.bob.id) == "left"


async def test_a_ban_for_less_than_30_seconds_is_forever(
    fake_telegram: FakeTelegram, world: World, bot: Bot
) -> None:
    await bot.ban_chat_member(GROUP, world.bob.id, until_date=int(time.time()) + 10)

    assert fake_telegram.member(GROUP, world.bob.id).until_date == 0


async def test_a_ban_past_its_date_is_lifted(world: World) -> None:
    now = [1_760_000_000.0]
    with FakeTelegram(clock=lambda: now[0]) as fake:
        fake.add_bot(TOKEN, "shop_robot")
        fake.add_user(world.alice.id, "Alice")
        fake.add_chat(GROUP, "Shop fans")
        fake.add_member(GROUP, world.alice.id, status="kicked", until_date=int(now[0]) + 3600)
        assert fake.status(GROUP, world.alice.id) == "kicked"
        now[0] += 3600
        assert fake.status(GROUP, world.alice.id) == "left"


async def test_banning_an_administrator_or_the_owner_is_refused(
    fake_telegram: FakeTelegram, world: World, bot: Bot
) -> None:
    admin = fake_telegram.add_user(600, "Mod")
    fake_telegram.add_member(GROUP, admin, status="administrator")

    with pytest.raises(TelegramBadRequest, match="user is an administrator of the chat"):
        await bot.ban_chat_member(GROUP, admin.id)
    with pytest.raises(TelegramBadRequest, match="can't remove chat owner"):
        await bot.ban_chat_member(GROUP, world.owner.id)
    with pytest.raises(TelegramBadRequest, match="PARTICIPANT_ID_INVALID"):
        await bot.ban_chat_member(GROUP, 123)

    assert isinstance(await bot.get_chat_member(GROUP, admin.id), ChatMemberAdministrator)
    assert isinstance(await bot.get_chat_member(GROUP, world.owner.id), ChatMemberOwner)


async def test_a_bot_without_the_right_cannot_ban(
    fake_telegram: FakeTelegram, world: World, bot: Bot
) -> None:
    fake_telegram.add_member(GROUP, world.robot, status="member")

    with pytest.raises(
        TelegramBadRequest, match="not enough rights to restrict/unrestrict chat member"
    ):
        await bot.ban_chat_member(GROUP, world.alice.id)

    assert isinstance(await bot.get_chat_member(GROUP, world.alice.id), ChatMemberMember)


async def test_restrict_then_lift_round_trip(
    fake_telegram: FakeTelegram, world: World, bot: Bot
) -> None:
    until = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)

    await bot.restrict_chat_member(
        GROUP, world.alice.id, ChatPermissions(can_send_messages=False), until_date=until
    )

    muted = await bot.get_chat_member(GROUP, world.alice.id)
    assert isinstance(muted, ChatMemberRestricted)
    assert (muted.is_member, muted.can_send_messages, muted.can_send_photos) == (True, False, False)
    assert abs(muted.until_date.timestamp() - until.timestamp()) < 2
    with pytest.raises(ValueError, match="may not send messages"):
        fake_telegram.message(GROUP, world.alice, "hello?")

    everything = ChatPermissions(**dict.fromkeys(ChatPermissions.model_fields, True))
    await bot.restrict_chat_member(GROUP, world.alice.id, everything)
    assert isinstance(await bot.get_chat_member(GROUP, world.alice.id), ChatMemberMember)


async def test_media_permissions_imply_sending_messages(
    fake_telegram: FakeTelegram, world: World, bot: Bot
) -> None:
    await bot.restrict_chat_member(
        GROUP, world.bob.id, ChatPermissions(can_send_other_messages=True)
    )

    member = fake_telegram.member(GROUP, world.bob.id)
    assert member.status == "restricted"
    assert (member.permissions["can_send_messages"], member.permissions["can_send_photos"]) == (
        True,
        True,
    )
    assert member.permissions["can_send_polls"] is False


async def test_restricting_in_a_basic_group_is_refused(
    fake_telegram: FakeTelegram, world: World, bot: Bot
) -> None:
    fake_telegram.add_chat(BASIC_GROUP, "Old group", type="group")
    fake_telegram.add_member(BASIC_GROUP, world.robot, status="administrator")
    fake_telegram.add_member(BASIC_GROUP, world.alice)

    with pytest.raises(TelegramBadRequest, match="method is available only for supergroups"):
        await bot.restrict_chat_member(BASIC_GROUP, world.alice.id, ChatPermissions())

    assert fake_telegram.status(BASIC_GROUP, world.alice.id) == "member"


async def test_a_ban_is_a_chat_member_update_for_bots_that_asked(
    fake_telegram: FakeTelegram, world: World, bot: Bot
) -> None:
    await bot.get_updates(allowed_updates=["message", "chat_member"], timeout=0)

    await bot.ban_chat_member(GROUP, world.bob.id)

    [update] = await bot.get_updates(timeout=0)
    assert update.chat_member is not None
    assert update.chat_member.from_user.id == world.robot.id
    assert (
        update.chat_member.old_chat_member.status,
        update.chat_member.new_chat_member.status,
    ) == (
        "member",
        "kicked",
    )


# -- chats -----------------------------------------------------------------------------------------


async def test_get_chat_administrators_member_count_and_pin(
    fake_telegram: FakeTelegram, world: World, bot: Bot
) -> None:
    sent = await bot.send_message(GROUP, "Rules: be kind")
    fake_telegram.add_member(GROUP, world.bob, status="restricted", permissions={})  # still in
    gone = fake_telegram.add_user(503, "Gone")
    fake_telegram.add_member(GROUP, gone, status="left")

    admins = await bot.get_chat_administrators(GROUP)
    assert [(type(a).__name__, a.user.id) for a in admins] == [("ChatMemberOwner", world.owner.id)]
    assert await bot.get_chat_member_count(GROUP) == 4  # owner, robot, alice, bob

    assert await bot.pin_chat_message(GROUP, sent.message_id) is True
    chat = await bot.get_chat(GROUP)
    assert (chat.id, chat.type, chat.title) == (GROUP, "supergroup", "Shop fans")
    assert chat.pinned_message is not None
    assert chat.pinned_message.text == "Rules: be kind"
    with pytest.raises(TelegramBadRequest, match="message to pin not found"):
        await bot.pin_chat_message(GROUP, 99)


async def test_a_user_with_no_record_is_left(
    fake_telegram: FakeTelegram, world: World, bot: Bot
) -> None:
    fake_telegram.add_user(777, "Newcomer")

    assert isinstance(await bot.get_chat_member(GROUP, 777), ChatMemberLeft)
    with pytest.raises(TelegramBadRequest, match="user not found"):
        await bot.get_chat_member(GROUP, 778)


async def test_set_my_commands_per_language(
    fake_telegram: FakeTelegram, world: World, bot: Bot
) -> None:
    commands = [BotCommand(command="me", description="My level and points")]
    assert await bot.set_my_commands(commands) is True
    assert (
        await bot.set_my_commands(
            [BotCommand(command="me", description="我的等级")], language_code="zh"
        )
        is True
    )

    assert [c.model_dump() for c in await bot.get_my_commands()] == [commands[0].model_dump()]
    assert [c.description for c in await bot.get_my_commands(language_code="zh")] == ["我的等级"]
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad-Name", description="x")])


# -- buttons ---------------------------------------------------------------------------------------


async def test_a_pressed_button_is_answered_once(
    fake_telegram: FakeTelegram, world: World, bot: Bot
) -> None:
    button = InlineKeyboardButton(text="I am human", callback_data="captcha:501")
    sent = await bot.send_message(
        GROUP,
        "Press within 5 minutes",
        reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button]]),
    )
    with pytest.raises(ValueError, match="no button"):
        fake_telegram.callback_query(GROUP, world.alice, sent.message_id, "captcha:999")

    fake_telegram.feed(
        fake_telegram.callback_query(GROUP, world.alice, sent.message_id, "captcha:501")
    )
    [update] = await bot.get_updates(timeout=1)

    query = update.callback_query
    assert query is not None
    assert query.message is not None
    assert (query.from_user.id, query.data, query.message.message_id) == (
        world.alice.id,
        "captcha:501",
        sent.message_id,
    )
    assert await bot.answer_callback_query(query.id, text="Welcome!") is True
    assert fake_telegram.callback_answers[query.id]["text"] == "Welcome!"
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query.id)


# -- updates and long polling ----------------------------------------------------------------------


async def test_get_updates_returns_fed_updates_in_order_and_confirms_by_offset(
    fake_telegram: FakeTelegram, world: World, bot: Bot
) -> None:
    fake_telegram.feed(fake_telegram.message(GROUP, world.alice, "first"))
    fake_telegram.feed(fake_telegram.message(GROUP, world.bob, "second /help"))
    fake_telegram.feed(fake_telegram.member_joined(GROUP, fake_telegram.add_user(503, "Carol")))

    updates = await bot.get_updates(timeout=0)

    assert [u.update_id for u in updates] == [1, 2, 3]  # chat_member is not asked for by default
    assert [u.message.text for u in updates[:2] if u.message] == ["first", "second /help"]
    second = updates[1].message
    assert second is not None
    assert second.entities is not None
    assert [(e.type, e.offset, e.length) for e in second.entities] == [("bot_command", 7, 5)]
    joined = updates[2].message
    assert joined is not None
    assert [u.id for u in joined.new_chat_members or []] == [503]

    again = await bot.get_updates(offset=3, timeout=0)
    assert [u.update_id for u in again] == [3]
    assert await bot.get_updates(offset=4, timeout=0) == []
    assert fake_telegram.bots[TOKEN].updates == []


async def test_get_updates_waits_for_its_timeout_then_answers_empty(
    fake_telegram: FakeTelegram, world: World, bot: Bot
) -> None:
    started = time.monotonic()

    assert await bot.get_updates(timeout=1) == []

    assert 0.95 <= time.monotonic() - started < 1.8


async def test_a_waiting_get_updates_returns_as_soon_as_an_update_is_fed(
    fake_telegram: FakeTelegram, world: World, bot: Bot
) -> None:
    async def feed_later() -> None:
        await asyncio.sleep(0.2)
        fake_telegram.feed(fake_telegram.message(GROUP, world.alice, "late"))

    started = time.monotonic()
    feeder = asyncio.create_task(feed_later())
    updates = await bot.get_updates(timeout=10)
    await feeder

    assert [u.message.text for u in updates if u.message] == ["late"]
    assert time.monotonic() - started < 2


async def test_aiograms_own_polling_loop_receives_fed_updates(
    fake_telegram: FakeTelegram, world: World, bot: Bot
) -> None:
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def echo(message: Message) -> None:
        await message.answer(f"you said: {message.text}")

    polling = asyncio.create_task(
        dispatcher.start_polling(
            bot, polling_timeout=1, handle_signals=False, close_bot_session=False
        )
    )
    try:
        fake_telegram.feed(fake_telegram.message(GROUP, world.alice, "hello"))
        fake_telegram.feed(fake_telegram.message(GROUP, world.bob, "again"))
        await fake_telegram.until_calls("sendMessage", 2)
    finally:
        await dispatcher.stop_polling()
        await polling

    assert [m.text for m in fake_telegram.sent(GROUP)] == ["you said: hello", "you said: again"]
    assert fake_telegram.bots[TOKEN].updates == []  # the loop confirmed what it handled


async def test_a_second_poller_ends_the_first_with_a_conflict(
    fake_telegram: FakeTelegram, world: World, bot: Bot
) -> None:
    twin = bot_for(fake_telegram)
    try:
        first = asyncio.create_task(bot.get_updates(timeout=5))
        await asyncio.sleep(0.1)
        second = asyncio.create_task(twin.get_updates(timeout=0))
        with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
            await first
        assert await second == []
    finally:
        await twin.session.close()


async def test_updates_reach_only_the_bots_in_the_chat(
    fake_telegram: FakeTelegram, world: World, bot: Bot
) -> None:
    other = fake_telegram.add_bot(OTHER_TOKEN, "other_robot")
    fake_telegram.add_chat(-1002, "Elsewhere")
    fake_telegram.add_member(-1002, other)

    fake_telegram.feed(fake_telegram.message(GROUP, world.alice, "for the shop robot"))
    fake_telegram.feed(fake_telegram.message(-1002, world.alice, "for the other robot"))

    assert [u["message"]["text"] for u in fake_telegram.bots[TOKEN].updates] == [
        "for the shop robot"
    ]
    assert [u["message"]["text"] for u in fake_telegram.bots[OTHER_TOKEN].updates] == [
        "for the other robot"
    ]


async def test_builders_make_updates_that_aiogram_parses(
    fake_telegram: FakeTelegram, world: World, bot: Bot
) -> None:
    await bot.get_updates(
        allowed_updates=["message", "edited_message", "chat_member", "my_chat_member"], timeout=0
    )
    origin = origin_channel(-100777, "Deals channel", 12, date=1_760_000_000, username="deals")
    forwarded = fake_telegram.message(
        GROUP, world.bob, "🔥 50% off 👉 @dealsbot", forward_origin=origin
    )
    replied = fake_telegram.message(
        GROUP, world.alice, "is this allowed?", reply_to=forwarded["message"]["message_id"]
    )
    photo = fake_telegram.message(GROUP, world.alice, "look", media="photo")
    fake_telegram.feed([forwarded, replied, photo])
    fake_telegram.feed(fake_telegram.edited_message(GROUP, 1, "edited: buy now at spam.shop"))
    fake_telegram.feed(fake_telegram.member_left(GROUP, world.bob, by=world.owner))
    fake_telegram.feed(
        fake_telegram.member_joined(
            GROUP, fake_telegram.add_bot(OTHER_TOKEN, "other_robot"), by=world.owner
        )
    )

    updates = await bot.get_updates(timeout=0)

    first = updates[0].message
    assert first is not None
    assert isinstance(first.forward_origin, MessageOriginChannel)
    assert first.forward_origin.chat.title == "Deals channel"
    assert [(e.type, e.offset, e.length) for e in first.entities or []] == [("mention", 14, 9)]
    assert updates[1].message
    assert updates[1].message.reply_to_message
    assert updates[1].message.reply_to_message.message_id == 1
    assert updates[2].message
    assert updates[2].message.photo
    assert updates[2].message.caption == "look"
    assert updates[3].edited_message
    assert updates[3].edited_message.text == "edited: buy now at spam.shop"
    assert updates[4].message
    assert updates[4].message.left_chat_member
    assert updates[5].chat_member
    assert updates[5].chat_member.new_chat_member.status == "kicked"
    assert updates[6].message
    assert [u.id for u in updates[6].message.new_chat_members or []] == [700200]
    assert len(updates) == 7  # the other robot's my_chat_member went to that robot only
    service, mine = fake_telegram.bots[OTHER_TOKEN].updates
    assert "new_chat_members" in service["message"]
    assert mine["my_chat_member"]["new_chat_member"]["status"] == "member"


# -- failures and limits ---------------------------------------------------------------------------


async def test_an_injected_429_is_telegram_retry_after_and_changes_nothing(
    fake_telegram: FakeTelegram, world: World, bot: Bot
) -> None:
    fake_telegram.fail_next("sendMessage", 429, retry_after=7, times=2)

    for _ in range(2):
        with pytest.raises(TelegramRetryAfter) as caught:
            await bot.send_message(GROUP, "hello")
        assert caught.value.retry_after == 7
        assert "Too Many Requests: retry after 7" in caught.value.message
    assert fake_telegram.messages(GROUP) == []

    sent = await bot.send_message(GROUP, "hello")
    assert sent.message_id == 1
    assert [c.status for c in fake_telegram.calls_to("sendMessage")] == [429, 429, 200]


async def test_injected_server_and_request_errors(
    fake_telegram: FakeTelegram, world: World, bot: Bot
) -> None:
    fake_telegram.fail_next("banChatMember", 502)
    fake_telegram.fail_next(
        "deleteMessage", 400, description="Bad Request: message can't be deleted for everyone"
    )

    with pytest.raises(TelegramServerError, match="Bad Gateway"):
        await bot.ban_chat_member(GROUP, world.alice.id)
    with pytest.raises(TelegramBadRequest, match="can't be deleted for everyone"):
        await bot.delete_message(GROUP, 1)

    assert fake_telegram.status(GROUP, world.alice.id) == "member"
    assert await bot.ban_chat_member(GROUP, world.alice.id) is True


async def test_the_group_flood_limit_answers_429_with_the_wait(world: World) -> None:
    with FakeTelegram(group_messages_per_minute=3) as fake:
        robot = fake.add_bot(TOKEN, "shop_robot")
        fake.add_chat(GROUP, "Shop fans")
        fake.add_member(GROUP, robot, status="administrator")
        client = bot_for(fake)
        try:
            for i in range(3):
                await client.send_message(GROUP, f"message {i}")
            with pytest.raises(TelegramRetryAfter) as caught:
                await client.send_message(GROUP, "one too many")
        finally:
            await client.session.close()

        assert 59 <= caught.value.retry_after <= 60
        assert [m.text for m in fake.messages(GROUP)] == ["message 0", "message 1", "message 2"]


async def test_waiting_for_calls(fake_telegram: FakeTelegram, world: World, bot: Bot) -> None:
    async def send_later() -> None:
        for i in range(3):
            await asyncio.sleep(0.05)
            await bot.send_message(GROUP, f"tick {i}")

    sender = asyncio.create_task(send_later())
    calls = await fake_telegram.until_calls("sendMessage", 3)
    await sender

    assert [c.params["text"] for c in calls] == ["tick 0", "tick 1", "tick 2"]
    with pytest.raises(TimeoutError, match="3 of 4 sendMessage calls"):
        await fake_telegram.until_calls("sendMessage", 4, within=0.1)
    assert len(fake_telegram.wait_for_calls("sendMessage", 3, within=0.1)) == 3


# -- webhooks --------------------------------------------------------------------------------------


@pytest.fixture
async def receiver() -> AsyncIterator[
    tuple[str, list[tuple[dict[str, object], str | None]], list[int]]
]:
    """A tiny webhook route: records each update with its secret header, answers the next status
    in the list (200 when empty) and, on 200, asks Telegram to send a reply."""
    received: list[tuple[dict[str, object], str | None]] = []
    statuses: list[int] = []

    async def hook(request: web.Request) -> web.Response:
        update = await request.json()
        received.append((update, request.headers.get("X-Telegram-Bot-Api-Secret-Token")))
        status = statuses.pop(0) if statuses else 200
        if status != 200:
            return web.Response(status=status)
        chat_id = update["message"]["chat"]["id"]
        return web.json_response({"method": "sendMessage", "chat_id": chat_id, "text": "got it"})

    app = web.Application()
    app.router.add_post("/telegram/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/telegram/hook", received, statuses
    await runner.cleanup()


async def test_webhook_registration_and_push_with_the_secret(
    fake_telegram: FakeTelegram,
    world: World,
    bot: Bot,
    receiver: tuple[str, list[tuple[dict[str, object], str | None]], list[int]],
) -> None:
    url, received, statuses = receiver
    assert (
        await bot.set_webhook(url, secret_token="s3cret-Token_1", allowed_updates=["message"])
        is True
    )
    info = await bot.get_webhook_info()
    assert (info.url, info.pending_update_count, info.allowed_updates) == (url, 0, ["message"])
    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates()

    update = fake_telegram.message(GROUP, world.alice, "/me")
    delivery = await fake_telegram.push_webhook({"update_id": 4100, **update})

    assert delivery.status == 200
    assert received == [({"update_id": 4100, **update}, "s3cret-Token_1")]
    # The webhook's answer was a method call, which Telegram executes for the bot.
    [reply] = fake_telegram.calls_to("sendMessage")
    assert (reply.via, reply.status) == ("webhook_reply", 200)
    assert [m.text for m in fake_telegram.sent(GROUP)] == ["got it"]

    statuses.append(403)
    refused = await fake_telegram.push_webhook(fake_telegram.message(GROUP, world.bob, "hi"))
    assert (refused.status, refused.update["update_id"]) == (403, 4101)
    info = await bot.get_webhook_info()
    assert info.last_error_message == "Wrong response from the webhook: 403"

    assert await bot.delete_webhook(drop_pending_updates=True) is True
    assert (await bot.get_webhook_info()).url == ""
    with pytest.raises(ValueError, match="0 bots have a webhook"):
        fake_telegram.push_webhook_sync(update)


async def test_set_webhook_validates_url_and_secret(
    fake_telegram: FakeTelegram, world: World, bot: Bot
) -> None:
    with pytest.raises(TelegramBadRequest, match="An HTTPS URL must be provided"):
        await bot.set_webhook("http://shop.example/hook")
    with pytest.raises(TelegramBadRequest, match="secret token contains unallowed characters"):
        await bot.set_webhook("https://shop.example/hook", secret_token="no spaces allowed")

    assert (await bot.get_webhook_info()).url == ""


# -- the text rules, without HTTP ------------------------------------------------------------------


def test_entity_offsets_are_utf16_units() -> None:
    text = "😀 买 @shop_fans #sale 2024 see https://t.me/+AbC /start"

    assert [(e["type"], e["offset"], e["length"]) for e in detect_entities(text)] == [
        ("mention", 5, 10),
        ("hashtag", 16, 5),
        ("url", 31, 17),
        ("bot_command", 49, 6),
    ]


def test_parse_modes() -> None:
    assert parse_text('<b>a <i>b</i></b> <a href="https://x.io">c</a> &lt;3', "HTML") == (
        "a b c <3",
        [
            {"type": "bold", "offset": 0, "length": 3},
            {"type": "italic", "offset": 2, "length": 1},
            {"type": "text_link", "offset": 4, "length": 1, "url": "https://x.io"},
        ],
    )
    assert parse_text('<pre><code class="language-python">x = 1</code></pre>', "HTML") == (
        "x = 1",
        [{"type": "pre", "offset": 0, "length": 5, "language": "python"}],
    )
    assert parse_text(r"*Hi* __u__ [shop](https://s.io/a\)b) 1\.5\!", "MarkdownV2") == (
        "Hi u shop 1.5!",
        [
            {"type": "bold", "offset": 0, "length": 2},
            {"type": "underline", "offset": 3, "length": 1},
            {"type": "text_link", "offset": 5, "length": 4, "url": "https://s.io/a)b"},
        ],
    )
    assert parse_text("1.5! _it_", "Markdown") == (
        "1.5! it",
        [{"type": "italic", "offset": 5, "length": 2}],
    )
    with pytest.raises(
        EntityParseError, match='Can\'t find end tag corresponding to start tag "b"'
    ):
        parse_text("<b>open", "HTML")
    with pytest.raises(EntityParseError, match="Can't find end of Bold entity at byte offset 0"):
        parse_text("*open", "MarkdownV2")


def test_form_values_are_decoded_as_the_bot_api_does(
    fake_telegram: FakeTelegram, world: World
) -> None:
    import httpx

    url = f"{fake_telegram.base_url}/bot{TOKEN}/sendMessage"
    form = {
        "chat_id": str(GROUP),
        "text": "123",
        "reply_markup": json.dumps({"inline_keyboard": []}),
    }
    answered = httpx.post(url, data=form).json()
    as_json = httpx.post(
        url.replace("sendMessage", "SENDMESSAGE"), json={"chat_id": GROUP, "text": "hi"}
    ).json()
    unknown = httpx.get(url.replace("sendMessage", "sendNothing"))

    assert (answered["ok"], answered["result"]["text"], answered["result"]["chat"]["id"]) == (
        True,
        "123",
        GROUP,
    )
    assert (as_json["ok"], as_json["result"]["message_id"]) == (True, 2)
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found"},
    )
