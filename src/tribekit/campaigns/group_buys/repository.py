"""Group-buy queries. A team's ``size`` (its seats) only moves by conditional updates; every
statement that locks or conditionally updates a team row first asks ``kit.locks`` (rank
CAMPAIGN, after the order and before products)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, update
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

    async def by_code(self, code: str) -> GroupBuyTeam | None:
        team: GroupBuyTeam | None = await self.session.scalar(
            self.select().where(GroupBuyTeam.code == code)
        )
        return team

    async def by_address(self, group_buy_id: uuid.UUID, address_key: str) -> GroupBuyTeam | None:
        team: GroupBuyTeam | None = await self.session.scalar(
            self.select().where(
                GroupBuyTeam.group_buy_id == group_buy_id, GroupBuyTeam.address_key == address_key
            )
        )
        return team

    async def insert_for_address(self, values: dict[str, Any]) -> None:
        """The team of an address, unless it exists: one per ``(group_buy_id, address_key)``,
        decided by the unique constraint (two neighbours joining at once make one team)."""
        insert = postgresql.insert if _dialect(self.session) == "postgresql" else sqlite.insert
        await self.session.execute(
            insert(GroupBuyTeam)
            .values(merchant_id=self.merchant_id, **values)
            .on_conflict_do_nothing(index_elements=["group_buy_id", "address_key"])
        )

    async def of_group_buy(self, group_buy_id: uuid.UUID) -> list[GroupBuyTeam]:
        rows = await self.session.scalars(
            self.select().where(GroupBuyTeam.group_buy_id == group_buy_id).order_by(GroupBuyTeam.id)
        )
        return list(rows.all())


class Participants(TenantRepository[GroupBuyParticipant]):
    model = GroupBuyParticipant
    noun = "participant"

    async def portions_of(self, group_buy_id: uuid.UUID, member_id: uuid.UUID) -> int:
        """The portions the member holds in the group buy (joined, paid or settled)."""
        total = await self.session.scalar(
            select(func.coalesce(func.sum(GroupBuyParticipant.portions), 0)).where(
                GroupBuyParticipant.merchant_id == self.merchant_id,
                GroupBuyParticipant.group_buy_id == group_buy_id,
                GroupBuyParticipant.member_id == member_id,
                GroupBuyParticipant.status.in_(("joined", "paid", "settled")),
            )
        )
        return int(total or 0)

    async def current(
        self, group_buy_id: uuid.UUID, member_id: uuid.UUID
    ) -> GroupBuyParticipant | None:
        """The member's latest place still in a team of the group buy."""
        row: GroupBuyParticipant | None = await self.session.scalar(
            self.select()
            .where(
                GroupBuyParticipant.group_buy_id == group_buy_id,
                GroupBuyParticipant.member_id == member_id,
                GroupBuyParticipant.status.in_(ACTIVE),
            )
            .order_by(GroupBuyParticipant.id.desc())
            .limit(1)
            .execution_options(populate_existing=True)
        )
        return row


async def paid_portions(session: AsyncSession, team_id: uuid.UUID) -> int:
    """The portions of the team's paid participants (the count the tiers go by)."""
    total = await session.scalar(
        select(func.coalesce(func.sum(GroupBuyParticipant.portions), 0)).where(
            GroupBuyParticipant.team_id == team_id, GroupBuyParticipant.status == "paid"
        )
    )
    return int(total or 0)


async def active(session: AsyncSession, team_id: uuid.UUID) -> list[GroupBuyParticipant]:
    """The team's participants still in it (joined or paid), oldest first."""
    rows = await session.scalars(
        select(GroupBuyParticipant)
        .where(
            GroupBuyParticipant.team_id == team_id,
            GroupBuyParticipant.status.in_(ACTIVE),
        )
        .order_by(GroupBuyParticipant.joined_at, GroupBuyParticipant.id)
        .execution_options(populate_existing=True)
    )
    return list(rows.all())


#: A participant still in the team: joined (order placed, unpaid) or paid.
ACTIVE = ("joined", "paid")


async def paid_by_team(session: AsyncSession, team_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Paid (or settled) portions by team."""
    if not team_ids:
        return {}
    rows = await session.execute(
        select(GroupBuyParticipant.team_id, func.sum(GroupBuyParticipant.portions))
        .where(
            GroupBuyParticipant.team_id.in_(team_ids),
            GroupBuyParticipant.status.in_(("paid", "settled")),
        )
        .group_by(GroupBuyParticipant.team_id)
    )
    return {team_id: int(total) for team_id, total in rows.all()}
