"""Group-buy queries. A team's ``size`` (its seats) only moves by conditional updates; every
statement that locks or conditionally updates a team row first asks ``kit.locks`` (rank
CAMPAIGN, after the order and before products)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import locks
from tribekit.kit.repository import TenantRepository
from tribekit.models.campaigns import GroupBuy, GroupBuyParticipant, GroupBuyTeam
from tribekit.models.communities import Community


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


class GroupBuys(TenantRepository[GroupBuy]):
    model = GroupBuy
    noun = "group buy"

    async def insert_once(self, values: dict[str, Any]) -> bool:
        """Insert a group buy unless one with its ``(schedule_id, occurrence_key)`` exists:
        the unique constraint decides, so two workers making one occurrence make it once."""
        insert = postgresql.insert if _dialect(self.session) == "postgresql" else sqlite.insert
        result = await self.session.execute(
            insert(GroupBuy)
            .values(merchant_id=self.merchant_id, **values)
            .on_conflict_do_nothing(index_elements=["schedule_id", "occurrence_key"])
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]  # DML results have it

    async def community_ids(self, ids: list[uuid.UUID]) -> set[uuid.UUID]:
        """Which of ``ids`` are communities of this merchant."""
        rows = await self.session.scalars(
            select(Community.id).where(
                Community.merchant_id == self.merchant_id, Community.id.in_(set(ids))
            )
        )
        return set(rows.all())


class Teams(TenantRepository[GroupBuyTeam]):
    model = GroupBuyTeam
    noun = "team"
    lock_rank = locks.Rank.CAMPAIGN

    async def take_seats(self, team_id: uuid.UUID, portions: int) -> int | None:
        """Take ``portions`` seats if the team is open and has them; the new size, or None.
        One statement: the database decides, so a team never passes its maximum."""
        locks.acquire(self.session, locks.Rank.CAMPAIGN, [team_id])
        result = await self.session.execute(
            update(GroupBuyTeam)
            .where(
                GroupBuyTeam.merchant_id == self.merchant_id,
                GroupBuyTeam.id == team_id,
                GroupBuyTeam.status == "open",
                GroupBuyTeam.size + portions <= GroupBuyTeam.max_size,
            )
            .values(size=GroupBuyTeam.size + portions)
            .returning(GroupBuyTeam.size)
            .execution_options(synchronize_session=False)
        )
        return result.scalar_one_or_none()

    async def free_seats(self, team_id: uuid.UUID, portions: int) -> None:
        """Give ``portions`` seats back (a participant left or their unpaid order closed)."""
        locks.acquire(self.session, locks.Rank.CAMPAIGN, [team_id])
        await self.session.execute(
            update(GroupBuyTeam)
            .where(
                GroupBuyTeam.merchant_id == self.merchant_id,
                GroupBuyTeam.id == team_id,
                GroupBuyTeam.size >= portions,
            )
            .values(size=GroupBuyTeam.size - portions)
            .execution_options(synchronize_session=False)
        )


class Participants(TenantRepository[GroupBuyParticipant]):
    model = GroupBuyParticipant
    noun = "participant"
