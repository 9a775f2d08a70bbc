"""A community's activity through the API: each day of a range (zeros on quiet days) in the
community's timezone, and the members who posted most; a leader reads their own groups'."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from httpx import AsyncClient
from sqlalchemy import select

from tests.factories import Factory, bearer
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.models import ApiToken
from tribekit.models.communities import Community
from tribekit.models.enums import Role
from tribekit.robot import activity


async def test_activity_counts_each_day_and_ranks_the_members(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    headers = shop.headers
    group = (
        await client.post(
            "/api/v1/communities", json={"name": "G", "channel": "web"}, headers=headers
        )
    ).json()["id"]
    ann = str((await factory.member(shop, display_name="Ann")).member.id)
    bob = str((await factory.member(shop, display_name="Bob")).member.id)
    for member in (ann, bob):
        joined = await client.post(
            f"/api/v1/communities/{group}/members", json={"member_id": member}, headers=headers
        )
        assert joined.status_code == 200
    # Asia/Shanghai: 20:00 UTC on 1 March is 2 March there.
    late = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
    async with db.unit_of_work() as session:
        community = await session.get(Community, uuid.UUID(group))
        assert community is not None
        for member, at in ((ann, late), (ann, late), (bob, late), (ann, late + timedelta(days=2))):
            await activity.posted(session, shop.tenant, community, uuid.UUID(member), at)
        await activity.count(session, shop.tenant, community, "moderation_actions", late)
        await activity.count(session, shop.tenant, community, "joins", late)

    response = await client.get(
        f"/api/v1/communities/{group}/activity",
        params={"from": "2026-03-01", "to": "2026-03-04"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["from"], body["to"], body["timezone"]) == (
        "2026-03-01",
        "2026-03-04",
        "Asia/Shanghai",
    )
    assert [
        (d["day"], d["messages"], d["active_members"], d["joins"], d["moderation_actions"])
        for d in body["days"]
    ] == [
        ("2026-03-01", 0, 0, 0, 0),
        ("2026-03-02", 3, 2, 1, 1),
        ("2026-03-03", 0, 0, 0, 0),
        ("2026-03-04", 1, 1, 0, 0),
    ]
    assert [(m["display_name"], m["messages"]) for m in body["top_members"]] == [
        ("Ann", 3),
        ("Bob", 1),
    ]
    assert body["top_members"][0]["last_active_at"].startswith("2026-03-03T20:00")

    default = await client.get(f"/api/v1/communities/{group}/activity", headers=headers)
    assert len(default.json()["days"]) == 30
    assert default.json()["to"] == str(clock.now().astimezone(ZoneInfo("Asia/Shanghai")).date())
    for params in (
        {"from": "2026-03-05", "to": "2026-03-01"},
        {"from": "2024-01-01", "to": "2026-01-01"},
        {"from": "March"},
    ):
        bad = await client.get(
            f"/api/v1/communities/{group}/activity", params=params, headers=headers
        )
        assert bad.status_code == 422, params
        assert bad.json()["code"] == "validation_failed"


async def test_a_leader_reads_the_activity_of_their_group_only(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    x, y = [
        (
            await client.post(
                "/api/v1/communities", json={"name": name, "channel": "web"}, headers=shop.headers
            )
        ).json()["id"]
        for name in ("X", "Y")
    ]
    token = await factory.staff_token(shop, Role.LEADER)
    async with db.unit_of_work(read_only=True) as session:
        user_id = await session.scalar(select(ApiToken.user_id).where(ApiToken.name == "leader"))
    named = await client.post(
        f"/api/v1/communities/{x}/leaders",
        json={"staff_user_id": str(user_id)},
        headers=shop.headers,
    )
    assert named.status_code == 201
    leader = bearer(token)
    assert (
        await client.get(f"/api/v1/communities/{x}/activity", headers=leader)
    ).status_code == 200
    hidden = await client.get(f"/api/v1/communities/{y}/activity", headers=leader)
    assert hidden.status_code == 404
    other = await factory.shop()
    assert (
        await client.get(f"/api/v1/communities/{x}/activity", headers=other.headers)
    ).status_code == 404
