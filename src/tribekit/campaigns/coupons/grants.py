"""Coupons given to members: granted (a welcome, birthday or referral gift, or by staff) or
claimed from a link. Each is a ``CouponGrant``: one use of the coupon that is the member's own,
valid from when it was issued for the coupon's ``valid_days`` (or within its fixed dates).

A grant is given once per (coupon, member, source key): the unique key decides, so a welcome
given twice at once, a sweep run by two workers, or a claim clicked twice give one grant.

Claim links carry a signed token naming the merchant and the coupon (``tkc_<payload>.<hmac>``,
signed with the server's secret key like member links, under a context of its own); a member
claims the coupon once with it. The link stays valid as long as the coupon is active and not
ended: staff switch the coupon off to stop it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock, signed
from tribekit.kit.errors import Conflict, NotFound
from tribekit.kit.ids import new_id
from tribekit.kit.pagination import Page, paginate
from tribekit.members.repository import Members
from tribekit.models.coupons import Coupon, CouponGrant
from tribekit.tenancy.principal import Tenant

from .repository import Coupons, Grants

GrantReason = Literal["welcome", "birthday", "referral"]
REASONS: tuple[GrantReason, ...] = ("welcome", "birthday", "referral")
CLAIM_PREFIX = "tkc_"
CLAIM_PURPOSE = "coupon-claim"
#: The source key of a claim: a member claims a coupon once.
CLAIMED = "claim"


class CouponIssueMode(Conflict):
    code = "coupon_issue_mode"
    title = "The coupon is not issued this way"


class CouponClaimedAlready(Conflict):
    code = "coupon_claimed_already"
    title = "The member claimed this coupon already"


class CouponNotClaimable(Conflict):
    code = "coupon_not_claimable"
    title = "The coupon cannot be claimed now"


def window(coupon: Coupon, now: datetime) -> tuple[datetime, datetime | None]:
    """The grant's own validity when issued ``now``: ``valid_days`` from now; without them,
    from now on, within the coupon's fixed dates (kept on the coupon, so that a change of them
    applies to the grants given already)."""
    if coupon.valid_days is not None:
        return now, now + timedelta(days=coupon.valid_days)
    return now, None


def validity(coupon: Coupon, grant: CouponGrant) -> tuple[datetime, datetime | None]:
    """When the member can use the grant: its own validity within the coupon's dates."""
    starts = grant.valid_from
    if coupon.starts_at is not None and coupon.starts_at > starts:
        starts = coupon.starts_at
    ends = grant.valid_until
    if coupon.ends_at is not None and (ends is None or coupon.ends_at < ends):
        ends = coupon.ends_at
    return starts, ends


def _row(coupon: Coupon, member_id: uuid.UUID, source_key: str, now: datetime) -> dict[str, object]:
    valid_from, valid_until = window(coupon, now)
    return {
        "id": new_id(),
        "coupon_id": coupon.id,
        "member_id": member_id,
        "source_key": source_key,
        "valid_from": valid_from,
        "valid_until": valid_until,
        "order_id": None,
        "granted_at": now,
    }


async def give_many(
    session: AsyncSession,
    tenant: Tenant,
    coupons: Sequence[Coupon],
    member_ids: Sequence[uuid.UUID],
    source_key: str,
) -> list[CouponGrant]:
    """Grant each coupon to each member under ``source_key``; the grants made now (one a
    member holds already under that key is left as it is)."""
    now = clock.now()
    rows = [_row(c, m, source_key, now) for c in coupons for m in dict.fromkeys(member_ids)]
    grants = Grants(session, tenant.id)
    made: set[uuid.UUID] = set()
    for start in range(0, len(rows), 500):
        made |= await grants.insert_new(rows[start : start + 500])
    if not made:
        return []
    stmt = grants.select().where(CouponGrant.id.in_(made)).order_by(CouponGrant.id)
    return list((await session.scalars(stmt)).all())


async def _current_member(session: AsyncSession, tenant: Tenant, member_id: uuid.UUID) -> None:
    if await Members(session, tenant.id).get_current(member_id) is None:
        raise NotFound(f"no member with id {member_id} at this merchant")


async def grant(
    session: AsyncSession,
    tenant: Tenant,
    member_id: uuid.UUID,
    reason_or_coupon: GrantReason | uuid.UUID,
    source_key: str,
) -> list[CouponGrant]:
    """Give the member a coupon, once per (coupon, member, ``source_key``): every active grant
    coupon of this reason (``welcome``, ``birthday``, ``referral``), or the one coupon named by
    id (a grant or claim coupon). Returns the grants made by this call (none when the member
    had them already, or when the merchant has no such coupon). ``source_key`` names the
    occasion, e.g. ``referral:<order id>`` for the referral reward of one order.

    404 for a member or coupon not of this merchant; 409 ``coupon_issue_mode`` for a code
    coupon (members type those)."""
    await _current_member(session, tenant, member_id)
    if isinstance(reason_or_coupon, uuid.UUID):
        coupon = await Coupons(session, tenant.id).get_or_404(reason_or_coupon)
        check_grantable(coupon)
        return await give_many(session, tenant, [coupon], [member_id], source_key)
    coupons = await Coupons(session, tenant.id).of_reason(reason_or_coupon)
    return await give_many(session, tenant, coupons, [member_id], source_key)


async def grant_welcome(
    session: AsyncSession, tenant: Tenant, member_id: uuid.UUID
) -> list[CouponGrant]:
    """The welcome gift of a member just made (idempotent: once per member and coupon)."""
    coupons = await Coupons(session, tenant.id).of_reason("welcome")
    if not coupons:
        return []
    return await give_many(session, tenant, coupons, [member_id], "welcome")


def check_grantable(coupon: Coupon) -> None:
    if coupon.issue_mode == "code":
        raise CouponIssueMode(
            f"coupon {coupon.code} is a code members type; only grant and claim coupons are "
            "given to members (make a coupon with issue_mode grant)",
            issue_mode=coupon.issue_mode,
        )


@dataclass(frozen=True)
class StaffGrants:
    granted: list[CouponGrant]
    already: list[uuid.UUID]  # members holding this grant already


async def staff_grant(
    session: AsyncSession,
    tenant: Tenant,
    coupon_id: uuid.UUID,
    member_ids: Sequence[uuid.UUID],
    source_key: str,
) -> StaffGrants:
    """Staff give a grant or claim coupon to members (404 for a member not of this merchant:
    nothing is given then)."""
    coupon = await Coupons(session, tenant.id).get_or_404(coupon_id)
    check_grantable(coupon)
    members = Members(session, tenant.id)
    for index, member_id in enumerate(member_ids):
        if await members.get_current(member_id) is None:
            raise NotFound(f"member_ids.{index}: no member with id {member_id} at this merchant")
    made = await give_many(session, tenant, [coupon], member_ids, source_key)
    got = {g.member_id for g in made}
    return StaffGrants(made, [m for m in dict.fromkeys(member_ids) if m not in got])


async def list_grants(
    session: AsyncSession, tenant: Tenant, coupon_id: uuid.UUID, *, limit: int, cursor: str | None
) -> Page[CouponGrant]:
    await Coupons(session, tenant.id).get_or_404(coupon_id)
    stmt = Grants(session, tenant.id).select().where(CouponGrant.coupon_id == coupon_id)
    return await paginate(session, stmt, key=CouponGrant.id, limit=limit, cursor=cursor)


# ---- claim links -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimLink:
    token: str
    url: str | None


async def claim_link(
    session: AsyncSession,
    tenant: Tenant,
    secret_key: str,
    coupon_id: uuid.UUID,
    public_url: str | None,
) -> ClaimLink:
    """The link members claim a claim coupon from; the same link every time. ``url`` is the
    member page at ``<public_url>/m/coupons/claim?c=<token>`` (None without a public URL)."""
    coupon = await Coupons(session, tenant.id).get_or_404(coupon_id)
    if coupon.issue_mode != "claim":
        raise CouponIssueMode(
            f"coupon {coupon.code} is issued by {coupon.issue_mode}; a claim link is for a "
            "coupon with issue_mode claim",
            issue_mode=coupon.issue_mode,
        )
    body = {"m": str(tenant.id), "c": str(coupon.id)}
    token = signed.seal(secret_key, CLAIM_PURPOSE, CLAIM_PREFIX, body)
    url = f"{public_url.rstrip('/')}/m/coupons/claim?c={token}" if public_url else None
    return ClaimLink(token, url)


def read_claim(secret_key: str, token: str) -> tuple[uuid.UUID, uuid.UUID]:
    """The merchant and the coupon a claim token names, once its signature is checked."""
    bad = NotFound("this claim link is not valid at this shop; ask the shop for its link")
    body = signed.opened(secret_key, CLAIM_PURPOSE, CLAIM_PREFIX, token)
    if body is None:
        raise bad
    try:
        return uuid.UUID(body["m"]), uuid.UUID(body["c"])
    except (ValueError, KeyError, TypeError) as exc:
        raise bad from exc


def _claimed_coupon(secret_key: str, tenant: Tenant, token: str) -> uuid.UUID:
    """The coupon a claim token names, if it is a token of this merchant's."""
    merchant_id, coupon_id = read_claim(secret_key, token)
    if merchant_id != tenant.id:
        raise NotFound("this claim link is not valid at this shop; ask the shop for its link")
    return coupon_id


async def claim(
    session: AsyncSession,
    tenant: Tenant,
    secret_key: str,
    member_id: uuid.UUID,
    token: str,
) -> tuple[Coupon, CouponGrant]:
    """The member claims the coupon of a claim link: once (409 ``coupon_claimed_already``
    after), while the coupon is active, not ended and has uses left (409
    ``coupon_not_claimable``). The uses left are looked at as a courtesy: redemption is what
    holds the limit, so a coupon claimed by more members than it has uses serves the first."""
    coupon_id = _claimed_coupon(secret_key, tenant, token)
    coupon = await Coupons(session, tenant.id).get(coupon_id)
    if coupon is None or coupon.issue_mode != "claim":
        raise NotFound("this claim link is not valid at this shop; ask the shop for its link")
    now = clock.now()
    why = None
    if not coupon.active:
        why = "is switched off by the shop"
    elif coupon.ends_at is not None and coupon.ends_at <= now:
        why = f"ended at {coupon.ends_at:%Y-%m-%d %H:%M} UTC"
    elif coupon.usage_limit is not None and coupon.used >= coupon.usage_limit:
        why = "has no uses left"
    if why is not None:
        raise CouponNotClaimable(f"coupon {coupon.code} {why}", code=coupon.code)
    made = await give_many(session, tenant, [coupon], [member_id], CLAIMED)
    if not made:
        raise CouponClaimedAlready(
            f"coupon {coupon.code} is claimed already; it is in your coupons", code=coupon.code
        )
    return coupon, made[0]


# ---- the member's own coupons ----------------------------------------------------------------


@dataclass(frozen=True)
class MyCoupon:
    grant: CouponGrant
    coupon: Coupon
    usable_now: bool


async def my_coupons(
    session: AsyncSession,
    tenant: Tenant,
    member_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
) -> Page[MyCoupon]:
    """The coupons given to the member (granted or claimed), newest first, each with its
    validity and whether it is used."""
    stmt = Grants(session, tenant.id).select().where(CouponGrant.member_id == member_id)
    page = await paginate(session, stmt, key=CouponGrant.id, limit=limit, cursor=cursor)
    coupons = await Coupons(session, tenant.id).by_ids([g.coupon_id for g in page.items])
    items = [
        MyCoupon(g, coupons[g.coupon_id], usable_now(coupons[g.coupon_id], g)) for g in page.items
    ]
    return Page(items=items, next_cursor=page.next_cursor)


def usable_now(coupon: Coupon, grant: CouponGrant) -> bool:
    """Not used, the coupon active, and within the grant's validity."""
    now = clock.now()
    starts, ends = validity(coupon, grant)
    return (
        grant.order_id is None and coupon.active and starts <= now and (ends is None or ends > now)
    )
