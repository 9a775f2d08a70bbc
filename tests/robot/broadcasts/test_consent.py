"""Who gets what: the consent matrix for direct messages (opted in, never asked, stopped,
erased, blocked; marketing or service), a member who sends /stop while a marketing broadcast is
going out gets none of what is left, groups that refuse marketing get only service messages."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from tests.factories import Factory
from tests.robot.fake_telegram import FakeTelegram
from tests.robot.worlds import TOKEN, World
from tribekit.kit.db import Database
from tribekit.members import service as members
from tribekit.members.schemas import IdentityIn, MemberCreate
from tribekit.models.communities import Community
from tribekit.models.enums import Channel as ChannelName
from tribekit.robot import commands
from tribekit.robot.broadcasts.deliveries import WAVE_SIZE, WAVES_AT_ONCE
from tribekit.robot.broadcasts.service import Counts
from tribekit.robot.broadcasts.states import Audience
from tribekit.robot.channels import (
    Channel,
    EventKind,
    InboundEvent,
    Person,
)
from tribekit.robot.channels.telegram import CAPABILITIES, TelegramChannel

from . import helpers

KINDS = ("opted_in", "never_asked", "stopped", "erased", "blocked")


@pytest.fixture
async def telegram(fake_telegram: FakeTelegram) -> AsyncIterator[TelegramChannel]:
    channel = TelegramChannel(fake_telegram.base_url)
    channel.capabilities = replace(CAPABILITIES, per_group_per_minute=None, per_bot_per_second=None)
    yield channel
    await channel.aclose()


async def _member(
    db: Database, factory: Factory, fake: FakeTelegram, world: World, person: int, kind: str
) -> uuid.UUID:
    """A member known on Telegram as ``person`` who started the robot, in the consent state
    ``kind``; present in the world's first group."""
    fake.add_user(person, f"Member {person}")
    fake.add_private_chat(person, TOKEN)
    tenant = world.shop.tenant
    async with db.unit_of_work() as session:
        made = await members.create_member(
            session,
            tenant,
            "test",
            MemberCreate(
                display_name=f"Member {person}",
                marketing_consent=kind in ("opted_in", "stopped", "erased", "blocked"),
                consent_source="join page",
                blocked=kind == "blocked",
                identities=[IdentityIn(channel=ChannelName.TELEGRAM, external_id=str(person))],
            ),
        )
        member_id = made.member.id
    if kind == "stopped":
        await _stop(db, world, member_id, person)
    if kind == "erased":
        async with db.unit_of_work() as session:
            await members.erase_member(session, tenant, "test", member_id)
    return member_id


async def _stop(db: Database, world: World, member_id: uuid.UUID, person: int) -> None:
    """The member sends /stop in the world's first group (the command's own handler)."""
    async with db.unit_of_work() as session:
        community = await session.get(Community, world.groups[0])
        assert community is not None
        event = InboundEvent(
            event_id=f"stop-{person}",
            kind=EventKind.COMMAND,
            chat_id=str(community.external_id),
            chat_title=None,
            person=Person(str(person), f"Member {person}"),
            at=datetime.now(UTC),
            text="/stop",
            command="stop",
        )
        await commands.stop(
            commands.CommandContext(session, world.shop.tenant, community, member_id, event)
        )


def _dms(fake: FakeTelegram) -> dict[int, int]:
    """Private chats the robot sent to -> how many messages."""
    return {
        chat: n for chat, n in helpers.sent(fake).ok.items() if fake.chat(chat).type == "private"
    }


@pytest.mark.parametrize("marketing", [True, False], ids=["marketing", "service"])
async def test_the_consent_matrix_decides_who_gets_a_direct_message(
    db: Database,
    factory: Factory,
    fake_telegram: FakeTelegram,
    telegram: TelegramChannel,
    marketing: bool,
) -> None:
    world = await helpers.shop_in_groups(db, factory, fake_telegram, helpers.groups(1))
    people = {kind: 600 + n for n, kind in enumerate(KINDS)}
    ids = {
        kind: await _member(db, factory, fake_telegram, world, person, kind)
        for kind, person in people.items()
    }
    channels: Mapping[str, Channel] = {"telegram": telegram}
    broadcast_id = await helpers.broadcast(
        db,
        world,
        channels,
        audience=Audience.MEMBERS,
        member_ids=tuple(ids.values()),
        marketing=marketing,
    )
    await helpers.run_until_done(db, helpers.sweeps(db, channels), broadcast_id)
    wanted = ["opted_in"] if marketing else ["opted_in", "never_asked", "stopped"]
    assert _dms(fake_telegram) == {people[kind]: 1 for kind in wanted}
    rows = {r.member_id: r for r in await helpers.deliveries(db, broadcast_id)}
    # The erased member is no target at all; the others have a row saying what happened.
    assert set(rows) == {ids[k] for k in KINDS if k != "erased"}
    assert {k: rows[ids[k]].status for k in KINDS if k != "erased"} == {
        "opted_in": "sent",
        "never_asked": "skipped" if marketing else "sent",
        "stopped": "skipped" if marketing else "sent",
        "blocked": "skipped",
    }
    assert rows[ids["blocked"]].last_error == "the member is blocked"
    assert rows[ids["opted_in"]].chat_id == str(people["opted_in"])  # found by direct_chat
    assert await helpers.counts(db, broadcast_id) == (
        Counts(sent=1, skipped=3) if marketing else Counts(sent=3, skipped=1)
    )


async def test_a_member_who_stops_halfway_gets_none_of_the_rest(
    db: Database, factory: Factory, fake_telegram: FakeTelegram, telegram: TelegramChannel
) -> None:
    world = await helpers.shop_in_groups(db, factory, fake_telegram, helpers.groups(1))
    people = [700 + n for n in range(60)]
    ids = [await _member(db, factory, fake_telegram, world, p, "opted_in") for p in people]
    # They stop while the first wave is being sent: the waves marked in flight by then go out,
    # the rest skip them.
    marked = WAVE_SIZE * WAVES_AT_ONCE
    quitters = list(zip(ids[marked:], people[marked:], strict=True))

    async def stop_them() -> None:
        for member_id, person in quitters:
            await _stop(db, world, member_id, person)

    tapped = helpers.Interrupting(telegram, after=10, then=stop_them)
    channels: Mapping[str, Channel] = {"telegram": tapped}
    broadcast_id = await helpers.broadcast(
        db,
        world,
        channels,
        audience=Audience.MEMBERS,
        member_ids=tuple(ids),
        marketing=True,
    )
    await helpers.run_until_done(db, helpers.sweeps(db, channels), broadcast_id)
    got = _dms(fake_telegram)
    stopped = {p for _, p in quitters}
    assert set(got) == set(people) - stopped
    assert set(got.values()) == {1}
    rows = {r.member_id: r for r in await helpers.deliveries(db, broadcast_id)}
    assert {rows[m].status for m, _ in quitters} == {"skipped"}
    assert {rows[m].attempts for m, _ in quitters} == {0}
    assert await helpers.counts(db, broadcast_id) == Counts(sent=marked, skipped=60 - marked)


async def test_groups_refusing_marketing_get_service_messages_only(
    db: Database, factory: Factory, fake_telegram: FakeTelegram, telegram: TelegramChannel
) -> None:
    chats = helpers.groups(4)
    world = await helpers.shop_in_groups(db, factory, fake_telegram, chats)
    async with db.unit_of_work() as session:
        await session.execute(
            update(Community)
            .where(Community.id.in_(world.groups[:2]))
            .values(accepts_marketing=False)
        )
    channels: Mapping[str, Channel] = {"telegram": telegram}
    sweeps = helpers.sweeps(db, channels)
    offer = await helpers.broadcast(db, world, channels, text="Offer", marketing=True)
    notice = await helpers.broadcast(db, world, channels, text="Closed on Monday")
    await helpers.run_until_done(db, sweeps, offer)
    await helpers.run_until_done(db, sweeps, notice)
    texts = {chat: [m.text for m in fake_telegram.sent(chat)] for chat in chats}
    assert texts == {
        chats[0]: ["Closed on Monday"],
        chats[1]: ["Closed on Monday"],
        chats[2]: ["Offer", "Closed on Monday"],
        chats[3]: ["Offer", "Closed on Monday"],
    }
    assert await helpers.counts(db, offer) == Counts(sent=2, skipped=2)
    assert await helpers.counts(db, notice) == Counts(sent=4)
