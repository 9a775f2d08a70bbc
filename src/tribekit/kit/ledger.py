"""The ledger kernel: what every ledger of Tribekit guarantees (points now, leader commission
next), generic over its entry and account tables.

* **Append-only entries.** An entry is never changed; a correction is a ``reverse`` entry that
  points at what it undoes (``reverses_id``). Several partial reversals of one entry together
  never undo more than it posted.
* **One posting per business event.** Each entry carries an idempotency key (unique per
  merchant) and the fingerprint of the request: the same key with the same request replays the
  entry (``Posting.replayed``), with another request it is refused (422
  ``idempotency_key_reused``), and a duplicate racing the first gets a 409
  ``idempotency_in_progress`` (the rules of ``kit/idempotency.py``).
* **One lock per account.** Every posting locks its account row first (``lock``); the row caches
  the balance, which moves in the same transaction as the entry it sums: balance = sum of
  entries, and the table's ``CHECK (balance >= 0)`` keeps it from ever going below zero.
* **Shortfalls, never negative balances.** A debit larger than the balance is refused whole
  (``insufficient``); reversing a credit whose amount was partly spent takes back what the
  balance holds and records the rest as the entry's ``shortfall``.

A ledger is a subclass of ``Ledger[Account, Entry]``: its tables use the ``LedgerAccount`` and
``LedgerEntry`` mixins (the columns the kernel reads and writes) and it says how to find and lock
its rows. What is specific to it stays with it: points keep lots with expiry
(``membership/ledger.py``); commission will freeze a credit until the refund window ends (a
credit into a frozen account, released by a sweep that posts the transfer to the available one,
both through this kernel).
"""

from __future__ import annotations

import abc
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped

from .errors import Conflict, ValidationFailed
from .idempotency import check_replay, insert_keyed


class LedgerAccount:
    """Declarative mixin of an account row: the cached balance (``CHECK (balance >= 0)`` in the
    table's arguments)."""

    balance: Mapped[int]


class LedgerEntry:
    """Declarative mixin of an entry row. ``amount`` is the signed change to the balance (a
    points ledger maps it onto its ``points`` column). The model defines each column; the mixin
    only names what the kernel uses. List it after ``TenantRow`` (whose ``id`` is the key)."""

    id: Mapped[uuid.UUID]
    kind: Mapped[str]
    amount: Mapped[int]
    balance_after: Mapped[int]
    idempotency_key: Mapped[str]
    request_hash: Mapped[str]
    reverses_id: Mapped[uuid.UUID | None]
    shortfall: Mapped[int]


A = TypeVar("A", bound=LedgerAccount)
E = TypeVar("E", bound=LedgerEntry)


class NotReversible(Conflict):
    code = "not_reversible"
    title = "The entry cannot be reversed"


@dataclass(frozen=True)
class Posting(Generic[E]):
    entry: E
    replayed: bool = False


@dataclass(frozen=True)
class Posted(Generic[A, E]):
    """A new entry and the locked account it moved."""

    entry: E
    account: A


class Ledger(abc.ABC, Generic[A, E]):
    #: Entry kinds: money (or points) in, out, and the reversal of either.
    CREDIT: ClassVar[str] = "earn"
    DEBIT: ClassVar[str] = "spend"
    REVERSE: ClassVar[str] = "reverse"
    #: What the amounts count, in messages ("points", "commission").
    unit: ClassVar[str] = "units"

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # ---- what each ledger says about its tables ------------------------------------------------

    @abc.abstractmethod
    async def lock(self, owner_id: uuid.UUID) -> A:
        """The owner's account, created if missing, locked until the transaction ends."""

    @abc.abstractmethod
    async def find(self, key: str) -> E | None:
        """The entry posted under ``key``, if any."""

    @abc.abstractmethod
    async def entry(self, entry_id: uuid.UUID) -> E:
        """The entry, or a 404."""

    @abc.abstractmethod
    def owner_of(self, entry: E) -> uuid.UUID:
        """Whose account ``entry`` moved."""

    @abc.abstractmethod
    async def reversals_of(self, entry: E) -> list[E]:
        """The reversals of ``entry`` posted so far, oldest first."""

    @abc.abstractmethod
    def insufficient(self, account: A, amount: int) -> Exception:
        """The error for a debit of ``amount`` that the balance does not cover."""

    # ---- hooks with nothing to do by default ---------------------------------------------------

    async def before_posting(self, account: A) -> None:
        """Runs under the account lock before each entry is built (points expire due lots)."""

    async def credit_left(self, original: E) -> int:
        """How much of a credit could still be taken back, before earlier reversals (points:
        what expired cannot be)."""
        return original.amount

    async def after_reversal(self, original: E, earlier: list[E], entry: E, account: A) -> None:
        """Runs after a reversal entry is appended (points move lots)."""

    # ---- the kernel ----------------------------------------------------------------------------

    async def replay(self, key: str, fingerprint: str) -> Posting[E] | None:
        """The posting already made under ``key`` for this very request, or None."""
        existing = await self.find(key)
        if existing is None:
            return None
        check_replay(existing.request_hash, fingerprint, key)
        return Posting(existing, replayed=True)

    async def append(self, entry: E, account: A) -> E:
        """Insert ``entry`` and move the locked ``account``'s balance by its amount. The key
        (or the reversed entry) taken concurrently is a 409 ``idempotency_in_progress``."""
        account.balance += entry.amount
        entry.balance_after = account.balance
        await insert_keyed(
            self.session, entry.idempotency_key, entry, what=" (or reversing the same entry)"
        )
        return entry

    async def post(self, owner_id: uuid.UUID, amount: int, build: Callable[[], E]) -> Posted[A, E]:
        """Lock the owner's account and append ``build()`` moving the balance by ``amount``
        (a credit if positive; a debit, refused whole when the balance is short, if negative).
        The caller checked the replay first."""
        account = await self.lock(owner_id)
        await self.before_posting(account)
        if amount < 0 and account.balance < -amount:
            raise self.insufficient(account, -amount)
        entry = build()
        entry.amount = amount
        await self.append(entry, account)
        return Posted(entry, account)

    async def post_reversal(
        self,
        entry_id: uuid.UUID,
        *,
        key: str,
        fingerprint: str,
        build: Callable[[E], E],
        amount: int | None = None,
        at_most: bool = False,
    ) -> Posting[E]:
        """Undo a credit or a debit, wholly or (``amount``) in part, with a new entry from
        ``build(original)``. Partial reversals of one entry together never undo more than it
        posted; with ``at_most``, asking for more than is left reverses what is left. Reversing
        a credit takes back what the balance holds and records the rest as the shortfall."""
        if replay := await self.replay(key, fingerprint):
            return replay
        if amount is not None and amount <= 0:
            raise ValidationFailed(f"{self.unit} to reverse must be a positive whole number")
        original = await self.entry(entry_id)
        if original.kind not in (self.CREDIT, self.DEBIT):
            raise NotReversible(
                f"a {original.kind} entry cannot be reversed; only {self.CREDIT} and "
                f"{self.DEBIT} entries can"
            )
        account = await self.lock(self.owner_of(original))
        earlier = await self.reversals_of(original)
        await self.before_posting(account)
        entry = build(original)
        entry.kind = self.REVERSE
        entry.shortfall = 0
        if original.kind == self.DEBIT:
            left = -original.amount - sum(e.amount for e in earlier)
            entry.amount = self.reversible(original, earlier, left, amount, at_most)
        else:
            undone = sum(-e.amount + e.shortfall for e in earlier)
            left = await self.credit_left(original) - undone
            owed = self.reversible(original, earlier, left, amount, at_most)
            take = min(owed, account.balance)
            entry.amount = -take
            entry.shortfall = owed - take
        await self.append(entry, account)
        await self.after_reversal(original, earlier, entry, account)
        return Posting(entry)

    def reversible(
        self, original: E, earlier: list[E], left: int, amount: int | None, at_most: bool
    ) -> int:
        """How much a reversal asking for ``amount`` (None: all) undoes, ``left`` being what
        the earlier reversals left; refuses what would undo more than the entry posted."""
        left = max(left, 0)
        entry_id = original.id
        if at_most and amount is not None:
            if left == 0:
                raise NotReversible(f"no {self.unit} of entry {entry_id} are left to reverse")
            amount = min(amount, left)
        if earlier and left == 0:
            by = earlier[-1].id
            raise NotReversible(
                f"entry {entry_id} was already reversed by entry {by}", reversed_by=str(by)
            )
        if amount is not None and amount > left:
            raise NotReversible(
                f"only {left} {self.unit} of entry {entry_id} are left to reverse", left=left
            )
        return left if amount is None else amount
