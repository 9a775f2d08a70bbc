"""Worker sweeps of the tenancy domain."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock
from tribekit.kit.worker import Sweep, claim_due
from tribekit.models.tenancy import StaffSession


async def purge_expired_sessions(session: AsyncSession, batch_size: int) -> int:
    """Delete web sessions whose expiry is due."""
    due = select(StaffSession.id).where(StaffSession.expires_at <= clock.now())
    ids = list((await session.scalars(claim_due(due.order_by(StaffSession.id), batch_size))).all())
    if ids:
        await session.execute(delete(StaffSession).where(StaffSession.id.in_(ids)))
    return len(ids)


SWEEPS = [Sweep("tenancy.purge_expired_sessions", purge_expired_sessions, every_seconds=300)]
