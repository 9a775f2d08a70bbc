"""Who a broadcast's deliveries are written for: listed communities, every active one (an
archived group or one without a robot left out), members chosen by community, tag and level,
each in their own language (the group's; a member's: the group they joined first, else "en"),
falling back to the first text given."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from tests.factories import Factory
from tests.robot.fake_telegram import FakeTelegram
from tests.robot.worlds import World
from tribekit.kit.db import Database
from tribekit.members import service as members
from tribekit.members.schemas import IdentityIn, MemberCreate
from tribekit.models.broadcasts import BroadcastDelivery
from tribekit.models.communities import Community, CommunityMember
from tribekit.models.enums import Channel as ChannelName
from tribekit.models.enums import CommunityStatus
from tribekit.models.membership import Level, MembershipAccount
from tribekit.robot.broadcasts import service
from tribekit.robot.broadcasts.content import Content
from tribekit.robot.broadcasts.service import BroadcastSpec
from tribekit.robot.broadcasts.states import Audience
from tribekit.robot.channels import Channel
from tribekit.robot.channels.telegram import TelegramChannel

from . import helpers

TEXTS = {"zh-CN": "芒果到了", "en": "Mangoes are in"}


@pytest.fixture
async def telegram(fake_telegram: FakeTelegram) -> AsyncIterator[TelegramChannel]:
    channel = helpers.unlimited(TelegramChannel(fake_telegram.base_url))
    yield channel
    await channel.aclose()


async def _expand(
    db: Database, world: World, channels: Mapping[str, Channel], spec: BroadcastSpec
) -> dict[uuid.UUID | None, tuple[str, str]]:
    """Make the broadcast, let the worker write its deliveries: target -> (status, language)."""
    async with db.unit_of_work() as session:
        made = await service.create(session, world.shop.tenant, spec, channels, created_by="t")
    await helpers.run(db, helpers.sweeps(db, channels)[:1])
    return {
        (r.community_id or r.member_id): (r.status, r.language)
        for r in await helpers.deliveries(db, made.broadcast.id)
    }


async def test_groups_each_in_its_own_language(
    db: Database, factory: Factory, fake_telegram: FakeTelegram, telegram: TelegramChannel
) -> None:
    world = await helpers.shop_in_groups(db, factory, fake_telegram, helpers.groups(4))
    g = world.groups
    async with db.unit_of_work() as session:
        await session.execute(update(Community).where(Community.id == g[0]).values(language="en"))
        await session.execute(
            update(Community).where(Community.id == g[1]).values(language="zh-CN")
        )
        await session.execute(
            update(Community).where(Community.id == g[2]).values(status=CommunityStatus.ARCHIVED)
        )
        await session.execute(
            update(Community).where(Community.id == g[3]).values(robot_account_id=None)
        )
    channels: Mapping[str, Channel] = {"telegram": telegram}
    everyone = await _expand(db, world, channels, BroadcastSpec(Content(TEXTS), Audience.ALL))
    assert everyone == {g[0]: ("pending", "en"), g[1]: ("pending", "zh-CN")}
    only_en = await _expand(
        db,
        world,
        channels,
        BroadcastSpec(Content({"zh-CN": "芒果"}), Audience.COMMUNITIES, community_ids=(g[0],)),
    )
    assert only_en == {g[0]: ("pending", "zh-CN")}  # no English text: the first given


async def test_members_chosen_by_community_tag_and_level(
    db: Database, factory: Factory, fake_telegram: FakeTelegram, telegram: TelegramChannel
) -> None:
    world = await helpers.shop_in_groups(db, factory, fake_telegram, helpers.groups(2))
    tenant = world.shop.tenant
    async with db.unit_of_work() as session:
        await session.execute(
            update(Community).where(Community.id == world.groups[1]).values(language="zh-CN")
        )
        gold = Level(merchant_id=tenant.id, name="Gold", rank=2)
        session.add(gold)

    async def member(person: int, tags: list[str], joined: list[int], level: bool) -> uuid.UUID:
        async with db.unit_of_work() as session:
            made = await members.create_member(
                session,
                tenant,
                "test",
                MemberCreate(
                    display_name=f"M{person}",
                    tags=tags,
                    identities=[IdentityIn(channel=ChannelName.TELEGRAM, external_id=str(person))],
                ),
            )
            start = datetime.now(UTC) - timedelta(days=10)
            for n, index in enumerate(joined):
                session.add(
                    CommunityMember(
                        merchant_id=tenant.id,
                        community_id=world.groups[index],
                        member_id=made.member.id,
                        joined_at=start + timedelta(days=n),
                    )
                )
            if level:
                session.add(
                    MembershipAccount(
                        merchant_id=tenant.id, member_id=made.member.id, balance=0, level_id=gold.id
                    )
                )
            return made.member.id

    vip_zh = await member(801, ["vip"], [1, 0], level=True)  # joined the zh-CN group first
    vip_en = await member(802, ["vip"], [0], level=False)
    plain = await member(803, [], [0, 1], level=True)
    nowhere = await member(804, ["vip"], [], level=True)
    channels: Mapping[str, Channel] = {"telegram": telegram}

    def spec(**chosen: object) -> BroadcastSpec:
        return BroadcastSpec(Content(TEXTS), Audience.MEMBERS, **chosen)  # type: ignore[arg-type]

    assert await _expand(db, world, channels, spec(tags=("vip",))) == {
        vip_zh: ("pending", "zh-CN"),
        vip_en: ("pending", "en"),
    }
    assert await _expand(db, world, channels, spec(level_ids=(gold.id,))) == {
        vip_zh: ("pending", "zh-CN"),
        plain: ("pending", "en"),
    }
    assert await _expand(db, world, channels, spec(tags=("vip",), level_ids=(gold.id,))) == {
        vip_zh: ("pending", "zh-CN")
    }
    assert await _expand(db, world, channels, spec(community_ids=(world.groups[1],))) == {
        vip_zh: ("pending", "zh-CN"),
        plain: ("pending", "en"),
    }
    # Listed by id: present in a group or not; a member with no group reads "en".
    assert await _expand(db, world, channels, spec(member_ids=(nowhere, vip_en))) == {
        nowhere: ("pending", "en"),
        vip_en: ("pending", "en"),
    }
    # The world's own member (Telegram user 42) is in no group and has no tag: never chosen.
    assert world.member_id not in await _expand(db, world, channels, spec(tags=("vip",)))


async def test_a_group_past_its_channels_monthly_quota_of_mass_messages_is_skipped(
    db: Database, factory: Factory, fake_telegram: FakeTelegram, telegram: TelegramChannel
) -> None:
    """A channel that allows each group a few mass messages a month (as WeCom does): the
    broadcasts past it are written skipped for that group, marketing or not."""
    world = await helpers.shop_in_groups(db, factory, fake_telegram, helpers.groups(2))
    telegram.capabilities = replace(telegram.capabilities, monthly_mass_messages=2)
    channels: Mapping[str, Channel] = {"telegram": telegram}
    g = world.groups
    first = BroadcastSpec(Content(TEXTS), Audience.COMMUNITIES, community_ids=(g[0],))
    assert await _expand(db, world, channels, first) == {g[0]: ("pending", "en")}
    second = BroadcastSpec(Content(TEXTS), Audience.ALL, marketing=True)
    assert await _expand(db, world, channels, second) == {
        g[0]: ("pending", "en"),
        g[1]: ("pending", "en"),
    }
    third = BroadcastSpec(Content(TEXTS), Audience.ALL)
    assert await _expand(db, world, channels, third) == {
        g[0]: ("skipped", "en"),
        g[1]: ("pending", "en"),
    }
    async with db.unit_of_work(read_only=True) as session:
        reasons = set(
            (
                await session.scalars(
                    select(BroadcastDelivery.last_error).where(
                        BroadcastDelivery.status == "skipped"
                    )
                )
            ).all()
        )
    assert reasons == {
        "the group's mass messages for the month are used up: 2 this month on telegram"
    }
