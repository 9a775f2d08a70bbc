"""The one lock order of Tribekit, and the tracker that holds every transaction to it.

Two transactions deadlock when each holds a row the other waits for. They cannot when every
transaction takes its row locks in one global order: by rank first, then by id within a rank.
The ranks, lowest first:

=========  =====================================================================================
rank       rows (and the key they are ordered by)
=========  =====================================================================================
ORDER      ``orders`` (order id). The rows that belong to one order (its lines, payments,
           refunds, coupon redemptions) take no rank of their own: a path that changes them
           and the order locks the order first.
CAMPAIGN   ``flash_sales`` and ``group_buy_teams`` (their id): a flash sale's units left
           (the SQL engine's counter, the allotment at start and end) and a team's seats.
           They come after the order (expiring a reservation's order, a member leaving a team
           lock the order first) and before stock (the seat or unit decides whether any
           stock is taken).
PRODUCT    ``products`` (product id): stock taken, given back or adjusted
ACCOUNT    ``membership_accounts`` (member id): points, level, plans of one member
COUPON     ``coupons`` (coupon id): uses taken and given back
=========  =====================================================================================

Why this order: an order is what every order path starts from (a refund or a cancellation
locks it before deciding anything); stock is the hot, contended row and its check decides
whether the rest happens, so it comes next; the member's account is locked once per
transaction and serialises all membership work of one member; coupon counters come last
because only checkout and releases touch them, after everything else.

Every function that locks one of these rows (``Orders``, ``Products``, ``Coupons`` and
``Accounts`` in their repositories) first calls :func:`acquire`. The tracker, kept in
``session.info`` for the current transaction, raises :class:`LockOrderViolation` when a
transaction asks to wait for a row that ranks below one it already holds, or for a row of the
same rank with a lower id than one it holds. That is a programming error, raised in tests and
in production alike, before the statement that could deadlock is sent. Rows already held are
free to ask for again (nothing waits). ``skip_locked=True`` (``FOR UPDATE SKIP LOCKED`` claims
of the worker) never waits, so it is not checked itself; the rows it got count as held for
every later request.

A path that needs rows of several orders, products and accounts (the expiry sweep closing a
batch of orders) locks them all up front, rank by rank, each rank in id order; the work that
follows then only asks for rows it holds.

**Community rows take no rank.** The robot's pipeline never locks an order, a product, an
account or a coupon: what it changes is the group's and the member's own rows, and no
transaction holding a ranked lock touches them. Within one inbound event it changes them in
this order, the group's shared rows last so that they are held for the shortest time:

1. the web community's change counter (``web_counters``, the post being written; the web
   channel only), held to commit so that change numbers become visible in order;
2. the member's row in the group (``community_members``: joined, left, messages, last active)
   and the group's live member count (``communities``), both by conditional updates;
3. the day's counters (``community_days`` then ``member_days``), by upserts;
4. inserts only: the event, moderation entries, strikes, bans, owed robot actions (unique keys,
   no waits but on a twin of the same key).

A deadlock between two events of one member (a rejoin while a message is counted) is retried
whole by ``Database.run`` like any other.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import SessionTransaction

_KEY = "tribekit.locks"


class Rank(IntEnum):
    """Lock ranks, lowest first: a transaction locks lower ranks before higher ones."""

    ORDER = 10
    CAMPAIGN = 15
    PRODUCT = 20
    ACCOUNT = 30
    COUPON = 40


class LockOrderViolation(RuntimeError):
    """A transaction asked for a lock out of the documented order (a programming error)."""


@dataclass
class _Held:
    transaction: SessionTransaction
    keys: dict[Rank, set[uuid.UUID]] = field(default_factory=dict)
    top: dict[Rank, uuid.UUID] = field(default_factory=dict)  # highest id held per rank
    top_rank: int = 0  # the highest rank held (rows this transaction created do not count)
    unchecked: bool = False  # only_new_rows: nothing this transaction locks is shared


def _held(session: AsyncSession) -> _Held:
    sync = session.sync_session
    transaction = sync.get_transaction() or sync.begin()
    held: _Held | None = session.info.get(_KEY)
    if held is None or held.transaction is not transaction:
        held = _Held(transaction)
        session.info[_KEY] = held
    return held


def acquire(
    session: AsyncSession,
    rank: Rank,
    keys: Iterable[uuid.UUID],
    *,
    skip_locked: bool = False,
) -> list[uuid.UUID]:
    """Record that this transaction is about to lock the rows ``keys`` of ``rank``.

    Returns the keys not held yet, in the order to lock them (ascending). Raises
    ``LockOrderViolation`` when waiting for them could deadlock: a row of a higher rank is held
    already, or a row of this rank with a higher id. The caller then locks exactly the returned
    rows (or all of ``keys``: re-locking a held row does not wait).
    """
    held = _held(session)
    mine = held.keys.get(rank)
    if mine is None:
        mine = held.keys[rank] = set()
    new = [key for key in keys if key not in mine]
    if not new:
        return []
    if len(new) > 1:
        new = sorted(set(new))
    top = held.top.get(rank)
    if not skip_locked and not held.unchecked:
        if held.top_rank > rank:
            above = Rank(held.top_rank)
            raise LockOrderViolation(
                f"asked to lock {rank.name} {new[0]} while holding {above.name} "
                f"{min(held.keys[above])}: lock in the order of tribekit.kit.locks.Rank "
                "(order, campaign, products, membership account, coupons)"
            )
        if top is not None and new[0] < top:
            raise LockOrderViolation(
                f"asked to lock {rank.name} {new[0]} after {rank.name} {top}: rows of one rank "
                "are locked in id order (lock them all at once, or up front)"
            )
    if top is None or new[-1] > top:
        held.top[rank] = new[-1]
    if rank > held.top_rank:
        held.top_rank = rank
    mine.update(new)
    return new


def created(session: AsyncSession, rank: Rank, key: uuid.UUID) -> None:
    """Record a row this transaction inserted (a new order): no other transaction can see it
    before commit, so nobody waits for it and it may be locked again at any point."""
    _held(session).keys.setdefault(rank, set()).add(key)


def only_new_rows(session: AsyncSession) -> None:
    """Turn the order check off for this transaction, because every row it locks was created by
    it and no other transaction can see them (a new merchant seeded with a demo history in the
    transaction that creates it). Say so where it is called; never for shared rows."""
    _held(session).unchecked = True


def holds(session: AsyncSession, rank: Rank, key: uuid.UUID) -> bool:
    """Whether this transaction holds (recorded) the lock on row ``key`` of ``rank``."""
    held: _Held | None = session.info.get(_KEY)
    if held is None or held.transaction is not session.sync_session.get_transaction():
        return False
    return key in held.keys.get(rank, ())
