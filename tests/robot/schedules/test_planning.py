"""The worker's planning of scheduled posts: each occurrence made a horizon ahead as one
broadcast, merchant-wide schedules one per timezone; a pause, a change or a removal cancels what
was not started and the next plan follows the schedule as it is; nothing posted from before the
last change or long past; direct messages counted from each member's join; any number of
workers at once, each occurrence once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import Factory
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.kit.worker import WorkerLoop
from tribekit.models.broadcasts import PostSchedule
from tribekit.models.communities import Community, CommunityMember
from tribekit.models.enums import CommunityStatus
from tribekit.robot.schedules import tasks
from tribekit.tenancy.principal import Tenant

from .world import group, join, made, patch, schedule, schedule_row, sweep

MONDAY = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def _utc(day: int, hour: int, minute: int = 0, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


async def test_each_occurrence_is_made_a_horizon_ahead_once(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    g = await group(db, shop, "Greenwood Fruit Lovers")
    with clock.frozen_at(MONDAY) as now:
        created = await schedule(client, shop, "Mon-Thu 19:50", community_id=str(g))
        assert await sweep(db) == 1
        (first,) = await made(db)
        assert first.occurrence_key == "2026-12-07T19:50@Asia/Shanghai"
        assert first.send_at == _utc(7, 11, 50)
        assert (first.status, first.audience, first.community_ids) == (
            "scheduled",
            "communities",
            [str(g)],
        )
        assert (first.name, first.content["texts"]["en"], first.marketing) == (
            "Flash sale",
            "Flash sale at 20:00",
            False,
        )
        assert first.schedule_id == uuid.UUID(created["id"])
        assert first.created_by == f"schedule:{created['id']}"
        row = await schedule_row(db, created["id"])
        # Looked at again within the hour (a group added meanwhile is planned for).
        assert (row.due_at, row.updated_at, row.version) == (MONDAY + HOUR, MONDAY, 1)

        assert await sweep(db) == 0  # not due again yet
        now.advance(HOUR)
        assert await sweep(db) == 1
        assert len(await made(db)) == 1  # Tuesday's is not within 24 hours yet
        now.at = _utc(7, 11, 50)
        assert await sweep(db) == 1
        assert [b.occurrence_key for b in await made(db)] == [
            "2026-12-07T19:50@Asia/Shanghai",
            "2026-12-08T19:50@Asia/Shanghai",
        ]
        # Wednesday's occurrence enters the horizon at Tuesday 11:50 UTC; within the hour first.
        row = await schedule_row(db, created["id"])
        assert row.due_at == _utc(7, 12, 50)
        now.at = _utc(10, 11, 0)  # Thursday 19:00: Friday has none, so Monday's is next
        await sweep(db)
        row = await schedule_row(db, created["id"])
        assert row.due_at == _utc(10, 12, 0)
        assert [(b.occurrence_key or "")[:10] for b in await made(db)] == [
            "2026-12-07",
            "2026-12-08",
            "2026-12-10",
        ]


async def test_a_merchant_wide_schedule_posts_once_per_timezone(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    a = await group(db, shop, "A")  # the merchant's timezone, Asia/Shanghai
    b = await group(db, shop, "B", timezone="Asia/Shanghai")
    berlin = await group(db, shop, "Berlin", timezone="Europe/Berlin")
    await group(db, shop, "Pending", status=CommunityStatus.PENDING)
    await group(db, shop, "Archived", timezone="America/New_York", status=CommunityStatus.ARCHIVED)
    other = await factory.shop()
    await group(db, other, "Not ours", timezone="Europe/London")
    with clock.frozen_at(_utc(7, 0)):
        await schedule(client, shop, "every day 09:00", marketing=True)
        await sweep(db)
    found = await made(db)
    assert [(x.occurrence_key, x.send_at, sorted(x.community_ids)) for x in found] == [
        ("2026-12-07T09:00@Asia/Shanghai", _utc(7, 1), sorted([str(a), str(b)])),
        ("2026-12-07T09:00@Europe/Berlin", _utc(7, 8), [str(berlin)]),
    ]
    assert all(x.marketing and x.merchant_id == shop.tenant.id for x in found)


async def test_pausing_cancels_and_resuming_does_not_post_what_was_missed(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    g = await group(db, shop, "G")
    two_days = timedelta(hours=48)
    with clock.frozen_at(MONDAY) as now:
        created = await schedule(client, shop, "every day 20:00", community_id=str(g))
        await sweep(db, two_days)
        assert [b.send_at for b in await made(db)] == [_utc(7, 12), _utc(8, 12)]
        now.at = _utc(7, 5)
        paused = await patch(client, shop, created, active=False)
        assert (paused["active"], paused["version"]) == (False, 2)
        cancelled = await made(db)
        assert [(b.status, b.occurrence_key, b.cancelled_at) for b in cancelled] == [
            ("cancelled", "2026-12-07T20:00@Asia/Shanghai~v1", now.at),
            ("cancelled", "2026-12-08T20:00@Asia/Shanghai~v1", now.at),
        ]
        assert await sweep(db, two_days) == 0  # a paused schedule plans nothing

        now.at = _utc(7, 13)  # Monday's 20:00 went by while paused
        await patch(client, shop, paused, active=True)
        assert await sweep(db, two_days) == 1
        live = await made(db, status="scheduled")
        assert [(b.occurrence_key, b.send_at) for b in live] == [
            ("2026-12-08T20:00@Asia/Shanghai", _utc(8, 12)),
            ("2026-12-09T20:00@Asia/Shanghai", _utc(9, 12)),
        ]
        assert len(await made(db)) == 4


async def test_a_change_replans_the_coming_posts(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    g = await group(db, shop, "G")
    with clock.frozen_at(MONDAY) as now:
        created = await schedule(client, shop, "every day 20:00", community_id=str(g))
        await sweep(db)
        now.advance(HOUR)
        later = await patch(client, shop, created, rule="every day 21:00")
        await sweep(db)
        assert [(b.status, b.occurrence_key, b.send_at) for b in await made(db)] == [
            ("cancelled", "2026-12-07T20:00@Asia/Shanghai~v1", _utc(7, 12)),
            ("scheduled", "2026-12-07T21:00@Asia/Shanghai", _utc(7, 13)),
        ]
        # A new text: the same occurrence is made again, saying it.
        now.advance(HOUR)
        await patch(client, shop, later, content={"texts": {"en": "Tonight at nine"}})
        await sweep(db)
        live = await made(db, status="scheduled")
        assert [(b.occurrence_key, b.content["texts"]) for b in live] == [
            ("2026-12-07T21:00@Asia/Shanghai", {"en": "Tonight at nine"})
        ]
        assert [b.occurrence_key for b in await made(db, status="cancelled")] == [
            "2026-12-07T20:00@Asia/Shanghai~v1",
            "2026-12-07T21:00@Asia/Shanghai~v2",
        ]


async def test_a_broadcast_due_now_is_left_to_go_out_when_the_text_changes(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    g = await group(db, shop, "G")
    with clock.frozen_at(MONDAY) as now:
        created = await schedule(client, shop, "every day 20:00", community_id=str(g))
        await sweep(db)
        now.at = _utc(7, 12) + timedelta(
            seconds=30
        )  # its time has come; the worker has not started it yet
        await patch(client, shop, created, content={"texts": {"en": "New"}})
        (kept,) = await made(db)
        assert (kept.status, kept.occurrence_key) == ("scheduled", "2026-12-07T20:00@Asia/Shanghai")


@pytest.mark.parametrize(("late", "made_today"), [(timedelta(minutes=30), True), (90 * 60, False)])
async def test_a_worker_that_was_down_posts_what_is_less_than_an_hour_late(
    client: AsyncClient,
    factory: Factory,
    db: Database,
    late: timedelta | int,
    made_today: bool,
) -> None:
    late = late if isinstance(late, timedelta) else timedelta(seconds=late)
    shop = await factory.shop()
    g = await group(db, shop, "G")
    with clock.frozen_at(_utc(7, 0)) as now:
        await schedule(client, shop, "every day 20:00", community_id=str(g))
        now.at = _utc(7, 12) + late  # nobody planned until now
        await sweep(db)
        found = [((b.occurrence_key or "")[:10], b.send_at) for b in await made(db)]
    expected = [("2026-12-08", _utc(8, 12))]
    if made_today:
        expected.insert(0, ("2026-12-07", _utc(7, 12) + late))  # sent now, as soon as it can
    assert found == expected


async def test_a_direct_message_counted_from_each_join_once(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    g, h = await group(db, shop, "G"), await group(db, shop, "H")
    m = [(await factory.member(shop)).member.id for _ in range(5)]
    start = _utc(1, 0)
    await join(db, shop, g, m[0], start - timedelta(days=1))  # before the schedule
    with clock.frozen_at(start) as now:
        created = await schedule(
            client, shop, "3 days after a member joins", community_id=str(g), marketing=True
        )
        await join(db, shop, g, m[1], start + HOUR)
        await join(db, shop, g, m[2], start + 2 * HOUR, left_at=start + 5 * HOUR)
        await join(db, shop, h, m[3], start + HOUR)  # another group
        await join(db, shop, g, m[4], start + 30 * HOUR)
        now.at = start + timedelta(days=2)  # m[1]'s message is due in 25 hours: not yet
        await sweep(db)
        assert await made(db) == []
        row = await schedule_row(db, created["id"])
        assert row.due_at == now.at + timedelta(minutes=1)
        now.advance(HOUR)
        await sweep(db)
        (dm,) = await made(db)
        assert (dm.audience, dm.member_ids, dm.community_ids, dm.send_at, dm.marketing) == (
            "members",
            [str(m[1])],
            [],
            start + HOUR + timedelta(days=3),
            True,
        )
        assert dm.occurrence_key == f"member:{m[1]}:{g}"
        now.advance(timedelta(minutes=1))
        await sweep(db)
        assert len(await made(db)) == 1
        now.at = start + 30 * HOUR + 2 * DAY + HOUR  # m[4]'s is within the horizon
        await sweep(db)
        # m[1] leaves and comes back: one message per member and group, still.
        rejoined = start + 2 * DAY + 2 * HOUR
        async with db.unit_of_work() as session:
            row_m1 = await session.get(CommunityMember, (g, m[1]))
            assert row_m1 is not None
            row_m1.joined_at = rejoined
        now.at = rejoined + 2 * DAY + HOUR
        await sweep(db)
        assert [b.occurrence_key for b in await made(db)] == [
            f"member:{m[1]}:{g}",
            f"member:{m[4]}:{g}",
        ]
        assert (await made(db))[1].send_at == start + 30 * HOUR + 3 * DAY


async def test_a_direct_message_at_a_time_of_day_in_each_groups_timezone(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    shanghai = await group(db, shop, "Shanghai")
    berlin = await group(db, shop, "Berlin", timezone="Europe/Berlin")
    a, b = [(await factory.member(shop)).member.id for _ in range(2)]
    with clock.frozen_at(_utc(1, 0)) as now:
        await schedule(client, shop, "1 day after a member joins at 10:00")
        await join(db, shop, shanghai, a, _utc(1, 15, 30))  # 23:30 on the 1st in Shanghai
        await join(db, shop, berlin, b, _utc(1, 15, 30))  # 16:30 on the 1st in Berlin
        now.at = _utc(1, 16)
        await sweep(db)
    assert [(x.member_ids, x.send_at) for x in await made(db)] == [
        ([str(a)], _utc(2, 2)),  # 10:00 on the 2nd in Shanghai
        ([str(b)], _utc(2, 9)),  # 10:00 CET on the 2nd in Berlin
    ]


async def test_several_workers_at_once_make_each_occurrence_once(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    for name, tz in (("A", None), ("B", "Europe/Berlin"), ("C", "America/New_York")):
        await group(db, shop, name, timezone=tz)
    g = await group(db, shop, "G")
    members = [(await factory.member(shop)).member.id for _ in range(6)]
    with clock.frozen_at(_utc(7, 0)) as now:
        await schedule(client, shop, "every day 09:00")
        await schedule(client, shop, "Mon-Thu 19:50", community_id=str(g))
        await schedule(client, shop, "2 hours after a member joins", community_id=str(g))
        for member in members:
            await join(db, shop, g, member, now.at)
        now.advance(timedelta(minutes=5))

        barrier = asyncio.Barrier(4)

        async def worker() -> int:
            await barrier.wait()
            return await sweep(db, 2 * DAY)

        planned = await asyncio.gather(*(worker() for _ in range(4)))
        assert sum(planned) == 3  # each schedule claimed by one worker
        first = sorted((b.schedule_id, b.occurrence_key) for b in await made(db))

        # Past the claim: workers planning the same schedules at the same moment (as if a
        # lock were lost) still make each occurrence once; the unique constraint decides.
        tenant: Tenant = shop.tenant
        barrier = asyncio.Barrier(4)

        async def work(session: AsyncSession) -> int:
            rows = (await session.scalars(select(PostSchedule).order_by(PostSchedule.id))).all()
            return sum([await tasks.plan(session, tenant, r, horizon=4 * DAY) for r in rows])

        async def unclaimed() -> int:
            await barrier.wait()
            return await db.run(work)

        results = await asyncio.gather(*(unclaimed() for _ in range(4)))
    found = sorted((b.schedule_id, b.occurrence_key) for b in await made(db))
    assert len(found) == len(set(found))
    assert sum(results) == len(found) - len(first)
    keys = sorted(k for _, k in found if k is not None)
    assert keys == sorted(
        [
            *(
                f"2026-12-{d:02d}T09:00@{tz}"
                for tz in ("Asia/Shanghai", "Europe/Berlin", "America/New_York")
                for d in (7, 8, 9, 10)
            ),
            *(f"2026-12-{d:02d}T19:50@Asia/Shanghai" for d in (7, 8, 9, 10)),
            *(f"member:{m}:{g}" for m in members),
        ]
    )
    assert all(b.status == "scheduled" for b in await made(db))
    assert sum(1 for b in await made(db, audience="members")) == len(members)


async def test_a_group_is_posted_to_once_per_local_time_when_groups_change(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    a = await group(db, shop, "A")
    moving = await group(db, shop, "Moving")
    with clock.frozen_at(_utc(7, 0)) as now:
        await schedule(client, shop, "every day 20:00")
        await sweep(db)
        (first,) = await made(db)
        assert sorted(first.community_ids) == sorted([str(a), str(moving)])
        # A group added in Shanghai, and one moved to Berlin, after 20:00's broadcast was made.
        added = await group(db, shop, "Added")
        async with db.unit_of_work() as session:
            row = await session.get(Community, moving)
            assert row is not None
            row.timezone = "Europe/Berlin"
        now.advance(2 * HOUR)
        await sweep(db)
    assert [(b.occurrence_key, b.community_ids, b.send_at) for b in await made(db)] == [
        ("2026-12-07T20:00@Asia/Shanghai", first.community_ids, _utc(7, 12)),
        (f"2026-12-07T20:00@Asia/Shanghai/{added}", [str(added)], _utc(7, 12)),
    ]


async def test_the_sweep_plans_through_the_worker_loop_with_its_horizon(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    g = await group(db, shop, "G")
    (default,) = tasks.SWEEPS
    (two_days,) = tasks.sweeps(48)
    assert default.name == two_days.name == "robot.schedules.plan"
    with clock.frozen_at(MONDAY):
        await schedule(client, shop, "every day 20:00", community_id=str(g))
        assert await WorkerLoop(db, [two_days]).run_sweep(two_days) == 1
    assert [b.send_at for b in await made(db)] == [_utc(7, 12), _utc(8, 12)]
