"""Coupon queries. A use is taken with a conditional update (``used < usage_limit``) and given
back once per redemption; coupon rows are the last rank of ``kit.locks``."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update

from tribekit.kit import locks
from tribekit.kit.repository import TenantRepository
from tribekit.models.coupons import Coupon, CouponRedemption


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
