"""Counting what happens in each community, per day in its timezone (``models/activity.py``),
and each member's last activity there. One upsert per counter: concurrent messages add up
exactly (the database adds, nobody reads then writes)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.models.activity import CommunityDay, MemberDay
from tribekit.models.communities import Community, CommunityMember
from tribekit.tenancy.principal import Tenant

COUNTERS = ("messages", "joins", "leaves", "moderation_actions")


def day_of(community: Community, tenant: Tenant, at: datetime) -> date:
    return at.astimezone(ZoneInfo(community.timezone or tenant.timezone)).date()


async def _add(session: AsyncSession, model: Any, keys: dict[str, Any], column: str) -> None:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = model.__table__
    statement = insert(table).values(**keys, **{column: 1})
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[c.name for c in table.primary_key.columns],
            set_={column: table.c[column] + 1},
        )
    )


async def count(
    session: AsyncSession, tenant: Tenant, community: Community, counter: str, at: datetime
) -> None:
    """One more ``counter`` (messages, joins, leaves, moderation_actions) on the day of ``at``."""
    assert counter in COUNTERS
    keys = {
        "merchant_id": tenant.id,
        "community_id": community.id,
        "day": day_of(community, tenant, at),
    }
    await _add(session, CommunityDay, keys, counter)


async def posted(
    session: AsyncSession,
    tenant: Tenant,
    community: Community,
    member_id: uuid.UUID,
    at: datetime,
) -> None:
    """A member posted: the day's messages, their day, their last activity in the group."""
    day = day_of(community, tenant, at)
    await _add(
        session,
        CommunityDay,
        {"merchant_id": tenant.id, "community_id": community.id, "day": day},
        "messages",
    )
    await _add(
        session,
        MemberDay,
        {
            "merchant_id": tenant.id,
            "community_id": community.id,
            "day": day,
            "member_id": member_id,
        },
        "messages",
    )
    await session.execute(
        update(CommunityMember)
        .where(
            CommunityMember.merchant_id == tenant.id,
            CommunityMember.community_id == community.id,
            CommunityMember.member_id == member_id,
        )
        .values(messages=CommunityMember.messages + 1, last_active_at=at)
        .execution_options(synchronize_session=False)
    )
