"""The points ledger: the ledger kernel (``kit/ledger.py``: append-only entries, one posting per
business event, one lock per account, shortfalls instead of negative balances) plus what is
particular to points: lots with expiry, and which sources may earn or spend.

Every posting locks the member's account row first (``Accounts.lock``, rank ACCOUNT of
``kit.locks``), then expires the member's due lots, then writes. The cached ``balance`` on the
account moves in the same transaction as the entry it sums, and a CHECK constraint keeps it
from ever going below zero.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import TypeAlias

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock
from tribekit.kit import ledger as kernel
from tribekit.kit.errors import Conflict, ValidationFailed
from tribekit.kit.idempotency import fingerprint
from tribekit.kit.ledger import NotReversible
from tribekit.models.membership import MembershipAccount, PointsEntry, PointsLot, PointsLotUse
from tribekit.tenancy.principal import Tenant

from .repository import Accounts, Entries, settings_of

__all__ = [
    "EARN_SOURCES",
    "QUALIFYING_SOURCES",
    "SPEND_SOURCES",
    "EntryKind",
    "InsufficientPoints",
    "NotReversible",
    "PointsLedger",
    "Posting",
    "Source",
]


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

Posting: TypeAlias = kernel.Posting[PointsEntry]


class InsufficientPoints(Conflict):
    code = "insufficient_points"
    title = "Not enough points"


class PointsLedger(kernel.Ledger[MembershipAccount, PointsEntry]):
    CREDIT = EntryKind.EARN
    DEBIT = EntryKind.SPEND
    REVERSE = EntryKind.REVERSE
    unit = "points"

    def __init__(self, session: AsyncSession, tenant: Tenant) -> None:
        super().__init__(session)
        self.tenant = tenant
        self.accounts = Accounts(session, tenant.id)
        self.entries = Entries(session, tenant.id)

    # ---- the kernel's questions about our tables -------------------------------------------------

    async def lock(self, owner_id: uuid.UUID) -> MembershipAccount:
        return await self.accounts.lock(owner_id)

    async def find(self, key: str) -> PointsEntry | None:
        return await self.entries.by_key(key)

    async def entry(self, entry_id: uuid.UUID) -> PointsEntry:
        return await self.entries.get_or_404(entry_id)

    def owner_of(self, entry: PointsEntry) -> uuid.UUID:
        return entry.member_id

    async def reversals_of(self, entry: PointsEntry) -> list[PointsEntry]:
        stmt = self.entries.select().where(PointsEntry.reverses_id == entry.id)
        return list((await self.session.scalars(stmt)).all())

    def insufficient(self, account: MembershipAccount, amount: int) -> Exception:
        return InsufficientPoints(
            f"the member has {account.balance} points; {amount} cannot be spent",
            balance=account.balance,
        )

    async def before_posting(self, account: MembershipAccount) -> None:
        await self._expire_due(account, clock.now())

    async def credit_left(self, original: PointsEntry) -> int:
        own = await self.session.get(PointsLot, original.id, populate_existing=True)
        return original.points - (own.expired if own is not None else 0)

    async def after_reversal(
        self,
        original: PointsEntry,
        earlier: list[PointsEntry],
        entry: PointsEntry,
        account: MembershipAccount,
    ) -> None:
        if original.kind == EntryKind.SPEND:
            await self._return_to_lots(original, earlier, entry, account, entry.points)
            await self._expire_due(account, entry.at)  # points returned to lots already past expiry
        else:
            take = -entry.points
            own = await self.session.get(PointsLot, original.id)
            if own is not None:
                from_own = min(own.remaining, take)
                own.remaining -= from_own
                take -= from_own
            await self._take(account, take, entry, record_uses=False)
        await self.session.flush()

    # ---- postings --------------------------------------------------------------------------------

    def _entry(
        self,
        kind: EntryKind,
        member_id: uuid.UUID,
        *,
        source: Source,
        key: str,
        request_hash: str,
        ref: str | None,
        reason: str | None,
        actor: str | None,
    ) -> PointsEntry:
        return PointsEntry(
            merchant_id=self.tenant.id,
            member_id=member_id,
            kind=kind,
            source=source,
            idempotency_key=key,
            request_hash=request_hash,
            ref=ref,
            reason=reason,
            actor=actor,
            at=clock.now(),
        )

    @staticmethod
    def _check(kind: EntryKind, points: int, source: Source) -> None:
        allowed = EARN_SOURCES if kind == EntryKind.EARN else SPEND_SOURCES
        if source not in allowed:
            raise ValueError(f"{source} is not a source of a {kind} entry")
        if points <= 0:
            raise ValidationFailed(f"points to {kind} must be a positive whole number")

    async def _post(
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
    ) -> tuple[Posting, kernel.Posted[MembershipAccount, PointsEntry] | None]:
        """Check an earn or a spend, then answer its replay (with no posting) or post it: a
        credit for an earn, a debit refused whole when the balance is short for a spend."""
        self._check(kind, points, source)
        request_hash = fingerprint(
            kind, member=member_id, points=points, source=source, ref=ref, reason=reason
        )
        if replay := await self.replay(key, request_hash):
            return replay, None
        posted = await self.post(
            member_id,
            points if kind == EntryKind.EARN else -points,
            lambda: self._entry(
                kind,
                member_id,
                source=source,
                key=key,
                request_hash=request_hash,
                ref=ref,
                reason=reason,
                actor=actor,
            ),
        )
        return Posting(posted.entry), posted

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
        replay, posted = await self._post(
            EntryKind.EARN,
            member_id,
            points,
            source=source,
            key=key,
            ref=ref,
            reason=reason,
            actor=actor,
        )
        if posted is None:
            return replay
        entry = posted.entry
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
        replay, posted = await self._post(
            EntryKind.SPEND,
            member_id,
            points,
            source=source,
            key=key,
            ref=ref,
            reason=reason,
            actor=actor,
        )
        if posted is None:
            return replay
        await self._take(posted.account, points, posted.entry, record_uses=True)
        return Posting(posted.entry)

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

        def build(original: PointsEntry) -> PointsEntry:
            entry = self._entry(
                EntryKind.REVERSE,
                original.member_id,
                source=Source(original.source),
                key=key,
                request_hash=request_hash,
                ref=original.ref,
                reason=reason,
                actor=actor,
            )
            entry.reverses_id = original.id
            return entry

        request_hash = fingerprint("reverse", entry=entry_id, reason=reason, points=points)
        return await self.post_reversal(
            entry_id,
            key=key,
            fingerprint=request_hash,
            build=build,
            amount=points,
            at_most=at_most,
        )

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
                merchant_id=self.tenant.id,
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
            posted.append(await self.append(entry, account))
        return posted
