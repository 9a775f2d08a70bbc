"""The level review as one PostgreSQL statement: aggregate the facts of the locked accounts,
decide every level with the rules compiled to SQL, write each account's next period and new
level, and hand back only the members whose level changed (with their facts, to explain why).

It decides exactly as ``Ladder.qualified`` and ``LevelEngine.review_due`` do in Python (the path
SQLite takes); the level tests and the ledger state machine run both.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    any_,
    bindparam,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from tribekit.models.membership import (
    MemberPurchase,
    MembershipAccount,
    PlanSubscription,
    PointsEntry,
)

from .ledger import QUALIFYING_SOURCES, EntryKind
from .rules import AllOf, AnyOf, Facts, PlanCondition, Rule, Window, conditions, needed_metrics

#: Stands for "some plan" in the facts of a member who holds a plan a rule names without an id.
SOME_PLAN = uuid.UUID(int=0)
A = MembershipAccount


@dataclass(frozen=True)
class Moved:
    member_id: uuid.UUID
    from_level_id: uuid.UUID | None
    to_level_id: uuid.UUID
    facts: Facts


@dataclass(frozen=True)
class ReviewQuery:
    statement: Select[Any]
    read: Callable[[Any], Moved]


def review_query(
    *,
    merchant_id: uuid.UUID,
    ladder: Any,  # levels.Ladder; typed loosely to keep this module free of the engine
    member_ids: Sequence[uuid.UUID],
    to_qualified: bool,
    now: datetime,
    next_review: datetime,
    timezone: str,
    currency: str,
) -> ReviewQuery:
    due = bindparam("due_ids", value=list(member_ids), type_=ARRAY(UUID(as_uuid=True)))
    needed = needed_metrics(ladder.rules.values())
    facts: dict[tuple[str, str], ColumnElement[Any]] = {}
    labels: list[tuple[tuple[str, str], str]] = []
    joins: list[tuple[Any, Any]] = []

    def aggregate(model: Any, value_of: dict[str, Any], extra: list[Any], name: str) -> None:
        wanted = [(k, w) for k, w in needed.items() if k[0] in value_of]
        if not wanted:
            return
        columns = [
            windowed_sum(model.at, value_of[key[0]], window, now, timezone).label(f"{name}{i}")
            for i, (key, window) in enumerate(wanted)
        ]
        sub = (
            select(model.member_id, *columns)
            .where(model.merchant_id == merchant_id, model.member_id == any_(due), *extra)
            .group_by(model.member_id)
            .subquery(name)
        )
        joins.append((sub, sub.c.member_id == A.member_id))
        for i, (key, _) in enumerate(wanted):
            facts[key] = func.coalesce(sub.c[f"{name}{i}"], 0)
            labels.append((key, f"{name}{i}"))

    aggregate(
        PointsEntry,
        {"points_earned": PointsEntry.points},
        [
            PointsEntry.source.in_(QUALIFYING_SOURCES),
            or_(
                PointsEntry.kind == EntryKind.EARN,
                and_(PointsEntry.kind == EntryKind.REVERSE, PointsEntry.points < 0),
            ),
        ],
        "points",
    )
    aggregate(
        MemberPurchase,
        {"amount_spent": MemberPurchase.amount, "order_count": MemberPurchase.orders},
        [],
        "spend",
    )

    plan_ids: list[uuid.UUID | None] = []
    for rule in ladder.rules.values():
        for cond in conditions(rule):
            if isinstance(cond, PlanCondition) and cond.plan_id not in plan_ids:
                plan_ids.append(cond.plan_id)

    def held(plan_id: uuid.UUID | None) -> ColumnElement[bool]:
        return exists().where(
            PlanSubscription.merchant_id == merchant_id,
            PlanSubscription.member_id == A.member_id,
            PlanSubscription.status == "active",
            PlanSubscription.ends_at > now,
            PlanSubscription.plan_id == plan_id if plan_id else true(),
        )

    def compiled(rule: Rule | None) -> ColumnElement[bool]:
        if rule is None:
            return true()
        if isinstance(rule, AllOf):
            return and_(*(compiled(r) for r in rule.all))
        if isinstance(rule, AnyOf):
            return or_(*(compiled(r) for r in rule.any))
        if isinstance(rule, PlanCondition):
            return held(rule.plan_id)
        return facts[(rule.metric, rule.window.key)] >= rule.at_least

    levels = ladder.levels
    base = levels[0].rank
    qualified = case(
        *(
            (compiled(ladder.rules[lvl.id]), lvl.rank)
            for lvl in reversed(levels[1:])
            if ladder.rules[lvl.id] is not None
        ),
        else_=base,
    )
    current = case({lvl.id: lvl.rank for lvl in levels}, value=A.level_id, else_=base)
    source: Any = A.__table__
    for sub, on in joins:
        source = source.outerjoin(sub, on)
    # Materialised, so that every rule is evaluated once per member, not once per use.
    ranked = (
        select(
            A.member_id.label("member_id"),
            A.level_id.label("old_level"),
            current.label("old_rank"),
            qualified.label("qualified_rank"),
            *(facts[key].label(label) for key, label in labels),
            *(held(pid).label(f"plan{i}") for i, pid in enumerate(plan_ids)),
        )
        .select_from(source)
        .where(A.merchant_id == merchant_id, A.member_id == any_(due))
        .cte("ranked")
        .prefix_with("MATERIALIZED")
    )
    old, best = ranked.c.old_rank, ranked.c.qualified_rank
    one_down = case(
        {high.rank: low.rank for low, high in itertools.pairwise(levels)}, value=old, else_=base
    )
    target = case((best > old, best), (best < old, best if to_qualified else one_down), else_=old)
    level_of_rank = {lvl.rank: literal(lvl.id, UUID(as_uuid=True)) for lvl in levels}
    d = select(
        *ranked.c,
        target.label("new_rank"),
        case(level_of_rank, value=target).label("new_level"),
    ).subquery("decided")

    changed = d.c.new_rank != d.c.old_rank
    written = (
        update(A)
        .where(A.member_id == d.c.member_id)
        .values(
            review_at=next_review,
            updated_at=now,
            level_id=case((changed, d.c.new_level), else_=A.level_id),
            level_since=case((changed, now), else_=A.level_since),
        )
        .returning(*d.c)
        .cte("written")
    )
    statement = select(written).where(written.c.new_rank != written.c.old_rank)

    def read(row: Any) -> Moved:
        plans = {pid or SOME_PLAN for i, pid in enumerate(plan_ids) if row[f"plan{i}"]}
        values = {key: int(row[label]) for key, label in labels}
        member_facts = Facts(values, frozenset(plans), currency, ladder.plan_names)
        return Moved(row["member_id"], row["old_level"], row["new_level"], member_facts)

    return ReviewQuery(statement, read)


def windowed_sum(
    at: Any, value: Any, window: Window, now: datetime, timezone: str
) -> ColumnElement[Any]:
    """The sum of ``value`` over the rows at or after the window's start."""
    start = window.start(now, timezone)
    return func.sum(value if start is None else case((at >= start, value), else_=0))
