"""The worker's part of coupons: the birthday gift.

Each active birthday coupon (issue mode grant, reason ``birthday``) has a due time,
``grants_due_at``: now when it is made or switched on, then the start of the merchant's next
day. The sweep claims the due coupons (``FOR UPDATE SKIP LOCKED``: any number of workers share
them) and grants each to the members whose birthday is on the merchant's days from the due
time's day through today (a worker that was down catches up, at most ``CATCH_UP_DAYS``), under
the source key ``birthday:<year>``: once a year, whatever runs twice. A birthday on 29 February
is kept on 28 February in other years.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import extract, select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock, locks
from tribekit.kit.worker import Sweep, claim_due
from tribekit.members.repository import Members
from tribekit.models.coupons import Coupon
from tribekit.models.members import Member
from tribekit.models.tenancy import Merchant
from tribekit.tenancy.principal import Tenant

from .grants import give_many

CATCH_UP_DAYS = 7


def _birthdays_on(day: date) -> list[tuple[int, int]]:
    """The (month, day) birthdays kept on ``day``."""
    kept = [(day.month, day.day)]
    leap = day.year % 4 == 0 and (day.year % 100 != 0 or day.year % 400 == 0)
    if (day.month, day.day) == (2, 28) and not leap:
        kept.append((2, 29))
    return kept


async def _born_on(session: AsyncSession, tenant: Tenant, day: date) -> list[uuid.UUID]:
    """Current, unblocked members of the merchant whose birthday is kept on ``day``."""
    found: list[uuid.UUID] = []
    for month, dom in _birthdays_on(day):
        stmt = (
            Members(session, tenant.id)
            .current()
            .with_only_columns(Member.id)
            .where(
                Member.blocked.is_(False),
                Member.birthday.is_not(None),
                extract("month", Member.birthday) == month,
                extract("day", Member.birthday) == dom,
            )
            .order_by(Member.id)
        )
        found += (await session.scalars(stmt)).all()
    return found


def _next_midnight(now: datetime, zone: ZoneInfo) -> datetime:
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(), zone).astimezone(now.tzinfo)


async def give_birthday_gifts(session: AsyncSession, batch_size: int) -> int:
    """Grant the due birthday coupons; how many coupons were swept."""
    now = clock.now()
    claimed = list(
        (
            await session.scalars(
                claim_due(
                    select(Coupon)
                    .where(Coupon.grants_due_at.is_not(None), Coupon.grants_due_at <= now)
                    .order_by(Coupon.id),
                    batch_size,
                )
            )
        ).all()
    )
    locks.acquire(session, locks.Rank.COUPON, [c.id for c in claimed], skip_locked=True)
    by_merchant: dict[uuid.UUID, list[Coupon]] = defaultdict(list)
    for coupon in claimed:
        by_merchant[coupon.merchant_id].append(coupon)
    for merchant_id, coupons in by_merchant.items():
        merchant = await session.get(Merchant, merchant_id)
        if merchant is None:
            continue
        tenant = Tenant.of(merchant)
        zone = ZoneInfo(tenant.timezone)
        today = now.astimezone(zone).date()
        for coupon in coupons:
            due = coupon.grants_due_at
            assert due is not None
            still = coupon.active and coupon.issue_mode == "grant"
            if still and coupon.grant_reason == "birthday":
                day = max(due.astimezone(zone).date(), today - timedelta(days=CATCH_UP_DAYS - 1))
                while day <= today:
                    members = await _born_on(session, tenant, day)
                    await give_many(session, tenant, [coupon], members, f"birthday:{day.year}")
                    day += timedelta(days=1)
                coupon.grants_due_at = _next_midnight(now, zone)
            else:
                coupon.grants_due_at = None
    await session.flush()
    return len(claimed)


SWEEPS = [Sweep("coupon_birthday_gifts", give_birthday_gifts, every_seconds=60, batch_size=20)]
