"""Queries of the membership program. Every query is scoped to one merchant."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import locks
from tribekit.kit.repository import TenantRepository
from tribekit.models.membership import (
    Level,
    LevelChange,
    MemberPurchase,
    MembershipAccount,
    MembershipPlan,
    MembershipSettings,
    PlanPurchase,
    PlanSubscription,
    PointsEntry,
    PointsLot,
)


class Levels(TenantRepository[Level]):
    model = Level
    noun = "level"

    async def ranked(self) -> list[Level]:
        """The merchant's levels, lowest rank first."""
        return list((await self.session.scalars(self.select().order_by(Level.rank))).all())


class Plans(TenantRepository[MembershipPlan]):
    model = MembershipPlan
    noun = "membership plan"

    async def names(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
        """Plan names by id, for explanations that name plans (not their ids)."""
        stmt = select(MembershipPlan.id, MembershipPlan.name).where(
            MembershipPlan.merchant_id == self.merchant_id, MembershipPlan.id.in_(set(ids))
        )
        return {row[0]: row[1] for row in await self.session.execute(stmt)}


class Entries(TenantRepository[PointsEntry]):
    model = PointsEntry
    noun = "points entry"

    async def by_key(self, key: str) -> PointsEntry | None:
        entry: PointsEntry | None = await self.session.scalar(
            self.select().where(PointsEntry.idempotency_key == key)
        )
        return entry

    def of_member(self, member_id: uuid.UUID) -> Select[Any]:
        return self.select().where(PointsEntry.member_id == member_id)


class Subscriptions(TenantRepository[PlanSubscription]):
    model = PlanSubscription
    noun = "plan subscription"

    async def active_of(self, member_id: uuid.UUID) -> list[PlanSubscription]:
        stmt = self.select().where(
            PlanSubscription.member_id == member_id, PlanSubscription.status == "active"
        )
        return list((await self.session.scalars(stmt.order_by(PlanSubscription.ends_at))).all())


class Accounts:
    """Membership accounts. Locking a member's account is how membership work on that member is
    serialised: every path locks it before touching points, lots, level or plans."""

    def __init__(self, session: AsyncSession, merchant_id: uuid.UUID) -> None:
        self.session = session
        self.merchant_id = merchant_id

    def select(self) -> Select[Any]:
        return select(MembershipAccount).where(MembershipAccount.merchant_id == self.merchant_id)

    async def get(self, member_id: uuid.UUID) -> MembershipAccount | None:
        account: MembershipAccount | None = await self.session.scalar(
            self.select().where(MembershipAccount.member_id == member_id)
        )
        return account

    async def lock(self, member_id: uuid.UUID) -> MembershipAccount:
        """The member's account, created if missing, locked until the transaction ends. Locked
        once per transaction: asking again gives the same row without another round trip (the
        lock is held, so nobody else changed it; bulk writes call ``forget_locks``). Rank ACCOUNT
        of ``kit.locks``: after the order and its products, before coupons."""
        locks.acquire(self.session, locks.Rank.ACCOUNT, [member_id])
        locked: set[uuid.UUID] = self.session.info.setdefault(_LOCKED, set())
        if member_id in locked:
            held = await self.session.get(MembershipAccount, member_id)
            if held is not None:
                return held
        values = {"merchant_id": self.merchant_id, "member_id": member_id, "balance": 0}
        upsert = postgresql.insert if _dialect(self.session) == "postgresql" else sqlite.insert
        await self.session.execute(
            upsert(MembershipAccount).values(**values).on_conflict_do_nothing()
        )
        stmt = (
            self.select()
            .where(MembershipAccount.member_id == member_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        account: MembershipAccount = (await self.session.scalars(stmt)).one()
        locked.add(member_id)
        return account

    async def allow_bulk_aggregation(self) -> None:
        """Give this transaction the memory to hash-aggregate a whole merchant's entries: with
        PostgreSQL's default 4 MB the planner walks an index in member order instead, about
        three times slower on a million entries."""
        if _dialect(self.session) == "postgresql":
            await self.session.execute(text("SET LOCAL work_mem = '64MB'"))

    async def finish_review(
        self,
        rows: Sequence[tuple[uuid.UUID, uuid.UUID | None, datetime | None]],
        next_review: datetime,
    ) -> None:
        """Write the outcome of a review for many (locked) accounts: each row's level and level
        start, and the end of the next period for all. One statement on PostgreSQL, which joins
        against arrays; an executemany on SQLite."""
        forget_locks(self.session)
        if _dialect(self.session) == "postgresql":
            await self.session.execute(
                text(
                    "UPDATE membership_accounts AS a"
                    " SET level_id = v.level_id, level_since = v.since, review_at = :next"
                    " FROM unnest(CAST(:members AS uuid[]), CAST(:levels AS uuid[]),"
                    " CAST(:since AS timestamptz[])) AS v(member_id, level_id, since)"
                    " WHERE a.member_id = v.member_id AND a.merchant_id = :merchant"
                ),
                {
                    "members": [m for m, _, _ in rows],
                    "levels": [lvl for _, lvl, _ in rows],
                    "since": [since for _, _, since in rows],
                    "next": next_review,
                    "merchant": self.merchant_id,
                },
            )
            return
        table = cast(Table, MembershipAccount.__table__)
        await self.session.execute(
            update(table)
            .where(table.c.merchant_id == self.merchant_id, table.c.member_id == bindparam("m"))
            .values(level_id=bindparam("l"), level_since=bindparam("s"), review_at=next_review),
            [{"m": m, "l": lvl, "s": since} for m, lvl, since in rows],
        )

    async def move_purchases_and_plans(self, source_id: uuid.UUID, target_id: uuid.UUID) -> None:
        """Re-point what one member bought (counted toward levels) and their plans to another;
        used when two members turn out to be one person. Ledger entries never move."""
        for model in (MemberPurchase, PlanSubscription, PlanPurchase):
            await self.session.execute(
                update(model)
                .where(model.merchant_id == self.merchant_id, model.member_id == source_id)
                .values(member_id=target_id)
                .execution_options(synchronize_session=False)
            )

    async def lots_of(
        self,
        member_id: uuid.UUID,
        *,
        only_ids: Sequence[uuid.UUID] | None = None,
        due_by: datetime | None = None,
    ) -> list[PointsLot]:
        """The member's lots with points left (``due_by``: only those expiring by then), in
        spending order: soonest expiry first, lots that never expire last, then oldest first.
        Callers hold the account lock."""
        stmt = select(PointsLot).where(
            PointsLot.merchant_id == self.merchant_id,
            PointsLot.member_id == member_id,
        )
        if due_by is not None:
            stmt = stmt.where(PointsLot.expires_at <= due_by)
        if only_ids is not None:
            stmt = stmt.where(PointsLot.entry_id.in_(only_ids))
        else:
            stmt = stmt.where(PointsLot.remaining > 0)
        stmt = stmt.order_by(
            PointsLot.expires_at.is_(None), PointsLot.expires_at, PointsLot.entry_id
        ).execution_options(populate_existing=True)
        return list((await self.session.scalars(stmt)).all())


_LOCKED = "tribekit.locked_accounts"
LADDERS = "tribekit.ladders"  # the levels of a merchant, as the level engine reads them


def forget_ladder(session: AsyncSession) -> None:
    """After a level changed, the level engine reads the levels again."""
    session.info.pop(LADDERS, None)


def forget_locks(session: AsyncSession) -> None:
    """After a bulk write to accounts, the next ``lock`` reads each row again."""
    session.info.pop(_LOCKED, None)


_DEFAULTS = "tribekit.membership_defaults"


async def settings_of(session: AsyncSession, merchant_id: uuid.UUID) -> MembershipSettings:
    """The merchant's membership settings; the defaults when none were saved (not added)."""
    if merchant_id in session.info.get(_DEFAULTS, {}):
        return membership_defaults(session, merchant_id)
    saved = await session.get(MembershipSettings, merchant_id)
    return saved if saved is not None else membership_defaults(session, merchant_id)


def membership_defaults(session: AsyncSession, merchant_id: uuid.UUID) -> MembershipSettings:
    """The defaults of a merchant that saved no settings, kept for the rest of the transaction
    so that asking again costs no query."""
    defaults: dict[uuid.UUID, MembershipSettings] = session.info.setdefault(_DEFAULTS, {})
    if merchant_id not in defaults:
        defaults[merchant_id] = MembershipSettings(
            merchant_id=merchant_id,
            points_per_unit=1,
            points_rounding="floor",
            points_expiry_months=12,
            review_period="rolling",
            review_months=12,
            downgrade="one_step",
            renewal_reminder_days=7,
        )
    return defaults[merchant_id]


async def record_level_changes(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert many level-change rows; on PostgreSQL as one INSERT ... SELECT FROM unnest."""
    if _dialect(session) != "postgresql":
        await session.execute(insert(LevelChange), rows)
        return
    columns = ["id", "merchant_id", "member_id", "from_level_id", "to_level_id", "reason"]
    columns += ["detail", "actor", "at"]
    types = ["uuid", "uuid", "uuid", "uuid", "uuid", "text", "text", "text", "timestamptz"]
    arrays = ", ".join(f"CAST(:{c} AS {t}[])" for c, t in zip(columns, types, strict=True))
    await session.execute(
        text(f"INSERT INTO level_changes ({', '.join(columns)}) SELECT * FROM unnest({arrays})"),  # noqa: S608  # fixed column names
        {c: [row[c] for row in rows] for c in columns},
    )


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def saved_settings(session: AsyncSession, merchant_id: uuid.UUID) -> MembershipSettings:
    """The merchant's settings row, created with the defaults when none was saved yet."""
    if (saved := await session.get(MembershipSettings, merchant_id)) is not None:
        return saved
    settings = await settings_of(session, merchant_id)
    session.add(settings)
    return settings


def level_changes(merchant_id: uuid.UUID, member_id: uuid.UUID) -> Select[Any]:
    return select(LevelChange).where(
        LevelChange.merchant_id == merchant_id, LevelChange.member_id == member_id
    )
