"""The calendar: per group, the broadcasts made and the occurrences the schedules will still
make, in the group's time and UTC; the direct messages counted from joins per day; a warning
where a month's group posts pass the channel's quota (a channel allowing 4 a month); the range
and the community asked for checked."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select

from tests.factories import Factory
from tests.robot.worlds import telegram_world
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.models.broadcasts import Broadcast, BroadcastDelivery
from tribekit.models.enums import Channel as ChannelName
from tribekit.robot.channels import (
    Capabilities,
    InboundEvent,
    OutboundAction,
    Performed,
    RobotAccount,
)

from .world import CONTENT, group, join, schedule, sweep

CALENDAR = "/api/v1/robot/calendar"


class QuotaChannel:
    """A channel that allows 4 mass messages per group per calendar month."""

    name = "wecom"
    capabilities = Capabilities(monthly_mass_messages=4)

    def parse(self, account: RobotAccount, update: Mapping[str, Any]) -> list[InboundEvent]:
        return []

    async def perform(self, account: RobotAccount, action: OutboundAction) -> Performed:
        return Performed()

    async def aclose(self) -> None:
        return None


def _utc(day: int, hour: int = 0, minute: int = 0, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


async def _broadcast(db: Database, merchant_id: uuid.UUID, **fields: Any) -> uuid.UUID:
    async with db.unit_of_work() as session:
        row = Broadcast(
            merchant_id=merchant_id,
            name=fields.pop("name", "Staff post"),
            content=CONTENT,
            created_by="staff:x",
            **fields,
        )
        session.add(row)
        await session.flush()
        return row.id


def _posts(calendar: dict[str, Any], community_id: uuid.UUID) -> list[tuple[Any, ...]]:
    (found,) = [c for c in calendar["communities"] if c["community_id"] == str(community_id)]
    return [(p["local_at"], p["at"], p["name"], p["status"]) for p in found["posts"]]


async def test_the_calendar_shows_what_will_be_posted_where_and_warns_past_a_quota(
    app: FastAPI, client: AsyncClient, factory: Factory, db: Database
) -> None:
    app.state.tribekit.channels = {**app.state.tribekit.channels, "wecom": QuotaChannel()}
    world = await telegram_world(db, factory, [-1001])
    shop = world.shop
    wecom = await group(db, shop, "WeCom group", channel=ChannelName.WECOM)
    web = await group(db, shop, "Web group")
    berlin = await group(db, shop, "Berlin group", timezone="Europe/Berlin")
    m1, m2 = [(await factory.member(shop)).member.id for _ in range(2)]
    with clock.frozen_at(_utc(1)) as now:
        fridays = await schedule(
            client, shop, "every Friday 20:00", name="Gift pack day", community_id=str(wecom)
        )
        await schedule(client, shop, "15th of the month 10:30", name="Mid-month")
        await schedule(
            client, shop, "2 days after a member joins", name="Welcome", community_id=str(web)
        )
        done = await _broadcast(
            db,
            shop.tenant.id,
            audience="communities",
            community_ids=[str(wecom)],
            send_at=_utc(1, 2),
            status="done",
        )
        async with db.unit_of_work() as session:
            session.add(
                BroadcastDelivery(
                    merchant_id=shop.tenant.id,
                    broadcast_id=done,
                    community_id=wecom,
                    robot_account_id=world.robot_id,
                    channel="wecom",
                    chat_id="x",
                    language="en",
                    status="sent",
                    due_at=_utc(1, 2),
                )
            )
        await _broadcast(
            db,
            shop.tenant.id,
            audience="communities",
            community_ids=[str(wecom)],
            send_at=_utc(2, 2),
            status="cancelled",
        )
        direct = await _broadcast(
            db,
            shop.tenant.id,
            name="Your card",
            audience="members",
            member_ids=[str(m1)],
            send_at=_utc(6),
            status="scheduled",
        )
        await join(db, shop, web, m1, _utc(2, 12))
        await join(db, shop, web, m2, _utc(3, 12))
        now.at = _utc(3, 13)
        await sweep(db)  # makes Friday's post and m1's welcome; m2's is not due within a day

        week = await client.get(
            CALENDAR,
            params={"start": "2026-12-01T00:00:00Z", "end": "2026-12-08T00:00:00Z"},
            headers=shop.headers,
        )
    assert week.status_code == 200, week.text
    calendar = week.json()
    assert (calendar["start"], calendar["end"]) == ("2026-12-01T00:00:00Z", "2026-12-08T00:00:00Z")
    names = [
        (c["name"], c["channel"], c["timezone"], c["monthly_mass_messages"])
        for c in calendar["communities"]
    ]
    assert names == [
        ("Berlin group", "web", "Europe/Berlin", None),
        ("Group -1001", "telegram", "Asia/Shanghai", None),
        ("WeCom group", "wecom", "Asia/Shanghai", 4),
        ("Web group", "web", "Asia/Shanghai", None),
    ]
    made_friday = await _friday(db, fridays["id"])
    assert _posts(calendar, wecom) == [
        ("2026-12-01T10:00", "2026-12-01T02:00:00Z", "Staff post", "done"),
        ("2026-12-04T20:00", "2026-12-04T12:00:00Z", "Gift pack day", "scheduled"),
    ]
    (friday,) = [
        p for c in calendar["communities"] for p in c["posts"] if p["status"] == "scheduled"
    ]
    assert (friday["broadcast_id"], friday["schedule_id"]) == (str(made_friday), fridays["id"])
    assert _posts(calendar, web) == []
    (web_plan,) = [c for c in calendar["communities"] if c["community_id"] == str(web)]
    assert [(d["day"], d["name"], d["count"]) for d in web_plan["direct_messages"]] == [
        ("2026-12-04", "Welcome", 1),  # made
        ("2026-12-05", "Welcome", 1),  # still to be made
    ]
    # December in the WeCom group: the staff post, four Fridays and the 15th: 6 against 4.
    assert calendar["warnings"] == [
        {
            "code": "monthly_quota_exceeded",
            "community_id": str(wecom),
            "community_name": "WeCom group",
            "channel": "wecom",
            "month": "2026-12",
            "planned": 6,
            "quota": 4,
            "message": "WeCom group (wecom): 6 group posts in 2026-12, the channel allows 4 mass "
            "messages a month per group",
        }
    ]
    assert [(b["broadcast_id"], b["name"], b["status"]) for b in calendar["direct_broadcasts"]] == [
        (str(direct), "Your card", "scheduled")
    ]

    with clock.frozen_at(_utc(3, 13)):
        month = await client.get(
            CALENDAR,
            params={
                "start": "2026-12-01T00:00:00+08:00",
                "end": "2027-01-01T00:00:00+08:00",
                "community_id": str(berlin),
            },
            headers=shop.headers,
        )
    assert month.status_code == 200, month.text
    assert [c["name"] for c in month.json()["communities"]] == ["Berlin group"]
    assert _posts(month.json(), berlin) == [
        ("2026-12-15T10:30", "2026-12-15T09:30:00Z", "Mid-month", "planned")
    ]
    assert month.json()["warnings"] == []


async def _friday(db: Database, schedule_id: str) -> uuid.UUID:
    async with db.unit_of_work() as session:
        found = await session.scalar(
            select(Broadcast.id).where(Broadcast.schedule_id == uuid.UUID(schedule_id))
        )
        assert found is not None
        return found


async def test_a_paused_schedule_plans_nothing_and_a_month_within_its_quota_warns_nothing(
    app: FastAPI, client: AsyncClient, factory: Factory, db: Database
) -> None:
    app.state.tribekit.channels = {**app.state.tribekit.channels, "wecom": QuotaChannel()}
    shop = await factory.shop()
    wecom = await group(db, shop, "WeCom group", channel=ChannelName.WECOM)
    with clock.frozen_at(_utc(1)):
        await schedule(client, shop, "every Friday 20:00", community_id=str(wecom))
        await schedule(client, shop, "every day 09:00", community_id=str(wecom), active=False)
        # December in Shanghai: up to midnight there (a range to 00:00 UTC would touch
        # January, whose five Fridays pass the quota).
        found = await client.get(
            CALENDAR,
            params={"start": "2026-12-01T00:00:00+08:00", "end": "2027-01-01T00:00:00+08:00"},
            headers=shop.headers,
        )
    calendar = found.json()
    assert [p[0] for p in _posts(calendar, wecom)] == [
        "2026-12-04T20:00",
        "2026-12-11T20:00",
        "2026-12-18T20:00",
        "2026-12-25T20:00",
    ]
    assert calendar["warnings"] == []


async def test_the_range_and_the_community_are_checked(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop, other = await factory.shop(), await factory.shop()
    theirs = await group(db, other, "Theirs")

    async def get(**params: str) -> tuple[int, str]:
        response = await client.get(CALENDAR, params=params, headers=shop.headers)
        assert response.headers["content-type"].startswith("application/")
        return response.status_code, response.json().get("code", "")

    start = datetime(2026, 12, 1, tzinfo=UTC)

    def iso(at: datetime) -> str:
        return at.isoformat()

    assert await get(start=iso(start), end=iso(start + timedelta(days=92))) == (200, "")
    too_long = await get(start=iso(start), end=iso(start + timedelta(days=92, seconds=1)))
    assert too_long == (422, "calendar_range_invalid")
    assert await get(start=iso(start), end=iso(start)) == (422, "calendar_range_invalid")
    assert (await get(start="2026-12-01", end="2026-12-02"))[0] == 422  # no time, no zone
    assert await get(start=iso(start)) == (200, "")  # 31 days from start
    assert await get() == (200, "")  # 31 days from now
    missing = await get(
        start=iso(start), end=iso(start + timedelta(days=1)), community_id=str(uuid.uuid4())
    )
    other_merchants = await get(
        start=iso(start), end=iso(start + timedelta(days=1)), community_id=str(theirs)
    )
    assert missing == other_merchants == (404, "not_found")


async def test_a_broadcast_to_every_group_counts_in_each_of_them(
    app: FastAPI, client: AsyncClient, factory: Factory, db: Database
) -> None:
    app.state.tribekit.channels = {**app.state.tribekit.channels, "wecom": QuotaChannel()}
    shop = await factory.shop()
    wecom = await group(db, shop, "WeCom group", channel=ChannelName.WECOM)
    web = await group(db, shop, "Web group")
    for day in (2, 9, 16, 23, 30):
        await _broadcast(
            db, shop.tenant.id, audience="all", send_at=_utc(day, 4), status="scheduled"
        )
    with clock.frozen_at(_utc(1)):
        found = await client.get(
            CALENDAR,
            params={"start": "2026-12-01T00:00:00+08:00", "end": "2026-12-08T00:00:00+08:00"},
            headers=shop.headers,
        )
    calendar = found.json()
    for community in (wecom, web):
        assert _posts(calendar, community) == [
            ("2026-12-02T12:00", "2026-12-02T04:00:00Z", "Staff post", "scheduled")
        ]
    assert [(w["community_name"], w["planned"], w["quota"]) for w in calendar["warnings"]] == [
        ("WeCom group", 5, 4)
    ]
