"""Level qualification rules. Pure: no I/O, no clock of its own.

A rule is a small tree: a condition on one metric over one window, a paid-plan condition, or
``all`` / ``any`` of sub-rules. The evaluator receives the member's facts (one number per
(metric, window) the rules mention, plus the plans the member holds) and answers whether the rule
holds, and why, in words a person can read.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo

from pydantic import BeforeValidator, Discriminator, Field, Tag, TypeAdapter, model_validator

from tribekit.kit import clock
from tribekit.kit.money import Money
from tribekit.kit.schemas import Input

# Points arithmetic lives in the pure pricing engine; re-exported for the membership domain.
from tribekit.pricing import PointsRounding as PointsRounding
from tribekit.pricing import points_for_amount as points_for_amount

Metric = Literal["points_earned", "amount_spent", "order_count"]
MAX_RULE_DEPTH = 4


class Window(Input):
    """Which activity counts: all of it, this calendar year (merchant's time zone), or the last
    ``months`` months."""

    kind: Literal["lifetime", "calendar_year", "rolling_months"] = "lifetime"
    months: int | None = Field(default=None, ge=1, le=120)

    @model_validator(mode="after")
    def _months_iff_rolling(self) -> Window:
        if (self.kind == "rolling_months") != (self.months is not None):
            raise ValueError("give months exactly when kind is rolling_months")
        return self

    @property
    def key(self) -> str:
        return f"rolling_{self.months}" if self.kind == "rolling_months" else self.kind

    def start(self, now: datetime, timezone: str) -> datetime | None:
        """The first instant that counts, or None for lifetime."""
        if self.kind == "lifetime":
            return None
        if self.kind == "calendar_year":
            local = now.astimezone(ZoneInfo(timezone))
            return datetime.combine(local.date().replace(month=1, day=1), time(), local.tzinfo)
        assert self.months is not None
        return clock.add_months(now, -self.months)

    def describe(self) -> str:
        if self.kind == "lifetime":
            return "in total"
        if self.kind == "calendar_year":
            return "this calendar year"
        return "in the last month" if self.months == 1 else f"in the last {self.months} months"


class MetricCondition(Input):
    metric: Metric
    at_least: int = Field(ge=0, description="Points, minor currency units, or orders")
    window: Window = Field(default_factory=Window)


class PlanCondition(Input):
    """Holding a paid plan: a given one, or any plan when ``plan_id`` is null."""

    metric: Literal["paid_plan"]
    plan_id: uuid.UUID | None = None


class AllOf(Input):
    all: list[Rule] = Field(min_length=1, max_length=10)


class AnyOf(Input):
    any: list[Rule] = Field(min_length=1, max_length=10)


METRIC_NAMES = (*get_args(Metric), "paid_plan")


def _rule_kind(value: Any) -> str | None:
    """Which kind of rule ``value`` is, so that a mistake is reported against that kind only
    (not once for every kind it might have been)."""
    if isinstance(value, dict):
        if "all" in value:
            return "all"
        if "any" in value:
            return "any"
        return "plan" if value.get("metric") == "paid_plan" else "metric"
    if isinstance(value, AllOf):
        return "all"
    if isinstance(value, AnyOf):
        return "any"
    return "plan" if isinstance(value, PlanCondition) else "metric"


def _known_metric(value: Any) -> Any:
    if isinstance(value, dict) and "all" not in value and "any" not in value:
        metric = value.get("metric")
        if metric is None:
            raise ValueError(
                "a rule is a condition on a metric ({'metric': ..., 'at_least': ...}), "
                "{'all': [rules]} or {'any': [rules]}; the metrics are " + ", ".join(METRIC_NAMES)
            )
        if metric not in METRIC_NAMES:
            raise ValueError(
                f"unknown metric {metric!r}; the metrics are " + ", ".join(METRIC_NAMES)
            )
    return value


Rule = Annotated[
    Annotated[MetricCondition, Tag("metric")]
    | Annotated[PlanCondition, Tag("plan")]
    | Annotated[AllOf, Tag("all")]
    | Annotated[AnyOf, Tag("any")],
    Discriminator(_rule_kind),
    BeforeValidator(_known_metric),
]
AllOf.model_rebuild()
AnyOf.model_rebuild()
_RULE = TypeAdapter[Rule](Rule)


def parse_rule(data: dict[str, Any] | None) -> Rule | None:
    return None if data is None else _RULE.validate_python(data)


def dump_rule(rule: Rule | None) -> dict[str, Any] | None:
    return None if rule is None else _RULE.dump_python(rule, mode="json", exclude_none=True)


def depth(rule: Rule) -> int:
    if isinstance(rule, AllOf | AnyOf):
        return 1 + max(depth(r) for r in (rule.all if isinstance(rule, AllOf) else rule.any))
    return 1


def conditions(rule: Rule | None) -> Iterator[MetricCondition | PlanCondition]:
    if rule is None:
        return
    if isinstance(rule, AllOf | AnyOf):
        for sub in rule.all if isinstance(rule, AllOf) else rule.any:
            yield from conditions(sub)
    else:
        yield rule


def needed_metrics(rules: Iterable[Rule | None]) -> dict[tuple[Metric, str], Window]:
    """Every (metric, window) the rules mention, so facts are computed once each."""
    needed: dict[tuple[Metric, str], Window] = {}
    for rule in rules:
        for cond in conditions(rule):
            if isinstance(cond, MetricCondition):
                needed[(cond.metric, cond.window.key)] = cond.window
    return needed


@dataclass
class Facts:
    """What is known about one member: metric values per (metric, window key), plans held."""

    values: dict[tuple[str, str], int] = field(default_factory=dict)
    plans: frozenset[uuid.UUID] = frozenset()
    currency: str = "CNY"
    plan_names: Mapping[uuid.UUID, str] = field(default_factory=dict)  # the rules' plans

    def value(self, cond: MetricCondition) -> int:
        return self.values.get((cond.metric, cond.window.key), 0)


def compile_rule(rule: Rule | None) -> Callable[[Facts], bool]:
    """``rule`` as a function of the facts: the same answer as ``holds``, without walking the
    pydantic tree for every member (level reviews run it for every member of a merchant)."""
    if rule is None:
        return lambda facts: True
    if isinstance(rule, AllOf | AnyOf):
        subs = [compile_rule(r) for r in (rule.all if isinstance(rule, AllOf) else rule.any)]
        if isinstance(rule, AllOf):
            return lambda facts: all(sub(facts) for sub in subs)
        return lambda facts: any(sub(facts) for sub in subs)
    if isinstance(rule, PlanCondition):
        plan_id = rule.plan_id
        if plan_id is None:
            return lambda facts: bool(facts.plans)
        return lambda facts: plan_id in facts.plans
    key, at_least = (rule.metric, rule.window.key), rule.at_least
    return lambda facts: facts.values.get(key, 0) >= at_least


def holds(rule: Rule | None, facts: Facts) -> bool:
    if rule is None:
        return True
    if isinstance(rule, AllOf):
        return all(holds(r, facts) for r in rule.all)
    if isinstance(rule, AnyOf):
        return any(holds(r, facts) for r in rule.any)
    if isinstance(rule, PlanCondition):
        return bool(facts.plans) if rule.plan_id is None else rule.plan_id in facts.plans
    return facts.value(rule) >= rule.at_least


def _amount(cond: MetricCondition, value: int, facts: Facts) -> tuple[str, str]:
    if cond.metric == "amount_spent":
        return str(Money(value, facts.currency)), str(Money(cond.at_least, facts.currency))
    return f"{value:,}", f"{cond.at_least:,}"


_METRIC_WORDS = {
    "points_earned": "points earned",
    "amount_spent": "spent",
    "order_count": "orders",
}


def explain(rule: Rule | None, facts: Facts) -> str:
    """Why ``rule`` holds or not, e.g. "1,240 points earned in the last 12 months (needs 1,000)"."""
    if rule is None:
        return "no rule: reached by hand only"
    if isinstance(rule, AllOf | AnyOf):
        parts = rule.all if isinstance(rule, AllOf) else rule.any
        joiner = " and " if isinstance(rule, AllOf) else " or "
        return "(" + joiner.join(explain(r, facts) for r in parts) + ")"
    if isinstance(rule, PlanCondition):
        held = holds(rule, facts)
        name = facts.plan_names.get(rule.plan_id) if rule.plan_id else None
        what = "a paid plan" if rule.plan_id is None else f"the paid plan {name or rule.plan_id!s}"
        return f"{'holds' if held else 'does not hold'} {what}"
    have, need = _amount(rule, facts.value(rule), facts)
    return f"{have} {_METRIC_WORDS[rule.metric]} {rule.window.describe()} (needs {need})"


@dataclass(frozen=True)
class Step:
    """One condition of a rule and how far the member is along it."""

    metric: str
    window: str | None  # "in the last 12 months"; None for a plan condition
    have: int
    need: int
    met: bool
    progress_bps: int  # 0..10000
    text: str


def _condition_bps(have: int, need: int) -> int:
    return 10_000 if need <= 0 else min(10_000, have * 10_000 // need)


def steps(rule: Rule | None, facts: Facts) -> list[Step]:
    """Each condition of ``rule`` with the member's figure, the threshold and what is left."""
    out = []
    for cond in conditions(rule):
        if isinstance(cond, PlanCondition):
            held = holds(cond, facts)
            out.append(
                Step(
                    "paid_plan",
                    None,
                    int(held),
                    1,
                    held,
                    10_000 if held else 0,
                    explain(cond, facts),
                )
            )
            continue
        have = facts.value(cond)
        out.append(
            Step(
                cond.metric,
                cond.window.describe(),
                have,
                cond.at_least,
                have >= cond.at_least,
                _condition_bps(have, cond.at_least),
                explain(cond, facts),
            )
        )
    return out


def progress_bps(rule: Rule | None, facts: Facts) -> int:
    """How far along ``rule`` the member is, 0..10000: all of a rule is as far as its least
    advanced part, any of it as far as its most advanced part."""
    if rule is None:
        return 0  # reached by hand or by a plan only
    if isinstance(rule, AllOf):
        return min(progress_bps(r, facts) for r in rule.all)
    if isinstance(rule, AnyOf):
        return max(progress_bps(r, facts) for r in rule.any)
    if isinstance(rule, PlanCondition):
        return 10_000 if holds(rule, facts) else 0
    return _condition_bps(facts.value(rule), rule.at_least)
