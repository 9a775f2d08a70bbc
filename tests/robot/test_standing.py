"""Where a person stands in a group, read in one statement: each part belongs to this merchant,
this identity and this group only, and a ban counts only while it is in force."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select, update

from tests.factories import Factory, Shop
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.models.communities import CommunityLeader
from tribekit.models.moderation import Ban, ModerationPolicy
from tribekit.models.robot import JoinCaptcha, RobotAccount
from tribekit.robot import standing

from .worlds import telegram_world


async def _world(db: Database, factory: Factory) -> tuple[Shop, uuid.UUID, list[uuid.UUID]]:
    """A shop with two Telegram groups and a member known there as Telegram user 42."""
    world = await telegram_world(db, factory, [-100, -101])
    return world.shop, world.member_id, world.groups


async def _read(
    db: Database, shop: Shop, community_id: uuid.UUID, who: str = "42"
) -> standing.Standing:
    async with db.unit_of_work(read_only=True) as session:
        return await standing.read(session, shop.tenant, "telegram", who, community_id)


async def test_a_member_with_nothing_against_them(db: Database, factory: Factory) -> None:
    shop, member_id, groups = await _world(db, factory)
    found = await _read(db, shop, groups[0])
    assert found == standing.Standing(member_id, None, False, False, ())
    stranger = await _read(db, shop, groups[0], who="43")
    assert stranger == standing.Standing(None, None, False, False, ())


async def test_each_part_is_this_groups_and_a_ban_counts_while_in_force(
    db: Database, factory: Factory
) -> None:
    shop, member_id, (first, second) = await _world(db, factory)
    other = await factory.shop()
    now = clock.now()
    async with db.unit_of_work() as session:
        ended = Ban(
            merchant_id=shop.tenant.id,
            member_id=member_id,
            reason="flood",
            banned_by="robot",
            at=now - timedelta(days=2),
            until=now - timedelta(days=1),
        )
        session.add(ended)
        robot_id = await session.scalar(
            select(RobotAccount.id).where(RobotAccount.merchant_id == shop.tenant.id)
        )
        session.add(
            JoinCaptcha(
                merchant_id=shop.tenant.id,
                community_id=first,
                member_id=member_id,
                robot_account_id=robot_id,
                person_id="42",
                due_at=now + timedelta(minutes=5),
            )
        )
        session.add(
            CommunityLeader(merchant_id=shop.tenant.id, community_id=first, member_id=member_id)
        )
        base = ModerationPolicy(merchant_id=shop.tenant.id, rules={}, version=3)
        override = ModerationPolicy(
            merchant_id=shop.tenant.id, community_id=first, rules={}, version=7
        )
        session.add_all([base, override])
        others = ModerationPolicy(merchant_id=other.tenant.id, rules={}, version=9)
        session.add(others)
        await session.flush()
        base_id, override_id, others_id = base.id, override.id, others.id

    found = await _read(db, shop, first)
    assert found.member_id == member_id
    assert found.ban_id is None  # the ban has ended by itself
    assert found.captcha_pending
    assert found.leads
    assert found.policy_rows == ((base_id, 3), (override_id, 7))

    elsewhere = await _read(db, shop, second)
    assert not elsewhere.captcha_pending
    assert not elsewhere.leads
    assert elsewhere.policy_rows == ((base_id, 3),)

    async with db.unit_of_work() as session:
        # Marked lifted as the ban sweep does once it ended; then a new ban, in force.
        await session.execute(update(Ban).values(lifted_at=Ban.until, lifted_by="robot"))
        ban = Ban(merchant_id=shop.tenant.id, member_id=member_id, reason="spam", banned_by="s")
        session.add(ban)
        await session.flush()
        ban_id = ban.id
    assert (await _read(db, shop, second)).ban_id == ban_id
    # Another merchant never sees this merchant's member, ban or policy rows.
    assert await _read(db, other, second) == standing.Standing(
        None, None, False, False, ((others_id, 9),)
    )
