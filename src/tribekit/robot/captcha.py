"""The join captcha (a policy option, ``captcha``): a member who joins gets the welcome with an
"I'm not a robot" button and may not post until they press it (their messages are removed
quietly); one who has not pressed it within the policy's minutes is removed from the group.

One ``JoinCaptcha`` row per member and group, all changes conditional on its status, so a press
and the deadline racing each other settle it once: the press solves only a ``pending`` row; the
worker's sweep claims due ``pending`` rows (``FOR UPDATE SKIP LOCKED``), re-checks them under
the lock and owes the removal as a durable action, carried out after commit like any other.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock
from tribekit.kit.db import add_unique
from tribekit.kit.errors import Conflict
from tribekit.kit.worker import Sweep, claim_due
from tribekit.models.communities import Community
from tribekit.models.enums import ActionKind, CommunityStatus
from tribekit.models.robot import JoinCaptcha
from tribekit.models.tenancy import Merchant
from tribekit.tenancy.principal import Tenant

from . import actions
from .channels import OutboundAction

PENDING, SOLVED, EXPIRED, LEFT = "pending", "solved", "expired", "left"
_PREFIX = "captcha:"


def button_data(member_id: uuid.UUID) -> str:
    """What the member's button carries (Telegram allows 64 bytes): whose captcha it is."""
    return f"{_PREFIX}{member_id}"


def is_button(data: str | None) -> bool:
    return bool(data) and str(data).startswith(_PREFIX)


async def challenge(
    session: AsyncSession,
    tenant: Tenant,
    *,
    community_id: uuid.UUID,
    member_id: uuid.UUID,
    robot_account_id: uuid.UUID,
    person_id: str,
    minutes: int,
) -> bool:
    """Ask the member who joined; False when they are being asked already (the platform
    reports one join twice: the service message and the membership change)."""
    now = clock.now()
    due = now + timedelta(minutes=minutes)
    row = JoinCaptcha(
        merchant_id=tenant.id,
        community_id=community_id,
        member_id=member_id,
        robot_account_id=robot_account_id,
        person_id=person_id,
        status=PENDING,
        due_at=due,
        created_at=now,
    )
    try:
        await add_unique(session, "asked already", row)
    except Conflict:
        # Asked before (they left, or solved it, and join again): ask again.
        again = await session.execute(
            update(JoinCaptcha)
            .where(
                JoinCaptcha.community_id == community_id,
                JoinCaptcha.member_id == member_id,
                JoinCaptcha.status != PENDING,
            )
            .values(
                status=PENDING,
                due_at=due,
                created_at=now,
                settled_at=None,
                robot_account_id=robot_account_id,
                person_id=person_id,
            )
            .execution_options(synchronize_session=False)
        )
        return bool(again.rowcount)  # type: ignore[attr-defined]  # a DML result has one
    return True


async def pending(session: AsyncSession, community_id: uuid.UUID, member_id: uuid.UUID) -> bool:
    found = await session.scalar(
        select(JoinCaptcha.id).where(
            JoinCaptcha.community_id == community_id,
            JoinCaptcha.member_id == member_id,
            JoinCaptcha.status == PENDING,
        )
    )
    return found is not None


async def _settle(
    session: AsyncSession, community_id: uuid.UUID, member_id: uuid.UUID, status: str
) -> bool:
    settled = await session.scalar(
        update(JoinCaptcha)
        .where(
            JoinCaptcha.community_id == community_id,
            JoinCaptcha.member_id == member_id,
            JoinCaptcha.status == PENDING,
        )
        .values(status=status, settled_at=clock.now())
        .returning(JoinCaptcha.id)
        .execution_options(synchronize_session=False)
    )
    return settled is not None


async def solve(session: AsyncSession, community_id: uuid.UUID, member_id: uuid.UUID) -> bool:
    """The member pressed their button: solved, if it was still pending."""
    return await _settle(session, community_id, member_id, SOLVED)


async def forget(session: AsyncSession, community_id: uuid.UUID, member_id: uuid.UUID) -> None:
    """The member left before answering: nobody to remove."""
    await _settle(session, community_id, member_id, LEFT)


async def expire_due(session: AsyncSession, batch_size: int) -> int:
    """Claim captchas past their due time that no other worker holds, and owe each member's
    removal from the group (once per ask: the decision names the row and its due time)."""
    now = clock.now()
    due = (
        select(JoinCaptcha)
        .where(JoinCaptcha.status == PENDING, JoinCaptcha.due_at <= now)
        .order_by(JoinCaptcha.due_at)
    )
    rows = (await session.scalars(claim_due(due, batch_size))).all()
    tenants: dict[uuid.UUID, Tenant] = {}
    for row in rows:
        # Locked and re-read: a press that committed first left it solved.
        if row.status != PENDING or row.due_at > now:
            continue
        row.status, row.settled_at = EXPIRED, now
        community = await session.get(Community, row.community_id)
        if (
            community is None
            or community.status != CommunityStatus.ACTIVE
            or community.external_id is None
        ):
            continue  # the group is no longer run by the robot: nothing to do there
        if row.merchant_id not in tenants:
            merchant = await session.get(Merchant, row.merchant_id)
            assert merchant is not None  # a captcha's merchant goes with it (cascade)
            tenants[row.merchant_id] = Tenant.of(merchant)
        await actions.owe(
            session,
            tenants[row.merchant_id],
            robot_account_id=row.robot_account_id,
            community_id=row.community_id,
            decision=f"captcha:{row.id}:{int(row.due_at.timestamp())}",
            action=OutboundAction(ActionKind.KICK, community.external_id, person_id=row.person_id),
        )
    await session.flush()
    return len(rows)


def sweep() -> Sweep:
    return Sweep("robot.expire_join_captchas", expire_due, every_seconds=5, batch_size=100)
