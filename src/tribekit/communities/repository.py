"""Queries for communities, their members and their leaders.

Membership changes are Core statements, each conditional on the row's state: a join inserts
the row (or clears ``left_at``) only if the member is not in the group, a leave sets
``left_at`` only if they are, and ``member_count`` moves by one in the same transaction only
when that statement changed a row. So concurrent joins and leaves of one member change the
count once per real change, and the count always equals the members present.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit.repository import TenantRepository
from tribekit.models.communities import Community, CommunityLeader, CommunityMember
from tribekit.models.enums import Channel, CommunityStatus
from tribekit.models.members import Member

_community = Community.__table__.c
_cm = CommunityMember.__table__.c

# Built once at import (composing costs more than running a cached statement): the robot calls
# these for every leave and every member count change.
_LEAVE = (
    update(CommunityMember)
    .where(
        _cm.merchant_id == bindparam("b_merchant_id"),
        _cm.community_id == bindparam("b_community_id"),
        _cm.member_id == bindparam("b_member_id"),
        _cm.left_at.is_(None),
    )
    .values(left_at=bindparam("b_at"))
    .execution_options(synchronize_session=False)
)
_COUNT = (
    update(Community)
    .where(
        _community.merchant_id == bindparam("b_merchant_id"),
        _community.id == bindparam("b_id"),
    )
    .values(member_count=_community.member_count + bindparam("b_delta"))
    .execution_options(synchronize_session=False)
)


_BY_CHAT = select(Community).where(
    _community.merchant_id == bindparam("b_merchant_id"),
    _community.channel == bindparam("b_channel"),
    _community.external_id == bindparam("b_chat"),
)
_JOIN: dict[str, Any] = {}


def _join(dialect: str) -> Any:
    """The join's upsert, built once per dialect."""
    statement = _JOIN.get(dialect)
    if statement is None:
        insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
        values = insert(CommunityMember.__table__).values(
            merchant_id=bindparam("b_merchant_id"),
            community_id=bindparam("b_community_id"),
            member_id=bindparam("b_member_id"),
            joined_at=bindparam("b_at"),
            join_source=bindparam("b_source"),
            messages=0,
        )
        statement = values.on_conflict_do_update(
            index_elements=["community_id", "member_id"],
            set_={
                "left_at": None,
                "joined_at": values.excluded.joined_at,
                "join_source": values.excluded.join_source,
            },
            where=_cm.left_at.is_not(None),
        )
        _JOIN[dialect] = statement
    return statement


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


class Communities(TenantRepository[Community]):
    model = Community
    noun = "community"

    def filtered(
        self,
        *,
        status: CommunityStatus | None = None,
        channel: Channel | None = None,
        within: frozenset[uuid.UUID] | None = None,
    ) -> Select[Any]:
        stmt = self.select()
        if status is not None:
            stmt = stmt.where(Community.status == status)
        if channel is not None:
            stmt = stmt.where(Community.channel == channel)
        if within is not None:
            stmt = stmt.where(Community.id.in_(sorted(within)))
        return stmt

    async def by_chat(self, channel: Channel, external_id: str) -> Community | None:
        params = {"b_merchant_id": self.merchant_id, "b_channel": channel, "b_chat": external_id}
        found: Community | None = await self.session.scalar(_BY_CHAT, params)
        return found

    async def insert_if_absent(self, values: dict[str, Any]) -> bool:
        """Insert a community unless its (merchant, channel, chat id) exists; True if this did."""
        insert = postgresql.insert if _dialect(self.session) == "postgresql" else sqlite.insert
        stmt = (
            insert(Community)
            .values(merchant_id=self.merchant_id, **values)
            .on_conflict_do_nothing(index_elements=["merchant_id", "channel", "external_id"])
        )
        result = await self.session.execute(stmt)
        return bool(result.rowcount)  # type: ignore[attr-defined]  # DML results have it

    async def move(
        self,
        community: Community,
        from_states: Iterable[CommunityStatus],
        to: CommunityStatus,
        **values: Any,
    ) -> bool:
        """Move ``community`` to ``to`` if it is in one of ``from_states``; True if this call
        did (and the row in memory shows it). False: refresh to see why."""
        result = await self.session.execute(
            update(Community)
            .where(
                Community.merchant_id == self.merchant_id,
                Community.id == community.id,
                Community.status.in_(list(from_states)),
            )
            .values(status=to, **values)
            .execution_options(synchronize_session=False)
        )
        if not result.rowcount:  # type: ignore[attr-defined]  # DML results have it
            return False
        await self.session.refresh(community)
        return True

    async def refresh(self, community: Community) -> Community:
        await self.session.refresh(community)
        return community

    # -- members -----------------------------------------------------------------------------

    async def _count(self, community_id: uuid.UUID, delta: int) -> None:
        await self.session.execute(
            _COUNT, {"b_merchant_id": self.merchant_id, "b_id": community_id, "b_delta": delta}
        )

    async def join(
        self, community_id: uuid.UUID, member_id: uuid.UUID, *, source: str | None, at: datetime
    ) -> bool:
        """Record the member in the group; True if they were not in it (and the count grew).
        A member who had left comes back: ``joined_at`` and ``join_source`` are this stay's,
        their messages and last activity are kept."""
        # One statement (the robot calls this for every message): insert the row, or bring
        # back a member who had left; a member in the group matches neither and changes nothing.
        params = {
            "b_merchant_id": self.merchant_id,
            "b_community_id": community_id,
            "b_member_id": member_id,
            "b_at": at,
            "b_source": source,
        }
        result = await self.session.execute(_join(_dialect(self.session)), params)
        changed = bool(result.rowcount)  # type: ignore[attr-defined]  # DML results have it
        if changed:
            await self._count(community_id, +1)
        return changed

    async def leave(self, community_id: uuid.UUID, member_id: uuid.UUID, *, at: datetime) -> bool:
        """Record that the member left; True if they were in the group (and the count fell)."""
        params = {
            "b_merchant_id": self.merchant_id,
            "b_community_id": community_id,
            "b_member_id": member_id,
            "b_at": at,
        }
        result = await self.session.execute(_LEAVE, params)
        if not result.rowcount:  # type: ignore[attr-defined]  # DML results have it
            return False
        await self._count(community_id, -1)
        return True

    async def membership(
        self, community_id: uuid.UUID, member_id: uuid.UUID
    ) -> CommunityMember | None:
        stmt = select(CommunityMember).where(
            CommunityMember.merchant_id == self.merchant_id,
            CommunityMember.community_id == community_id,
            CommunityMember.member_id == member_id,
        )
        found: CommunityMember | None = await self.session.scalar(stmt)
        return found

    def members(
        self, community_id: uuid.UUID, *, include_left: bool
    ) -> Select[CommunityMember, str]:
        """The community's members with their names, for ``page_members``."""
        stmt = (
            select(CommunityMember, Member.display_name)
            .join(Member, Member.id == CommunityMember.member_id)
            .where(
                CommunityMember.merchant_id == self.merchant_id,
                CommunityMember.community_id == community_id,
            )
        )
        if not include_left:
            stmt = stmt.where(CommunityMember.left_at.is_(None))
        return stmt

    async def end_memberships(self, member_id: uuid.UUID, *, at: datetime) -> list[uuid.UUID]:
        """The member leaves every group they are in (erasure); the groups they left."""
        result = await self.session.execute(
            update(CommunityMember)
            .where(
                CommunityMember.merchant_id == self.merchant_id,
                CommunityMember.member_id == member_id,
                CommunityMember.left_at.is_(None),
            )
            .values(left_at=at)
            .returning(CommunityMember.community_id)
            .execution_options(synchronize_session=False)
        )
        left = sorted(result.scalars().all())
        for community_id in left:  # in id order: two erasures never wait on each other crosswise
            await self._count(community_id, -1)
        return left

    async def merge_memberships(self, source_id: uuid.UUID, target_id: uuid.UUID) -> None:
        """Give the target member the source's memberships (a merge of duplicates). A group both
        are in keeps one membership: present if either was, the earlier join, the messages
        added up; the count falls by one where both were present."""
        source_rows = (
            await self.session.scalars(
                select(CommunityMember)
                .where(
                    CommunityMember.merchant_id == self.merchant_id,
                    CommunityMember.member_id == source_id,
                )
                .order_by(CommunityMember.community_id)
            )
        ).all()
        targets = {
            row.community_id: row
            for row in (
                await self.session.scalars(
                    select(CommunityMember).where(
                        CommunityMember.merchant_id == self.merchant_id,
                        CommunityMember.member_id == target_id,
                    )
                )
            ).all()
        }
        for source in source_rows:
            target = targets.get(source.community_id)
            if target is None:
                await self.session.execute(
                    update(CommunityMember)
                    .where(
                        CommunityMember.community_id == source.community_id,
                        CommunityMember.member_id == source_id,
                    )
                    .values(member_id=target_id)
                    .execution_options(synchronize_session=False)
                )
                continue
            if source.left_at is None and target.left_at is None:
                await self._count(source.community_id, -1)
            elif source.left_at is None:
                target.left_at = None
            target.joined_at = min(target.joined_at, source.joined_at)
            target.messages += source.messages
            if source.last_active_at is not None and (
                target.last_active_at is None or source.last_active_at > target.last_active_at
            ):
                target.last_active_at = source.last_active_at
            await self.session.execute(
                delete(CommunityMember).where(
                    CommunityMember.community_id == source.community_id,
                    CommunityMember.member_id == source_id,
                )
            )
        await self.session.flush()

    # -- leaders -----------------------------------------------------------------------------

    async def leaders(
        self, community_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[CommunityLeader]]:
        if not community_ids:
            return {}
        rows = await self.session.scalars(
            select(CommunityLeader)
            .where(
                CommunityLeader.merchant_id == self.merchant_id,
                CommunityLeader.community_id.in_(community_ids),
            )
            .order_by(CommunityLeader.since, CommunityLeader.id)
        )
        found: dict[uuid.UUID, list[CommunityLeader]] = {}
        for row in rows.all():
            found.setdefault(row.community_id, []).append(row)
        return found

    async def leader(self, community_id: uuid.UUID, leader_id: uuid.UUID) -> CommunityLeader | None:
        stmt = select(CommunityLeader).where(
            CommunityLeader.merchant_id == self.merchant_id,
            CommunityLeader.community_id == community_id,
            CommunityLeader.id == leader_id,
        )
        found: CommunityLeader | None = await self.session.scalar(stmt)
        return found


def member_in_any(
    merchant_id: uuid.UUID, member_id: Any, community_ids: frozenset[uuid.UUID]
) -> Any:
    """A condition: the member is or was in one of ``community_ids`` (a leader's reach)."""
    return (
        select(CommunityMember.member_id)
        .where(
            and_(
                CommunityMember.merchant_id == merchant_id,
                CommunityMember.member_id == member_id,
                CommunityMember.community_id.in_(sorted(community_ids)),
            )
        )
        .exists()
    )
