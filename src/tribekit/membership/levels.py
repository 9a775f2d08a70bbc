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

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
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
from .repository import (
    LADDERS,
    Accounts,
    Levels,
    Plans,
    forget_locks,
    record_level_changes,
    settings_of,
)
from .review_sql import Moved, review_query, windowed_sum
from .rules import (
    Facts,
    PlanCondition,
    Rule,
    Window,
    compile_rule,
    conditions,
    explain,
    needed_metrics,
    parse_rule,
)


class Ladder:
    """The merchant's levels, lowest rank first, with their parsed rules."""

    def __init__(self, levels: list[Level], plan_names: dict[uuid.UUID, str] | None = None) -> None:
        self.levels = levels
        self.rules: dict[uuid.UUID, Rule | None] = {lvl.id: parse_rule(lvl.rule) for lvl in levels}
        self.plan_names = plan_names or {}  # of the plans the rules name, for explanations
        self._by_id = {lvl.id: lvl for lvl in levels}
        # Highest first. The base level holds for everyone; a level without a rule is reached by
        # hand or through a plan only, never by activity.
        self._checks = [
            (lvl, compile_rule(self.rules[lvl.id]))
            for lvl in reversed(levels[1:])
            if self.rules[lvl.id] is not None
        ]

    @property
    def base(self) -> Level | None:
        return self.levels[0] if self.levels else None

    def by_id(self, level_id: uuid.UUID | None) -> Level | None:
        if level_id is None:
            return self.base
        return self._by_id.get(level_id, self.base)

    def qualified(self, facts: Facts) -> Level | None:
        """The highest level whose rule holds; the base level holds for everyone."""
        for level, check in self._checks:
            if check(facts):
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


#: Past this many members a review aggregates the whole merchant's entries at once.
BULK_READ_THRESHOLD = 10_000


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
        """The merchant's levels, read once per transaction (changing a level forgets them)."""
        ladders: dict[uuid.UUID, Ladder] = self.session.info.setdefault(LADDERS, {})
        if self.tenant.id not in ladders:
            ladder = Ladder(await Levels(self.session, self.tenant.id).ranked())
            named = {
                cond.plan_id
                for rule in ladder.rules.values()
                for cond in conditions(rule)
                if isinstance(cond, PlanCondition) and cond.plan_id is not None
            }
            if named:
                ladder.plan_names = await Plans(self.session, self.tenant.id).names(named)
            ladders[self.tenant.id] = ladder
        return ladders[self.tenant.id]

    async def facts(
        self, ladder: Ladder, member_ids: Sequence[uuid.UUID] | None, now: datetime
    ) -> dict[uuid.UUID, Facts]:
        """Facts for ``member_ids`` (every member of the merchant when None)."""
        needed = needed_metrics(ladder.rules.values())
        currency, names = self.tenant.currency, ladder.plan_names
        facts: dict[uuid.UUID, Facts] = {}

        def windowed(at: Any, value: Any, window: Window) -> ColumnElement[Any]:
            return func.coalesce(windowed_sum(at, value, window, now, self.tenant.timezone), 0)

        async def gather(stmt: Select[Any], member_id: Any, keys: list[tuple[str, str]]) -> None:
            stmt = stmt.group_by(member_id)
            if member_ids is not None:
                stmt = stmt.where(member_id.in_(member_ids))
            for member, *values in (await self.session.execute(stmt)).all():
                known = facts.get(member)
                if known is None:
                    facts[member] = Facts(
                        dict(zip(keys, values, strict=True)), currency=currency, plan_names=names
                    )
                else:
                    known.values.update(zip(keys, values, strict=True))

        points = [(k, w) for k, w in needed.items() if k[0] == "points_earned"]
        if points:
            stmt = select(
                PointsEntry.member_id,
                *(windowed(PointsEntry.at, PointsEntry.points, w) for _, w in points),
            ).where(
                PointsEntry.merchant_id == self.tenant.id,
                PointsEntry.source.in_(QUALIFYING_SOURCES),
                or_(
                    PointsEntry.kind == EntryKind.EARN,
                    and_(PointsEntry.kind == EntryKind.REVERSE, PointsEntry.points < 0),
                ),
            )
            await gather(stmt, PointsEntry.member_id, [k for k, _ in points])

        spend = [(k, w) for k, w in needed.items() if k[0] != "points_earned"]
        if spend:
            columns = {"amount_spent": MemberPurchase.amount, "order_count": MemberPurchase.orders}
            stmt = select(
                MemberPurchase.member_id,
                *(windowed(MemberPurchase.at, columns[k[0]], w) for k, w in spend),
            ).where(MemberPurchase.merchant_id == self.tenant.id)
            await gather(stmt, MemberPurchase.member_id, [k for k, _ in spend])

        def fact(member_id: uuid.UUID) -> Facts:
            if member_id not in facts:
                facts[member_id] = Facts(currency=currency, plan_names=names)
            return facts[member_id]

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

        The due accounts are locked (rows another transaction holds are skipped: they stay due
        for the next run), one aggregate query per fact source gives every member's facts, and
        one bulk UPDATE starts every reviewed member's next period with their new level. A
        member below their level drops one level, or straight to the qualified level (merchant
        setting); a member above it goes up, with entry rewards."""
        now = clock.now()
        settings = await settings_of(self.session, self.tenant.id)
        next_review = period_end(now, settings, self.tenant.timezone)
        due = (
            select(
                MembershipAccount.member_id,
                MembershipAccount.level_id,
                MembershipAccount.level_since,
            )
            .where(
                MembershipAccount.merchant_id == self.tenant.id,
                MembershipAccount.review_at <= now,
            )
            .order_by(MembershipAccount.member_id)
            .with_for_update(skip_locked=True)
        )
        claimed = (await self.session.execute(due if limit is None else due.limit(limit))).all()
        if not claimed:
            return ReviewResult(0, 0)
        if len(claimed) > BULK_READ_THRESHOLD:
            await self.accounts.allow_bulk_aggregation()
        ladder = await self.ladder()
        if not ladder.levels:
            await self.accounts.finish_review(claimed, next_review)
            return ReviewResult(len(claimed), 0)
        if self.session.get_bind().dialect.name == "postgresql":
            query = review_query(
                merchant_id=self.tenant.id,
                ladder=ladder,
                member_ids=[member_id for member_id, _, _ in claimed],
                to_qualified=settings.downgrade == "to_qualified",
                now=now,
                next_review=next_review,
                timezone=self.tenant.timezone,
                currency=self.tenant.currency,
            )
            rows = (await self.session.execute(query.statement)).mappings().all()
            forget_locks(self.session)  # the statement rewrote the accounts it reviewed
            moved = [query.read(row) for row in rows]
        else:
            moved = await self._decide(ladder, claimed, settings, now, next_review)
        changes: list[dict[str, Any]] = []
        upgrades: list[tuple[uuid.UUID, Level | None, Level]] = []
        for move in moved:
            current, target = ladder.by_id(move.from_level_id), ladder.by_id(move.to_level_id)
            assert current is not None
            assert target is not None
            if target.rank > current.rank:
                reason = "qualified"
                detail = f"evaluation period ended: {ladder.why(target, move.facts)}"
                upgrades.append((move.member_id, current, target))
            else:
                reason = "review"
                why = ladder.why(current, move.facts)
                detail = f"evaluation period ended: {current.name} not kept: {why}"
            changes.append(
                {
                    "id": new_id(),
                    "merchant_id": self.tenant.id,
                    "member_id": move.member_id,
                    "from_level_id": current.id,
                    "to_level_id": target.id,
                    "reason": reason,
                    "detail": detail,
                    "actor": None,
                    "at": now,
                }
            )
        if changes:
            await record_level_changes(self.session, changes)
        for member_id, current, target in upgrades:
            await self._grant_entry_rewards(member_id, ladder.between(current, target))
        return ReviewResult(len(claimed), len(changes))

    async def _decide(
        self,
        ladder: Ladder,
        claimed: Sequence[Any],
        settings: MembershipSettings,
        now: datetime,
        next_review: datetime,
    ) -> list[Moved]:
        """The review's decisions in Python (SQLite); ``review_sql`` makes the same ones in SQL."""
        facts = await self.facts(ladder, [member_id for member_id, _, _ in claimed], now)
        empty = Facts(currency=self.tenant.currency, plan_names=ladder.plan_names)
        written: list[tuple[uuid.UUID, uuid.UUID | None, datetime | None]] = []
        moved: list[Moved] = []
        for member_id, level_id, since in claimed:
            member_facts = facts.get(member_id, empty)
            current, qualified = ladder.by_id(level_id), ladder.qualified(member_facts)
            assert current is not None
            assert qualified is not None
            if qualified.rank >= current.rank or settings.downgrade == "to_qualified":
                target = qualified
            else:
                target = ladder.below(current) or qualified
            if target.rank == current.rank:
                written.append((member_id, level_id, since))
                continue
            written.append((member_id, target.id, now))
            moved.append(Moved(member_id, level_id, target.id, member_facts))
        await self.accounts.finish_review(written, next_review)
        return moved
