"""The one calendar: per group, the campaigns that run there (made, and still to be made by the
schedules) and every post it gets (scheduled posts, broadcasts, the campaigns' announcements,
made or planned), with a warning where a month's plan passes the channel's quota (a channel
allowing 4 a month); announcements already made counted once, as the broadcasts they are."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient

from tests.factories import Factory
from tests.robot.schedules.world import group
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.models.campaigns import FlashSale
from tribekit.models.enums import Channel as ChannelName
from tribekit.robot.channels import (
    Capabilities,
    InboundEvent,
    OutboundAction,
    Performed,
    RobotAccount,
)

from .world import (
    CALENDAR,
    announce,
    flash_template,
    gift_pack_template,
    products,
    rows,
    schedule,
    sweep,
)


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


def _utc(day: int, hour: int = 0, minute: int = 0) -> str:
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC).isoformat().replace("+00:00", "Z")


async def test_campaigns_and_posts_per_group_with_a_quota_warning(
    app: FastAPI, client: AsyncClient, factory: Factory, db: Database
) -> None:
    app.state.tribekit.channels = {**app.state.tribekit.channels, "wecom": QuotaChannel()}
    shop = await factory.shop()
    wecom = await group(db, shop, "WeCom group", channel=ChannelName.WECOM)
    web = await group(db, shop, "Web group")
    mango, pack = await products(factory, shop, "Mango", "Gift pack")
    with clock.frozen_at(datetime(2026, 12, 7, 1, tzinfo=UTC)) as now:  # Monday 09:00
        flash = await schedule(
            client,
            shop,
            "Mon-Thu 20:00 for 2 h",
            flash_template(mango),
            name="Weeknight flash",
            community_ids=[str(wecom)],
        )
        gifts = await schedule(
            client,
            shop,
            "Fri 20:00-23:00",
            gift_pack_template(pack),
            name="Gift-pack day",
            announce_before_seconds=0,
        )
        post = await client.post(
            "/api/v1/robot/schedules",
            json={
                "name": "Friday post",
                "rule": "every Friday 20:00",
                "content": {"texts": {"en": "Gift packs tonight"}},
            },
            headers=shop.headers,
        )
        assert post.status_code == 201, post.text
        await sweep(db)  # makes Monday's flash sale
        now.at = datetime(2026, 12, 7, 11, 50, tzinfo=UTC)
        assert await announce(db) == 1  # Monday's "before": a broadcast now
        (sale,) = await rows(db, FlashSale)
        week = await client.get(
            CALENDAR,
            params={"start": _utc(7), "end": _utc(14)},
            headers=shop.headers,
        )
    assert week.status_code == 200, week.text
    body = week.json()
    by_id = {c["community_id"]: c for c in body["communities"]}
    mine = by_id[str(wecom)]
    assert (mine["channel"], mine["monthly_mass_messages"]) == ("wecom", 4)
    assert [
        (c["kind"], c["local_start"], c["status"], c["campaign_id"], c["schedule_id"])
        for c in mine["campaigns"]
    ] == [
        ("flash_sale", "2026-12-07T20:00", "scheduled", str(sale.id), flash["id"]),
        ("flash_sale", "2026-12-08T20:00", "planned", None, flash["id"]),
        ("flash_sale", "2026-12-09T20:00", "planned", None, flash["id"]),
        ("flash_sale", "2026-12-10T20:00", "planned", None, flash["id"]),
        ("group_buy", "2026-12-11T20:00", "planned", None, gifts["id"]),
    ]
    assert [
        (p["local_at"], p["status"], p["moment"], p["campaign_id"] == str(sale.id))
        for p in mine["posts"]
    ] == [
        ("2026-12-07T19:50", "scheduled", None, True),  # made: the broadcast itself
        ("2026-12-07T20:00", "planned", "start", True),
        ("2026-12-08T19:50", "planned", "before", False),
        ("2026-12-08T20:00", "planned", "start", False),
        ("2026-12-09T19:50", "planned", "before", False),
        ("2026-12-09T20:00", "planned", "start", False),
        ("2026-12-10T19:50", "planned", "before", False),
        ("2026-12-10T20:00", "planned", "start", False),
        ("2026-12-11T20:00", "planned", None, False),  # the scheduled post
        ("2026-12-11T20:00", "planned", "start", False),
        ("2026-12-11T23:00", "planned", "result", False),
    ]
    assert mine["posts"][8]["name"] == "Friday post"
    web_plan = by_id[str(web)]
    assert [c["kind"] for c in web_plan["campaigns"]] == ["group_buy"]
    assert [(p["local_at"], p["moment"]) for p in web_plan["posts"]] == [
        ("2026-12-11T20:00", None),
        ("2026-12-11T20:00", "start"),
        ("2026-12-11T23:00", "result"),
    ]
    # December in the WeCom group: 16 weeknight sales (2 posts each, Monday's "before" made),
    # 3 Fridays' group buys (start, result) and 3 Friday posts.
    assert body["warnings"] == [
        {
            "code": "monthly_quota_exceeded",
            "community_id": str(wecom),
            "community_name": "WeCom group",
            "channel": "wecom",
            "month": "2026-12",
            "planned": 32 + 6 + 3,
            "quota": 4,
            "message": "WeCom group (wecom): 41 group posts in 2026-12, the channel allows 4 "
            "mass messages a month per group",
        }
    ]


async def test_the_range_and_the_community_are_checked(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop, other = await factory.shop(), await factory.shop()
    theirs = await group(db, other, "Theirs")
    backwards = await client.get(
        CALENDAR, params={"start": _utc(14), "end": _utc(7)}, headers=shop.headers
    )
    assert (backwards.status_code, backwards.json()["code"]) == (422, "calendar_range_invalid")
    too_long = await client.get(
        CALENDAR, params={"start": "2026-01-01T00:00:00Z", "end": _utc(7)}, headers=shop.headers
    )
    assert too_long.status_code == 422
    foreign = await client.get(CALENDAR, params={"community_id": str(theirs)}, headers=shop.headers)
    assert foreign.status_code == 404
