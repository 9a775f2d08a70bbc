"""Coupon queries. A use is taken with a conditional update (``used < usage_limit``) and given
back once per redemption; coupon rows are the last rank of ``kit.locks``.

A member's grants take no rank of their own: a grant row changes (taken by an order, freed
again) only while its coupon's row is locked, so the coupon lock orders every change to them;
new grants are inserts that never wait but on a twin of the same (coupon, member, source)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from tribekit.kit import locks
from tribekit.kit.repository import TenantRepository
from tribekit.models.coupons import Coupon, CouponGrant, CouponRedemption


class Coupons(TenantRepository[Coupon]):
    model = Coupon
    noun = "coupon"
    lock_rank = locks.Rank.COUPON

    async def by_codes(self, codes: list[str]) -> dict[str, Coupon]:
        rows = await self.session.scalars(self.select().where(Coupon.code.in_(codes)))
        return {row.code: row for row in rows}

    async def member_uses(self, coupon_id: uuid.UUID, member_id: uuid.UUID) -> int:
        used = await self.session.scalar(
            select(func.count()).where(
                CouponRedemption.merchant_id == self.merchant_id,
                CouponRedemption.coupon_id == coupon_id,
                CouponRedemption.member_id == member_id,
                CouponRedemption.released.is_(False),
            )
        )
        return int(used or 0)

    async def take_use(self, coupon_id: uuid.UUID) -> bool:
        locks.acquire(self.session, locks.Rank.COUPON, [coupon_id])
        result = await self.session.execute(
            update(Coupon)
            .where(
                Coupon.merchant_id == self.merchant_id,
                Coupon.id == coupon_id,
                (Coupon.usage_limit.is_(None)) | (Coupon.used < Coupon.usage_limit),
            )
            .values(used=Coupon.used + 1)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]  # DML results have it

    async def give_back(self, order_id: uuid.UUID) -> None:
        released = await self.session.execute(
            update(CouponRedemption)
            .where(
                CouponRedemption.merchant_id == self.merchant_id,
                CouponRedemption.order_id == order_id,
                CouponRedemption.released.is_(False),
            )
            .values(released=True)
            .returning(CouponRedemption.coupon_id)
        )
        coupon_ids = sorted(released.scalars().all())
        locks.acquire(self.session, locks.Rank.COUPON, coupon_ids)
        for coupon_id in coupon_ids:
            await self.session.execute(
                update(Coupon)
                .where(Coupon.merchant_id == self.merchant_id, Coupon.id == coupon_id)
                .values(used=Coupon.used - 1)
                .execution_options(synchronize_session=False)
            )
        if coupon_ids:  # the grants the order used are the member's again (coupons locked)
            await self.session.execute(
                update(CouponGrant)
                .where(
                    CouponGrant.merchant_id == self.merchant_id,
                    CouponGrant.order_id == order_id,
                )
                .values(order_id=None)
                .execution_options(synchronize_session=False)
            )

    async def of_reason(self, reason: str) -> list[Coupon]:
        """The active coupons granted for ``reason`` (welcome, birthday, referral)."""
        stmt = self.select().where(
            Coupon.issue_mode == "grant", Coupon.grant_reason == reason, Coupon.active.is_(True)
        )
        return list((await self.session.scalars(stmt.order_by(Coupon.id))).all())

    async def by_ids(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Coupon]:
        if not ids:
            return {}
        rows = await self.session.scalars(self.select().where(Coupon.id.in_(set(ids))))
        return {row.id: row for row in rows}


class Grants(TenantRepository[CouponGrant]):
    model = CouponGrant
    noun = "coupon grant"

    async def insert_new(self, rows: Sequence[dict[str, Any]]) -> set[uuid.UUID]:
        """Insert grants, skipping any whose (coupon, member, source) exists; the ids of those
        inserted. The unique key decides, so two givers at once give once."""
        if not rows:
            return set()
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = (
            insert(CouponGrant)
            .values([{**row, "merchant_id": self.merchant_id} for row in rows])
            .on_conflict_do_nothing(index_elements=["coupon_id", "member_id", "source_key"])
            .returning(CouponGrant.id)
        )
        return set((await self.session.scalars(stmt)).all())

    async def held(
        self, member_id: uuid.UUID, coupon_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[CouponGrant]]:
        """The member's grants of these coupons."""
        found: dict[uuid.UUID, list[CouponGrant]] = {c: [] for c in coupon_ids}
        if not coupon_ids:
            return found
        stmt = self.select().where(
            CouponGrant.member_id == member_id, CouponGrant.coupon_id.in_(set(coupon_ids))
        )
        for row in await self.session.scalars(stmt.order_by(CouponGrant.id)):
            found[row.coupon_id].append(row)
        return found

    async def take(
        self, coupon_id: uuid.UUID, member_id: uuid.UUID, order_id: uuid.UUID, now: datetime
    ) -> bool:
        """Give the order one of the member's free grants of the coupon that is valid now (the
        one ending first). The caller holds the coupon's row lock, so no other transaction
        takes or frees a grant of it meanwhile; the update is conditional all the same."""
        assert locks.holds(self.session, locks.Rank.COUPON, coupon_id)
        candidates = await self.session.scalars(
            self.select(CouponGrant.id)
            .where(
                CouponGrant.coupon_id == coupon_id,
                CouponGrant.member_id == member_id,
                CouponGrant.order_id.is_(None),
                CouponGrant.valid_from <= now,
                (CouponGrant.valid_until.is_(None)) | (CouponGrant.valid_until > now),
            )
            .order_by(CouponGrant.valid_until.is_(None), CouponGrant.valid_until, CouponGrant.id)
        )
        for grant_id in candidates.all():
            taken = await self.session.execute(
                update(CouponGrant)
                .where(
                    CouponGrant.merchant_id == self.merchant_id,
                    CouponGrant.id == grant_id,
                    CouponGrant.order_id.is_(None),
                )
                .values(order_id=order_id)
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount:  # type: ignore[attr-defined]  # DML results have it
                return True
        return False
