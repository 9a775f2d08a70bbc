"""Forget stored answers after 24 hours."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit.worker import Sweep

from . import repository


async def purge_expired(session: AsyncSession, batch_size: int) -> int:
    await repository.purge_expired(session)
    return 0  # one statement does all that is due


SWEEPS = [Sweep("purge_idempotency_records", purge_expired, every_seconds=600)]
