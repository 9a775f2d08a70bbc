"""The ledger kernel on its own, over a minimal wallet ledger defined here (two test tables
outside the application's metadata): a Hypothesis state machine of credits, debits, partial and
whole reversals, replays and reused keys against a plain model, and concurrent debits and
duplicate postings from a barrier. The points ledger is the same kernel plus lots and expiry
(``tests/membership/test_ledger_stateful.py``)."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, Uuid, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tests.concurrency import fire
from tribekit.kit.db import Database, UTCDateTime
from tribekit.kit.errors import Conflict, IdempotencyInProgress, NotFound, TribekitError
from tribekit.kit.idempotency import fingerprint
from tribekit.kit.ids import new_id
from tribekit.kit.ledger import Ledger, LedgerAccount, LedgerEntry, NotReversible, Posting


class KernelBase(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, uuid.UUID: Uuid}


class Wallet(KernelBase, LedgerAccount):
    __tablename__ = "test_kernel_wallets"
    __table_args__ = (CheckConstraint("balance >= 0", name="test_kernel_wallet_balance"),)

    owner_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)


class WalletEntry(KernelBase, LedgerEntry):
    __tablename__ = "test_kernel_wallet_entries"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    owner_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String(8))
    amount: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    reverses_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("test_kernel_wallet_entries.id")
    )
    shortfall: Mapped[int] = mapped_column(BigInteger, default=0)


class InsufficientFunds(Conflict):
    code = "insufficient_funds"


class WalletLedger(Ledger[Wallet, WalletEntry]):
    unit = "cents"

    async def lock(self, owner_id: uuid.UUID) -> Wallet:
        dialect = self.session.get_bind().dialect.name
        upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        await self.session.execute(
            upsert(Wallet).values(owner_id=owner_id, balance=0).on_conflict_do_nothing()
        )
        stmt = (
            select(Wallet)
            .where(Wallet.owner_id == owner_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.scalars(stmt)).one()

    async def find(self, key: str) -> WalletEntry | None:
        found: WalletEntry | None = await self.session.scalar(
            select(WalletEntry).where(WalletEntry.idempotency_key == key)
        )
        return found

    async def entry(self, entry_id: uuid.UUID) -> WalletEntry:
        found = await self.session.get(WalletEntry, entry_id)
        if found is None:
            raise NotFound(f"no entry {entry_id}")
        return found

    def owner_of(self, entry: WalletEntry) -> uuid.UUID:
        return entry.owner_id

    async def reversals_of(self, entry: WalletEntry) -> list[WalletEntry]:
        stmt = select(WalletEntry).where(WalletEntry.reverses_id == entry.id)
        return list((await self.session.scalars(stmt.order_by(WalletEntry.id))).all())

    def insufficient(self, account: Wallet, amount: int) -> Exception:
        return InsufficientFunds(f"{account.balance} cents held; {amount} cannot be taken")

    async def move(self, owner_id: uuid.UUID, amount: int, key: str) -> Posting[WalletEntry]:
        """A credit (amount > 0) or a debit (amount < 0), once per key."""
        kind = self.CREDIT if amount > 0 else self.DEBIT
        request_hash = fingerprint(kind, owner=owner_id, amount=amount)
        if replay := await self.replay(key, request_hash):
            return replay

        def build() -> WalletEntry:
            return WalletEntry(
                owner_id=owner_id, kind=kind, idempotency_key=key, request_hash=request_hash
            )

        return Posting((await self.post(owner_id, amount, build)).entry)

    async def undo(
        self, entry_id: uuid.UUID, key: str, amount: int | None, at_most: bool
    ) -> Posting[WalletEntry]:
        request_hash = fingerprint("reverse", entry=entry_id, amount=amount, at_most=at_most)

        def build(original: WalletEntry) -> WalletEntry:
            return WalletEntry(
                owner_id=original.owner_id,
                kind=self.REVERSE,
                idempotency_key=key,
                request_hash=request_hash,
                reverses_id=original.id,
            )

        return await self.post_reversal(
            entry_id, key=key, fingerprint=request_hash, build=build, amount=amount, at_most=at_most
        )


@pytest.fixture
async def wallets(db: Database) -> AsyncIterator[Database]:
    async with db.engine.begin() as conn:
        await conn.run_sync(KernelBase.metadata.drop_all)
        await conn.run_sync(KernelBase.metadata.create_all)
    yield db
    async with db.engine.begin() as conn:
        await conn.run_sync(KernelBase.metadata.drop_all)


# ---- the state machine ------------------------------------------------------------------------

_keys = itertools.count()


@dataclass
class Posted:
    id: uuid.UUID
    amount: int  # signed
    undone: int = 0  # taken back + shortfall (credits) or given back (debits)


@dataclass
class Model:
    balance: int = 0
    entries: dict[uuid.UUID, Posted] = field(default_factory=dict)
    last: tuple[str, int, uuid.UUID] | None = None  # key, amount, entry of the last move


class KernelMachine(RuleBasedStateMachine):
    postings = Bundle("postings")

    def __init__(self) -> None:
        super().__init__()
        self.owner = uuid.uuid4()
        self.model = Model()

    def _call(self, work: Any) -> Any:
        async def unit() -> Any:
            async with DB.unit_of_work() as session:
                return await work(WalletLedger(session))

        return RUNNER.run(unit())

    def _refused(self, work: Any) -> str:
        before = self._totals()
        try:
            self._call(work)
        except TribekitError as exc:
            assert self._totals() == before  # a refusal writes nothing
            return exc.code
        raise AssertionError("expected a refusal")

    @rule(target=postings, amount=st.integers(1, 200))
    def credit(self, amount: int) -> uuid.UUID:
        key = f"c{next(_keys)}"
        posting = self._call(lambda ledger: ledger.move(self.owner, amount, key))
        assert (posting.replayed, posting.entry.amount) == (False, amount)
        self.model.balance += amount
        assert posting.entry.balance_after == self.model.balance
        self.model.entries[posting.entry.id] = Posted(posting.entry.id, amount)
        self.model.last = (key, amount, posting.entry.id)
        return posting.entry.id  # type: ignore[no-any-return]  # an entry id

    @rule(target=postings, amount=st.integers(1, 300))
    def debit(self, amount: int) -> uuid.UUID | None:
        key = f"d{next(_keys)}"
        if amount > self.model.balance:
            code = self._refused(lambda ledger: ledger.move(self.owner, -amount, key))
            assert code == "insufficient_funds"
            return None
        posting = self._call(lambda ledger: ledger.move(self.owner, -amount, key))
        self.model.balance -= amount
        self.model.entries[posting.entry.id] = Posted(posting.entry.id, -amount)
        self.model.last = (key, -amount, posting.entry.id)
        return posting.entry.id  # type: ignore[no-any-return]  # an entry id

    @rule(
        entry_id=postings,
        amount=st.one_of(st.none(), st.integers(1, 250)),
        at_most=st.booleans(),
    )
    def reverse(self, entry_id: uuid.UUID | None, amount: int | None, at_most: bool) -> None:
        if entry_id is None:
            return
        original = self.model.entries[entry_id]
        key = f"r{next(_keys)}"
        left = max(abs(original.amount) - original.undone, 0)
        wanted = min(amount, left) if at_most and amount is not None else amount
        if (
            (at_most and amount is not None and left == 0)
            or (original.undone and left == 0)
            or (wanted is not None and wanted > left)
        ):
            assert self._refused(lambda ledger: ledger.undo(entry_id, key, amount, at_most)) == (
                "not_reversible"
            )
            return
        owed = left if wanted is None else wanted
        posting = self._call(lambda ledger: ledger.undo(entry_id, key, amount, at_most))
        entry = posting.entry
        assert entry.reverses_id == entry_id
        if original.amount < 0:
            assert (entry.amount, entry.shortfall) == (owed, 0)
            self.model.balance += owed
        else:
            take = min(owed, self.model.balance)
            assert (entry.amount, entry.shortfall) == (-take, owed - take)
            self.model.balance -= take
        original.undone += owed

    @rule()
    def replay_last(self) -> None:
        if self.model.last is None:
            return
        key, amount, entry_id = self.model.last
        before = self._totals()
        posting = self._call(lambda ledger: ledger.move(self.owner, amount, key))
        assert (posting.replayed, posting.entry.id) == (True, entry_id)
        assert self._totals() == before

    @rule()
    def reuse_last_key(self) -> None:
        if self.model.last is None:
            return
        key, amount, _ = self.model.last
        code = self._refused(lambda ledger: ledger.move(self.owner, amount + 1, key))
        assert code == "idempotency_key_reused"

    def _totals(self) -> tuple[int, int, int]:
        async def read(ledger: WalletLedger) -> tuple[int, int, int]:
            session = ledger.session
            wallet = await session.get(Wallet, self.owner, populate_existing=True)
            total = await session.scalar(
                select(func.coalesce(func.sum(WalletEntry.amount), 0)).where(
                    WalletEntry.owner_id == self.owner
                )
            )
            count = await session.scalar(
                select(func.count()).where(WalletEntry.owner_id == self.owner)
            )
            return (wallet.balance if wallet else 0), int(total or 0), int(count or 0)

        totals: tuple[int, int, int] = self._call(read)
        return totals

    @invariant()
    def balance_is_the_sum_and_never_negative(self) -> None:
        balance, total, _ = self._totals()
        assert balance == total == self.model.balance
        assert balance >= 0

    @invariant()
    def reversals_never_exceed_their_entry(self) -> None:
        async def read(ledger: WalletLedger) -> dict[uuid.UUID, int]:
            rows = await ledger.session.execute(
                select(
                    WalletEntry.reverses_id,
                    func.sum(func.abs(WalletEntry.amount) + WalletEntry.shortfall),
                )
                .where(WalletEntry.owner_id == self.owner, WalletEntry.reverses_id.is_not(None))
                .group_by(WalletEntry.reverses_id)
            )
            return {entry_id: int(undone) for entry_id, undone in rows.all()}

        undone = self._call(read)
        for entry_id, posted in self.model.entries.items():
            assert undone.get(entry_id, 0) == posted.undone <= abs(posted.amount)


class Runner:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)


RUNNER: Runner
DB: Database


def _run(url: str) -> None:
    global RUNNER, DB
    RUNNER = Runner()
    DB = Database(url, pool_size=2, max_overflow=2)
    try:
        run_state_machine_as_test(
            KernelMachine,
            settings=settings(
                max_examples=25,
                stateful_step_count=25,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    finally:
        RUNNER.run(DB.dispose())
        RUNNER.loop.close()


async def test_the_kernel_matches_the_model(wallets: Database) -> None:
    await asyncio.to_thread(_run, wallets.url)


# ---- concurrency ------------------------------------------------------------------------------


async def test_concurrent_debits_never_overdraw_and_one_key_posts_once(
    wallets: Database,
) -> None:
    owner = uuid.uuid4()
    async with wallets.unit_of_work() as session:
        await WalletLedger(session).move(owner, 100, "seed")

    async def debit(i: int) -> str:
        try:
            async with wallets.unit_of_work() as session:
                await WalletLedger(session).move(owner, -30, f"debit-{i}")
        except TribekitError as exc:
            return exc.code
        return "ok"

    outcomes = await fire(20, debit)
    assert sorted(outcomes) == ["insufficient_funds"] * 17 + ["ok"] * 3

    async def same_key(_: int) -> str:
        try:
            async with wallets.unit_of_work() as session:
                posting = await WalletLedger(session).move(owner, 5, "bonus")
        except IdempotencyInProgress:
            return "retry"
        return "replayed" if posting.replayed else "posted"

    results = await fire(10, same_key)
    assert results.count("posted") == 1
    assert set(results) <= {"posted", "replayed", "retry"}
    async with wallets.unit_of_work() as session:
        wallet = await session.get(Wallet, owner)
        total = await session.scalar(
            select(func.sum(WalletEntry.amount)).where(WalletEntry.owner_id == owner)
        )
        count = await session.scalar(select(func.count()).select_from(WalletEntry))
    assert wallet is not None
    assert (wallet.balance, total, count) == (15, 15, 5)


async def test_reversing_a_spent_credit_records_a_shortfall_and_stops_there(
    wallets: Database,
) -> None:
    owner = uuid.uuid4()
    async with wallets.unit_of_work() as session:
        ledger = WalletLedger(session)
        credit = (await ledger.move(owner, 100, "in")).entry
        await ledger.move(owner, -70, "out")
        back = (await ledger.undo(credit.id, "undo-1", 40, False)).entry
        assert (back.amount, back.shortfall, back.balance_after) == (-30, 10, 0)
        rest = (await ledger.undo(credit.id, "undo-2", None, False)).entry
        assert (rest.amount, rest.shortfall) == (0, 60)
        with pytest.raises(NotReversible, match="already reversed"):
            await ledger.undo(credit.id, "undo-3", None, False)
        with pytest.raises(NotReversible, match="no cents of entry"):
            await ledger.undo(credit.id, "undo-4", 5, True)
