"""The points ledger: append-only entries, lots with expiry, one posting per business event.

Every posting locks the member's account row first (see ``Accounts.lock``), then expires the
member's due lots, then writes. The cached ``balance`` on the account moves in the same
transaction as the entry it sums, and a CHECK constraint keeps it from ever going below zero.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock
from tribekit.kit.db import add_unique
from tribekit.kit.errors import Conflict, IdempotencyInProgress, ValidationFailed
from tribekit.kit.idempotency import check_replay, fingerprint
from tribekit.models.membership import MembershipAccount, PointsEntry, PointsLot, PointsLotUse
from tribekit.tenancy.principal import Tenant

from .repository import Accounts, Entries, settings_of


class EntryKind(StrEnum):
    EARN = "earn"
    SPEND = "spend"
    EXPIRE = "expire"
    REVERSE = "reverse"


class Source(StrEnum):
    ORDER = "order"
    REFERRAL = "referral"
    CHECK_IN = "check_in"
    MANUAL = "manual"
    CAMPAIGN = "campaign"
    LEVEL_REWARD = "level_reward"
    BIRTHDAY = "birthday"
    CHECKOUT = "checkout"  # points redeemed to pay part of an order
    REWARD = "reward"  # points redeemed for a reward
    EXPIRY = "expiry"
    MERGE = "merge"  # points moving from a duplicate member to the one it was merged into


#: Points from these sources count as "points earned" toward levels; rewards for reaching a
#: level or for a birthday do not, so that a reward can never push a member up by itself.
QUALIFYING_SOURCES = (
    Source.ORDER,
    Source.REFERRAL,
    Source.CHECK_IN,
    Source.MANUAL,
    Source.CAMPAIGN,
)
EARN_SOURCES = frozenset({*QUALIFYING_SOURCES, Source.LEVEL_REWARD, Source.BIRTHDAY, Source.MERGE})
SPEND_SOURCES = frozenset({Source.CHECKOUT, Source.REWARD, Source.MANUAL, Source.MERGE})


class InsufficientPoints(Conflict):
    code = "insufficient_points"
    title = "Not enough points"


class NotReversible(Conflict):
    code = "not_reversible"
    title = "The entry cannot be reversed"


@dataclass(frozen=True)
class Posting:
    entry: PointsEntry
    replayed: bool = False


class PointsLedger:
    def __init__(self, session: AsyncSession, tenant: Tenant) -> None:
        self.session = session
        self.tenant = tenant
        self.accounts = Accounts(session, tenant.id)
        self.entries = Entries(session, tenant.id)

    async def _replay(self, key: str, request_hash: str) -> Posting | None:
        existing = await self.entries.by_key(key)
        if existing is None:
            return None
        check_replay(existing.request_hash, request_hash, key)
        return Posting(existing, replayed=True)

    async def _append(self, entry: PointsEntry, account: MembershipAccount) -> PointsEntry:
        """Insert ``entry``; its idempotency key or reversed entry taken concurrently is a 409."""
        account.balance += entry.points
        entry.merchant_id = self.tenant.id
        entry.balance_after = account.balance
        await add_unique(
            self.session,
            f"another request with idempotency key {entry.idempotency_key!r} "
            "(or reversing the same entry) is being handled; retry to get its result",
            entry,
            error=IdempotencyInProgress,
        )
        return entry

    async def _begin(
        self,
        kind: EntryKind,
        member_id: uuid.UUID,
        points: int,
        *,
        source: Source,
        key: str,
        ref: str | None,
        reason: str | None,
        actor: str | None,
    ) -> tuple[PointsEntry, MembershipAccount] | Posting:
        """The steps every earn and spend share: check, replay a known key, lock the member's
        account, expire what is due. Gives the entry to append, or the replayed posting."""
        allowed = EARN_SOURCES if kind == EntryKind.EARN else SPEND_SOURCES
        if source not in allowed:
            raise ValueError(f"{source} is not a source of a {kind} entry")
        if points <= 0:
            raise ValidationFailed(f"points to {kind} must be a positive whole number")
        request_hash = fingerprint(
            kind, member=member_id, points=points, source=source, ref=ref, reason=reason
        )
        if replay := await self._replay(key, request_hash):
            return replay
        account = await self.accounts.lock(member_id)
        now = clock.now()
        await self._expire_due(account, now)
        entry = PointsEntry(
            member_id=member_id,
            kind=kind,
            source=source,
            points=points if kind == EntryKind.EARN else -points,
            idempotency_key=key,
            request_hash=request_hash,
            ref=ref,
            reason=reason,
            actor=actor,
            at=now,
        )
        return entry, account

    async def earn(
        self,
        member_id: uuid.UUID,
        points: int,
        *,
        source: Source,
        key: str,
        ref: str | None = None,
        reason: str | None = None,
        actor: str | None = None,
        expires_at: datetime | None = None,
    ) -> Posting:
        """Post earned points as a new lot, valid for the merchant's expiry period (or until
        ``expires_at``, for points that keep the expiry they had elsewhere)."""
        begun = await self._begin(
            EntryKind.EARN,
            member_id,
            points,
            source=source,
            key=key,
            ref=ref,
            reason=reason,
            actor=actor,
        )
        if isinstance(begun, Posting):
            return begun
        entry, account = begun
        await self._append(entry, account)
        months = (await settings_of(self.session, self.tenant.id)).points_expiry_months
        self.session.add(
            PointsLot(
                merchant_id=self.tenant.id,
                entry_id=entry.id,
                member_id=member_id,
                points=points,
                remaining=points,
                expired=0,
                expires_at=expires_at or (clock.add_months(entry.at, months) if months else None),
            )
        )
        await self.session.flush()
        return Posting(entry)

    async def spend(
        self,
        member_id: uuid.UUID,
        points: int,
        *,
        source: Source,
        key: str,
        ref: str | None = None,
        reason: str | None = None,
        actor: str | None = None,
    ) -> Posting:
        """Take ``points`` from the oldest lots first; refused whole when the balance is short."""
        begun = await self._begin(
            EntryKind.SPEND,
            member_id,
            points,
            source=source,
            key=key,
            ref=ref,
            reason=reason,
            actor=actor,
        )
        if isinstance(begun, Posting):
            return begun
        entry, account = begun
        if account.balance < points:
            raise InsufficientPoints(
                f"the member has {account.balance} points; {points} cannot be spent",
                balance=account.balance,
            )
        await self._append(entry, account)
        await self._take(account, points, entry, record_uses=True)
        return Posting(entry)

    async def reverse(
        self,
        entry_id: uuid.UUID,
        *,
        key: str,
        reason: str | None = None,
        actor: str | None = None,
        points: int | None = None,
        at_most: bool = False,
    ) -> Posting:
        """Undo an earn or a spend, wholly or (``points``) in part, with a new entry pointing at
        it. Several partial reversals of one entry never undo more than it posted; with
        ``at_most``, asking for more than is left reverses what is left (refunds of orders whose
        points partly expired).

        Reversing a spend puts its points back into the lots they came from (keeping their
        expiry; the latest-expiring lots first when only part goes back). Reversing an earn
        takes back what is left of its lot, then, for points already spent, points from the
        member's other lots, oldest first; whatever the balance cannot cover is recorded as the
        shortfall, because a balance never goes below zero."""
        request_hash = fingerprint("reverse", entry=entry_id, reason=reason, points=points)
        if replay := await self._replay(key, request_hash):
            return replay
        if points is not None and points <= 0:
            raise ValidationFailed("points to reverse must be a positive whole number")
        original = await self.entries.get_or_404(entry_id)
        if original.kind not in (EntryKind.EARN, EntryKind.SPEND):
            raise NotReversible(
                f"a {original.kind} entry cannot be reversed; only earn and spend entries can"
            )
        account = await self.accounts.lock(original.member_id)
        earlier = list(
            (
                await self.session.scalars(
                    self.entries.select().where(PointsEntry.reverses_id == original.id)
                )
            ).all()
        )
        now = clock.now()
        await self._expire_due(account, now)
        entry = PointsEntry(
            member_id=original.member_id,
            kind=EntryKind.REVERSE,
            source=original.source,
            idempotency_key=key,
            request_hash=request_hash,
            reverses_id=original.id,
            ref=original.ref,
            reason=reason,
            actor=actor,
            at=now,
            shortfall=0,
        )
        if original.kind == EntryKind.SPEND:
            left = -original.points - sum(e.points for e in earlier)
            entry.points = self._reversible(original, earlier, left, points, at_most)
            await self._append(entry, account)
            await self._return_to_lots(original, earlier, entry, account, entry.points)
            await self._expire_due(account, now)  # points returned to lots already past expiry
        else:
            own = await self.session.get(PointsLot, original.id, populate_existing=True)
            undone = sum(-e.points + e.shortfall for e in earlier)
            left = original.points - (own.expired if own is not None else 0) - undone
            owed = self._reversible(original, earlier, left, points, at_most)
            take = min(owed, account.balance)
            entry.points = -take
            entry.shortfall = owed - take
            await self._append(entry, account)
            if own is not None:
                from_own = min(own.remaining, take)
                own.remaining -= from_own
                take -= from_own
            await self._take(account, take, entry, record_uses=False)
        await self.session.flush()
        return Posting(entry)

    @staticmethod
    def _reversible(
        original: PointsEntry,
        earlier: list[PointsEntry],
        left: int,
        points: int | None,
        at_most: bool,
    ) -> int:
        left = max(left, 0)
        if at_most and points is not None:
            if left == 0:
                raise NotReversible(f"no points of entry {original.id} are left to reverse")
            points = min(points, left)
        if earlier and left == 0:
            raise NotReversible(
                f"entry {original.id} was already reversed by entry {earlier[-1].id}",
                reversed_by=str(earlier[-1].id),
            )
        if points is not None and points > left:
            raise NotReversible(
                f"only {left} points of entry {original.id} are left to reverse", left=left
            )
        return left if points is None else points

    async def _return_to_lots(
        self,
        original: PointsEntry,
        earlier: list[PointsEntry],
        entry: PointsEntry,
        account: MembershipAccount,
        points: int,
    ) -> None:
        """Put ``points`` of a spend back into the lots it took them from, minus what earlier
        partial reversals already put back; record where they went."""
        took = dict(
            (
                await self.session.execute(
                    select(PointsLotUse.lot_id, PointsLotUse.points).where(
                        PointsLotUse.entry_id == original.id
                    )
                )
            ).all()
        )
        if earlier:
            returned = await self.session.execute(
                select(PointsLotUse.lot_id, func.sum(PointsLotUse.points))
                .where(PointsLotUse.entry_id.in_([e.id for e in earlier]))
                .group_by(PointsLotUse.lot_id)
            )
            for lot_id, back in returned.all():
                took[lot_id] -= back
        lots = await self.accounts.lots_of(account.member_id, only_ids=list(took))
        for lot in reversed(lots):  # latest expiry first: the member keeps points longest
            back = min(took[lot.entry_id], points)
            if back <= 0:
                continue
            lot.remaining += back
            points -= back
            self.session.add(
                PointsLotUse(
                    merchant_id=self.tenant.id, entry_id=entry.id, lot_id=lot.entry_id, points=back
                )
            )
        if points:
            raise RuntimeError("a spend's lot uses and its reversals disagree")  # an invariant

    async def _take(
        self, account: MembershipAccount, points: int, entry: PointsEntry, *, record_uses: bool
    ) -> None:
        """Consume ``points`` from the member's lots in spending order."""
        for lot in await self.accounts.lots_of(account.member_id):
            if points == 0:
                break
            used = min(lot.remaining, points)
            lot.remaining -= used
            points -= used
            if record_uses:
                self.session.add(
                    PointsLotUse(
                        merchant_id=self.tenant.id,
                        entry_id=entry.id,
                        lot_id=lot.entry_id,
                        points=used,
                    )
                )
        if points:
            raise RuntimeError("points lots and balance disagree")  # an invariant, not input
        await self.session.flush()

    async def expire_due(self, member_id: uuid.UUID) -> list[PointsEntry]:
        """Post expiry entries for the member's lots that are due (the worker calls this)."""
        account = await self.accounts.lock(member_id)
        return await self._expire_due(account, clock.now())

    async def _expire_due(self, account: MembershipAccount, now: datetime) -> list[PointsEntry]:
        posted = []
        for lot in await self.accounts.lots_of(account.member_id, due_by=now):
            points, lot.remaining = lot.remaining, 0
            lot.expired += points
            entry = PointsEntry(
                member_id=account.member_id,
                kind=EntryKind.EXPIRE,
                source=Source.EXPIRY,
                points=-points,
                idempotency_key=f"expire:{lot.entry_id}:{lot.expired}",
                request_hash=fingerprint("expire", lot=lot.entry_id, expired=lot.expired),
                ref=f"points-lot:{lot.entry_id}",
                reason=f"points valid until {lot.expires_at:%Y-%m-%d %H:%M} UTC expired",
                at=now,
            )
            posted.append(await self._append(entry, account))
        return posted
