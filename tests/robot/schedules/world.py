"""The scheduled posts' test world: groups in several timezones, members joining them, the
worker's planning sweep run, and what it made."""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime, timedelta
from typing import Any

from httpx import AsyncClient
from sqlalchemy import select

from tests.factories import Shop
from tribekit.kit.db import Database
from tribekit.models.broadcasts import Broadcast, PostSchedule
from tribekit.models.communities import Community, CommunityMember
from tribekit.models.enums import Channel, CommunityStatus
from tribekit.robot.schedules import tasks

API = "/api/v1/robot/schedules"
CONTENT = {"texts": {"en": "Flash sale at 20:00", "zh-CN": "20:00 限时秒杀"}}
_chat = itertools.count(-5000, -1)


async def group(
    db: Database,
    shop: Shop,
    name: str,
    *,
    timezone: str | None = None,
    channel: Channel = Channel.WEB,
    status: CommunityStatus = CommunityStatus.ACTIVE,
) -> uuid.UUID:
    """A group of ``shop`` (web unless told), in ``timezone`` (None: the merchant's)."""
    async with db.unit_of_work() as session:
        row = Community(
            merchant_id=shop.tenant.id,
            name=name,
            channel=channel,
            external_id=str(next(_chat)),
            status=status,
            timezone=timezone,
        )
        session.add(row)
        await session.flush()
        return row.id


async def join(
    db: Database,
    shop: Shop,
    community_id: uuid.UUID,
    member_id: uuid.UUID,
    at: datetime,
    *,
    left_at: datetime | None = None,
) -> None:
    async with db.unit_of_work() as session:
        session.add(
            CommunityMember(
                merchant_id=shop.tenant.id,
                community_id=community_id,
                member_id=member_id,
                joined_at=at,
                left_at=left_at,
            )
        )


async def schedule(client: AsyncClient, shop: Shop, rule: str, **fields: Any) -> dict[str, Any]:
    data = {"name": fields.pop("name", "Flash sale"), "rule": rule, "content": CONTENT, **fields}
    made = await client.post(API, json=data, headers=shop.headers)
    assert made.status_code == 201, made.text
    out: dict[str, Any] = made.json()
    return out


async def patch(
    client: AsyncClient, shop: Shop, made: dict[str, Any], **changes: Any
) -> dict[str, Any]:
    changed = await client.patch(
        f"{API}/{made['id']}",
        json=changes,
        headers={**shop.headers, "If-Match": f'"{made["version"]}"'},
    )
    assert changed.status_code == 200, changed.text
    out: dict[str, Any] = changed.json()
    return out


async def sweep(db: Database, horizon: timedelta = tasks.DEFAULT_HORIZON) -> int:
    """One run of the planning sweep; how many schedules it planned."""
    return await db.run(lambda session: tasks.plan_due(session, 50, horizon=horizon))


async def made(db: Database, **where: Any) -> list[Broadcast]:
    """The broadcasts, in time order then key."""
    async with db.unit_of_work() as session:
        stmt = select(Broadcast).filter_by(**where)
        return list(
            (
                await session.scalars(stmt.order_by(Broadcast.send_at, Broadcast.occurrence_key))
            ).all()
        )


async def schedule_row(db: Database, schedule_id: str) -> PostSchedule:
    async with db.unit_of_work() as session:
        row = await session.get(PostSchedule, uuid.UUID(schedule_id))
        assert row is not None
        return row
