"""A Hypothesis state machine over earn / spend / reverse / expire / level review, against a plain
Python model of the same rules. After every step: balance = sum of entries = sum of what the lots
hold = the model's balance, never negative, and the level equals the model's recomputation.

Hypothesis drives the machine synchronously, so it runs in a thread with its own event loop and
its own engine on the test's database."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from tests.conftest import SECRET
from tests.factories import Factory
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.kit.errors import TribekitError
from tribekit.membership import config, service
from tribekit.membership.ledger import PointsLedger, Source
from tribekit.membership.levels import LevelEngine
from tribekit.membership.schemas import LevelCreate
from tribekit.models.membership import MembershipAccount, PointsEntry, PointsLot

from .ladder import earned

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
THRESHOLDS = {"Bronze": 0, "Silver": 100, "Gold": 300}
_keys = itertools.count()


@dataclass
class Lot:
    seq: int
    points: int
    remaining: int
    expires_at: datetime
    expired: int = 0


@dataclass
class Model:
    """The rules, written again as simply as possible."""

    lots: list[Lot] = field(default_factory=list)
    earned: list[tuple[datetime, int]] = field(default_factory=list)  # toward levels
    uses: dict[str, dict[int, int]] = field(default_factory=dict)  # spend entry -> lot -> points
    earn_lot: dict[str, int] = field(default_factory=dict)  # earn entry -> lot seq
    level: str = "Bronze"
    review_at: datetime | None = None

    @property
    def balance(self) -> int:
        return sum(lot.remaining for lot in self.lots)

    def ordered(self) -> list[Lot]:
        return sorted(self.lots, key=lambda lot: (lot.expires_at, lot.seq))

    def expire(self, now: datetime) -> None:
        for lot in self.lots:
            if lot.expires_at <= now and lot.remaining:
                lot.expired += lot.remaining
                lot.remaining = 0

    def take(self, points: int, *, first: Lot | None = None) -> dict[int, int]:
        used: dict[int, int] = {}
        for lot in ([first] if first else []) + self.ordered():
            n = min(lot.remaining, points)
            if n:
                lot.remaining -= n
                points -= n
                used[lot.seq] = used.get(lot.seq, 0) + n
        assert points == 0
        return used

    def qualified(self, now: datetime) -> str:
        start = clock.add_months(now, -12)
        total = sum(p for at, p in self.earned if at >= start)
        # The base level holds for everybody, even when reversals leave the total below zero.
        return max(
            (n for n, t in THRESHOLDS.items() if total >= t or t == 0), key=THRESHOLDS.__getitem__
        )

    def upgrade(self, now: datetime) -> None:
        q = self.qualified(now)
        if THRESHOLDS[q] > THRESHOLDS[self.level]:
            self.level, self.review_at = q, clock.add_months(now, 12)

    def review(self, now: datetime) -> None:
        if self.review_at is None or self.review_at > now:
            return
        q, names = self.qualified(now), list(THRESHOLDS)
        if THRESHOLDS[q] > THRESHOLDS[self.level]:
            self.level = q
        elif THRESHOLDS[q] < THRESHOLDS[self.level]:
            self.level = names[names.index(self.level) - 1]
        self.review_at = clock.add_months(now, 12)


class LedgerMachine(RuleBasedStateMachine):
    earns = Bundle("earns")
    spends = Bundle("spends")

    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        CLOCK.at = T0
        self.model = Model()
        self.seq = itertools.count()
        shop = RUNNER.run(FACTORY.shop())
        self.tenant = shop.tenant
        self.member_id = RUNNER.run(FACTORY.member(shop)).member.id
        RUNNER.run(self._levels())

    async def _levels(self) -> None:
        async with DB.unit_of_work() as session:
            for rank, (name, threshold) in enumerate(THRESHOLDS.items()):
                rule = earned(threshold) if threshold else None
                data = LevelCreate.model_validate({"name": name, "rank": rank, "rule": rule})
                await config.create_level(session, self.tenant, data)

    def _call(self, work: Any) -> Any:
        async def unit() -> Any:
            async with DB.unit_of_work() as session:
                return await work(session)

        return RUNNER.run(unit())

    @rule(target=earns, points=st.integers(1, 200))
    def earn(self, points: int) -> str:
        posting = self._call(
            lambda s: service.earn_points(
                s,
                self.tenant,
                self.member_id,
                points,
                source=Source.CAMPAIGN,
                key=f"e{next(_keys)}",
            )
        )
        self.model.expire(self.now)
        seq = next(self.seq)
        self.model.lots.append(Lot(seq, points, points, clock.add_months(self.now, 12)))
        self.model.earn_lot[str(posting.entry.id)] = seq
        self.model.earned.append((self.now, points))
        self.model.upgrade(self.now)
        return str(posting.entry.id)

    @rule(target=spends, points=st.integers(1, 300))
    def spend(self, points: int) -> str:
        due = sum(lot.remaining for lot in self.model.lots if lot.expires_at <= self.now)
        refused: str | None = None
        try:
            posting = self._call(
                lambda s: PointsLedger(s, self.tenant).spend(
                    self.member_id, points, source=Source.REWARD, key=f"s{next(_keys)}"
                )
            )
        except TribekitError as exc:
            refused = exc.code
        if refused is not None:
            assert refused == "insufficient_points"
            assert self.model.balance - due < points
            return "refused"  # and the due lots expire later: the refusal wrote nothing
        self.model.expire(self.now)
        assert self.model.balance >= points
        entry_id = str(posting.entry.id)
        self.model.uses[entry_id] = self.model.take(points)
        return entry_id

    @rule(entry_id=consumes(spends))
    def reverse_spend(self, entry_id: str) -> None:
        if entry_id == "refused":
            return
        self._reverse(entry_id)
        self.model.expire(self.now)
        lots = {lot.seq: lot for lot in self.model.lots}
        for seq, n in self.model.uses.pop(entry_id).items():
            lots[seq].remaining += n
        self.model.expire(self.now)

    @rule(entry_id=consumes(earns))
    def reverse_earn(self, entry_id: str) -> None:
        entry = self._reverse(entry_id)
        self.model.expire(self.now)
        own = next(lot for lot in self.model.lots if lot.seq == self.model.earn_lot[entry_id])
        take = min(own.points - own.expired, self.model.balance)
        assert entry.points == -take
        self.model.take(take, first=own)
        self.model.earned.append((self.now, -take))

    def _reverse(self, entry_id: str) -> PointsEntry:
        posting = self._call(
            lambda s: PointsLedger(s, self.tenant).reverse(
                uuid.UUID(entry_id), key=f"r{next(_keys)}"
            )
        )
        entry: PointsEntry = posting.entry
        return entry

    @rule(days=st.integers(1, 200))
    def time_passes(self, days: int) -> None:
        self.now += timedelta(days=days)
        CLOCK.at = self.now

    @rule()
    def expiry_sweep(self) -> None:
        self._call(lambda s: PointsLedger(s, self.tenant).expire_due(self.member_id))
        self.model.expire(self.now)

    @rule()
    def level_review(self) -> None:
        self._call(lambda s: LevelEngine(s, self.tenant).review_due())
        self.model.review(self.now)

    @invariant()
    def ledger_adds_up_and_level_matches(self) -> None:
        async def read(session: Any) -> tuple[int, int, int, str]:
            account = await session.get(MembershipAccount, self.member_id)
            entries = await session.scalar(
                select(func.coalesce(func.sum(PointsEntry.points), 0)).where(
                    PointsEntry.member_id == self.member_id
                )
            )
            lots = await session.scalar(
                select(func.coalesce(func.sum(PointsLot.remaining), 0)).where(
                    PointsLot.member_id == self.member_id
                )
            )
            _, level, _ = await LevelEngine(session, self.tenant).standing(self.member_id)
            balance = account.balance if account else 0
            return balance, int(entries), int(lots), level.name if level else ""

        balance, entries, lots, level = self._call(read)
        assert balance == entries == lots == self.model.balance
        assert balance >= 0
        assert level == self.model.level


class Runner:
    """An event loop of its own, in the thread Hypothesis runs in."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)


RUNNER: Runner
DB: Database
FACTORY: Factory
CLOCK: clock.FrozenClock


def _run(url: str) -> None:
    global RUNNER, DB, FACTORY, CLOCK
    RUNNER = Runner()
    DB = Database(url, pool_size=2, max_overflow=2)  # one step at a time
    FACTORY = Factory(DB, SECRET)
    try:
        with clock.frozen_at(T0) as frozen:
            CLOCK = frozen
            run_state_machine_as_test(
                LedgerMachine,
                settings=settings(
                    max_examples=30,
                    stateful_step_count=25,
                    deadline=None,
                    suppress_health_check=[HealthCheck.too_slow],
                ),
            )
    finally:
        RUNNER.run(DB.dispose())
        RUNNER.loop.close()


async def test_the_ledger_and_levels_match_the_model(db: Database) -> None:
    await asyncio.to_thread(_run, db.url)
