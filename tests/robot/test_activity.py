"""Community activity per day: concurrent messages add up exactly, days follow the community's
timezone, a member's last activity and message count follow their posts."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import func, select

from tests.concurrency import fire
from tests.factories import Factory
from tribekit.kit.db import Database
from tribekit.models.activity import CommunityDay, MemberDay
from tribekit.models.communities import Community, CommunityMember
from tribekit.models.enums import Channel, CommunityStatus
from tribekit.robot import activity


async def test_concurrent_posts_add_up_exactly_per_day_in_the_groups_timezone(
    db: Database, factory: Factory
) -> None:
    shop = await factory.shop()
    members = [(await factory.member(shop)).member.id for _ in range(4)]
    async with db.unit_of_work() as session:
        group = Community(
            merchant_id=shop.tenant.id,
            name="Night owls",
            channel=Channel.WEB,
            status=CommunityStatus.ACTIVE,
            timezone="Asia/Shanghai",
        )
        session.add(group)
        await session.flush()
        session.add_all(
            CommunityMember(merchant_id=shop.tenant.id, community_id=group.id, member_id=m)
            for m in members
        )
    late = datetime(2026, 12, 1, 17, 30, tzinfo=UTC)  # 01:30 on 2 December in Shanghai
    n = 40 if db.dialect == "postgresql" else 12

    async def post(i: int) -> None:
        async with db.unit_of_work() as session:
            await activity.posted(session, shop.tenant, group, members[i % 4], late)

    await fire(n, post)
    async with db.unit_of_work() as session:
        await activity.count(session, shop.tenant, group, "joins", late)
    async with db.unit_of_work(read_only=True) as session:
        [day] = (await session.scalars(select(CommunityDay))).all()
        active = await session.scalar(select(func.count()).select_from(MemberDay))
        per_member = sorted((await session.scalars(select(MemberDay.messages))).all())
        counts = sorted((await session.scalars(select(CommunityMember.messages))).all())
        last = set((await session.scalars(select(CommunityMember.last_active_at))).all())
    assert (day.day, day.messages, day.joins, day.leaves) == (date(2026, 12, 2), n, 1, 0)
    assert active == 4
    assert per_member == [n // 4] * 4
    assert counts == [n // 4] * 4
    assert last == {late}
