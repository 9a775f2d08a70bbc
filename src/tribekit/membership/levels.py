"""Levels: who qualifies for what, upgrades at once, downgrades only when a period ends.

A member without a membership account, or whose account names no level, is at the base level
(the lowest rank). Facts for rules come from two append-only sources: points entries (points
earned) and member purchases (amount spent, number of orders), aggregated in one ``GROUP BY``
each, for one member or for a whole merchant at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock
from tribekit.kit.ids import new_id
from tribekit.models.membership import (
    Level,
    LevelChange,
    MemberPurchase,
    MembershipAccount,
    MembershipSettings,
    PlanSubscription,
    PointsEntry,
)
from tribekit.tenancy.principal import Tenant

from .ledger import QUALIFYING_SOURCES, EntryKind, PointsLedger, Source
from .repository import Accounts, Levels, settings_of
from .rules import Facts, Rule, Window, explain, holds, needed_metrics, parse_rule


@dataclass(frozen=True)
class Ladder:
    """The merchant's levels, lowest rank first, with their parsed rules."""

    levels: list[Level]
    rules: dict[uuid.UUID, Rule | None]

    @property
    def base(self) -> Level | None:
        return self.levels[0] if self.levels else None

    def by_id(self, level_id: uuid.UUID | None) -> Level | None:
        if level_id is None:
            return self.base
        return next((lvl for lvl in self.levels if lvl.id == level_id), self.base)

    def qualified(self, facts: Facts) -> Level | None:
        """The highest level whose rule holds; the base level holds for everyone."""
        for level in reversed(self.levels[1:]):
            if holds(self.rules[level.id], facts):
                return level
        return self.base

    def below(self, level: Level) -> Level | None:
        lower = [lvl for lvl in self.levels if lvl.rank < level.rank]
        return lower[-1] if lower else None

    def between(self, low: Level | None, high: Level) -> list[Level]:
        """Levels passed going from ``low`` up to ``high`` (``high`` included)."""
        floor = low.rank if low is not None else -(2**31)
        return [lvl for lvl in self.levels if floor < lvl.rank <= high.rank]

    def why(self, level: Level | None, facts: Facts) -> str:
        if level is None:
            return "the merchant has no levels"
        if level is self.base:
            return "the base level: every member starts here"
        return explain(self.rules[level.id], facts)


def _rank(level: Level | None) -> int:
    return level.rank if level is not None else -(2**31)


def period_end(now: datetime, settings: MembershipSettings, timezone: str) -> datetime:
    """When a level reached or kept ``now`` is next reviewed."""
    if settings.review_period == "calendar_year":
        local = now.astimezone(ZoneInfo(timezone))
        start = datetime.combine(local.date().replace(month=1, day=1), time(), local.tzinfo)
        return clock.add_months(start, 12)
    return clock.add_months(now, settings.review_months)


@dataclass(frozen=True)
class ReviewResult:
    reviewed: int
    changed: int


class LevelEngine:
    def __init__(self, session: AsyncSession, tenant: Tenant) -> None:
        self.session = session
        self.tenant = tenant
        self.accounts = Accounts(session, tenant.id)

    async def ladder(self) -> Ladder:
        levels = await Levels(self.session, self.tenant.id).ranked()
        return Ladder(levels, {lvl.id: parse_rule(lvl.rule) for lvl in levels})

    async def facts(
        self, ladder: Ladder, member_ids: Sequence[uuid.UUID] | None, now: datetime
    ) -> dict[uuid.UUID, Facts]:
        """Facts for ``member_ids`` (every member of the merchant when None)."""
        needed = needed_metrics(ladder.rules.values())
        facts: dict[uuid.UUID, Facts] = {}

        def fact(member_id: uuid.UUID) -> Facts:
            if member_id not in facts:
                facts[member_id] = Facts(currency=self.tenant.currency)
            return facts[member_id]

        def windowed(at: Any, value: Any, window: Window) -> ColumnElement[Any]:
            start = window.start(now, self.tenant.timezone)
            summed = value if start is None else case((at >= start, value), else_=0)
            return func.coalesce(func.sum(summed), 0)

        points = [(k, w) for k, w in needed.items() if k[0] == "points_earned"]
        if points:
            stmt = (
                select(
                    PointsEntry.member_id,
                    *(windowed(PointsEntry.at, PointsEntry.points, w) for _, w in points),
                )
                .where(
                    PointsEntry.merchant_id == self.tenant.id,
                    PointsEntry.source.in_(QUALIFYING_SOURCES),
                    or_(
                        PointsEntry.kind == EntryKind.EARN,
                        and_(PointsEntry.kind == EntryKind.REVERSE, PointsEntry.points < 0),
                    ),
                )
                .group_by(PointsEntry.member_id)
            )
            if member_ids is not None:
                stmt = stmt.where(PointsEntry.member_id.in_(member_ids))
            for member_id, *values in (await self.session.execute(stmt)).all():
                target = fact(member_id).values
                for (key, _), value in zip(points, values, strict=True):
                    target[key] = int(value)

        spend = [(k, w) for k, w in needed.items() if k[0] != "points_earned"]
        if spend:
            columns = {"amount_spent": MemberPurchase.amount, "order_count": MemberPurchase.orders}
            stmt = (
                select(
                    MemberPurchase.member_id,
                    *(windowed(MemberPurchase.at, columns[k[0]], w) for k, w in spend),
                )
                .where(MemberPurchase.merchant_id == self.tenant.id)
                .group_by(MemberPurchase.member_id)
            )
            if member_ids is not None:
                stmt = stmt.where(MemberPurchase.member_id.in_(member_ids))
            for member_id, *values in (await self.session.execute(stmt)).all():
                target = fact(member_id).values
                for (key, _), value in zip(spend, values, strict=True):
                    target[key] = int(value)

        plans = select(PlanSubscription.member_id, PlanSubscription.plan_id).where(
            PlanSubscription.merchant_id == self.tenant.id,
            PlanSubscription.status == "active",
            PlanSubscription.ends_at > now,
        )
        if member_ids is not None:
            plans = plans.where(PlanSubscription.member_id.in_(member_ids))
        held: dict[uuid.UUID, set[uuid.UUID]] = {}
        for member_id, plan_id in (await self.session.execute(plans)).all():
            held.setdefault(member_id, set()).add(plan_id)
        for member_id, plan_ids in held.items():
            fact(member_id).plans = frozenset(plan_ids)

        for member_id in member_ids or ():
            fact(member_id)
        return facts

    async def standing(self, member_id: uuid.UUID) -> tuple[Ladder, Level | None, Facts]:
        """The member's current level and facts, without locking anything (for reading)."""
        ladder = await self.ladder()
        account = await self.accounts.get(member_id)
        facts = (await self.facts(ladder, [member_id], clock.now()))[member_id]
        return ladder, ladder.by_id(account.level_id if account else None), facts

    async def upgrade(
        self, member_id: uuid.UUID, *, reason: str = "qualified", actor: str | None = None
    ) -> LevelChange | None:
        """Raise the member to the highest level they qualify for now, if that is higher,
        granting each passed level's entry reward once. Never lowers a level."""
        account = await self.accounts.lock(member_id)
        ladder = await self.ladder()
        now = clock.now()
        facts = (await self.facts(ladder, [member_id], now))[member_id]
        current, target = ladder.by_id(account.level_id), ladder.qualified(facts)
        if target is None or _rank(target) <= _rank(current):
            return None
        change = await self._move(account, ladder, target, reason, ladder.why(target, facts), now)
        change.actor = actor
        await self._grant_entry_rewards(member_id, ladder.between(current, target))
        return change

    async def settle(self, member_id: uuid.UUID, *, reason: str) -> LevelChange | None:
        """Put the member at exactly the level their activity qualifies for now (after a paid
        plan ends, the level it granted is not kept until the period ends)."""
        account = await self.accounts.lock(member_id)
        ladder = await self.ladder()
        now = clock.now()
        facts = (await self.facts(ladder, [member_id], now))[member_id]
        current, target = ladder.by_id(account.level_id), ladder.qualified(facts)
        if target is None or target is current:
            return None
        change = await self._move(account, ladder, target, reason, ladder.why(target, facts), now)
        if _rank(target) > _rank(current):
            await self._grant_entry_rewards(member_id, ladder.between(current, target))
        return change

    async def assign(
        self,
        member_id: uuid.UUID,
        level: Level,
        *,
        reason: str,
        actor: str,
        hold_until: datetime | None,
    ) -> LevelChange | None:
        """Staff put the member at ``level``; it holds until ``hold_until`` (default: the end of
        a new evaluation period), then the rules apply again."""
        account = await self.accounts.lock(member_id)
        ladder = await self.ladder()
        now = clock.now()
        settings = await settings_of(self.session, self.tenant.id)
        if ladder.by_id(account.level_id) is level:
            account.review_at = hold_until or period_end(now, settings, self.tenant.timezone)
            return None
        change = await self._move(account, ladder, level, "manual", reason, now)
        change.actor = actor
        if hold_until is not None:
            account.review_at = hold_until
        return change

    async def _move(
        self,
        account: MembershipAccount,
        ladder: Ladder,
        target: Level,
        reason: str,
        detail: str,
        now: datetime,
    ) -> LevelChange:
        settings = await settings_of(self.session, self.tenant.id)
        current = ladder.by_id(account.level_id)
        account.level_id = target.id
        account.level_since = now
        account.review_at = period_end(now, settings, self.tenant.timezone)
        change = LevelChange(
            merchant_id=self.tenant.id,
            member_id=account.member_id,
            from_level_id=current.id if current else None,
            to_level_id=target.id,
            reason=reason,
            detail=detail,
            at=now,
        )
        self.session.add(change)
        await self.session.flush()
        return change

    async def _grant_entry_rewards(self, member_id: uuid.UUID, passed: list[Level]) -> None:
        ledger = PointsLedger(self.session, self.tenant)
        for level in passed:
            if level.entry_reward_points > 0:
                # Keyed by member and level: a level's entry reward is granted once, ever.
                await ledger.earn(
                    member_id,
                    level.entry_reward_points,
                    source=Source.LEVEL_REWARD,
                    key=f"level-reward:{member_id}:{level.id}",
                    reason=f"reached {level.name}",
                )

    async def review_due(self, *, limit: int | None = None) -> ReviewResult:
        """Review every account whose evaluation period has ended (at most ``limit``).

        One UPDATE claims the due accounts (locking them) and starts their next period; one
        aggregate query per fact source gives every member's facts; level changes are then
        written in bulk. A member below their level drops one level, or straight to the
        qualified level (merchant setting); a member above it goes up (with entry rewards)."""
        now = clock.now()
        settings = await settings_of(self.session, self.tenant.id)
        next_review = period_end(now, settings, self.tenant.timezone)
        due = select(MembershipAccount.member_id).where(
            MembershipAccount.merchant_id == self.tenant.id, MembershipAccount.review_at <= now
        )
        if limit is not None:
            due = due.order_by(MembershipAccount.member_id).limit(limit)
            due = due.with_for_update(skip_locked=True)
        claim = (
            update(MembershipAccount)
            .where(MembershipAccount.member_id.in_(due.scalar_subquery()))
            .values(review_at=next_review)
            .returning(MembershipAccount.member_id, MembershipAccount.level_id)
            .execution_options(synchronize_session=False)
        )
        claimed = (await self.session.execute(claim)).all()
        if not claimed:
            return ReviewResult(0, 0)
        ladder = await self.ladder()
        ids = None if limit is None else [member_id for member_id, _ in claimed]
        facts = await self.facts(ladder, ids, now)
        moves: list[dict[str, Any]] = []
        changes: list[dict[str, Any]] = []
        upgrades: list[tuple[uuid.UUID, Level | None, Level]] = []
        empty = Facts(currency=self.tenant.currency)
        for member_id, level_id in claimed:
            member_facts = facts.get(member_id, empty)
            current, qualified = ladder.by_id(level_id), ladder.qualified(member_facts)
            if qualified is None or current is None or qualified is current:
                continue
            why = ladder.why(current, member_facts)
            detail = f"evaluation period ended: {current.name} not kept: {why}"
            if qualified.rank > current.rank:
                target, reason = qualified, "qualified"
                detail = f"evaluation period ended: {ladder.why(qualified, member_facts)}"
                upgrades.append((member_id, current, target))
            elif settings.downgrade == "to_qualified":
                target, reason = qualified, "review"
            else:
                target, reason = ladder.below(current) or qualified, "review"
            moves.append({"member_id": member_id, "level_id": target.id, "level_since": now})
            changes.append(
                {
                    "id": new_id(),
                    "merchant_id": self.tenant.id,
                    "member_id": member_id,
                    "from_level_id": current.id,
                    "to_level_id": target.id,
                    "reason": reason,
                    "detail": detail,
                    "actor": None,
                    "at": now,
                }
            )
        if moves:
            await self.session.execute(
                update(MembershipAccount).execution_options(synchronize_session=False), moves
            )
            await self.session.execute(insert(LevelChange), changes)
        for member_id, current, target in upgrades:
            await self._grant_entry_rewards(member_id, ladder.between(current, target))
        return ReviewResult(len(claimed), len(moves))
