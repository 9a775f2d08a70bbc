"""The worker's part of group buys: one sweep opens, closes and settles them (``closing.py``).
Settling refunds, so the sweep is built with the registry of payment providers."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit.worker import Sweep
from tribekit.orders.payments import PaymentProvider

from . import closing


def sweeps(providers: Mapping[str, PaymentProvider]) -> list[Sweep]:
    async def run(session: AsyncSession, batch_size: int) -> int:
        # One group buy step per unit of work: a team's settlement locks its own rows up
        # front, and two teams' rows in one transaction would not be in one id order.
        del batch_size
        group_buy = await closing.claim(session)
        if group_buy is None:
            return 0
        await closing.step(session, providers, group_buy)
        return 1

    return [Sweep("group_buys", run, every_seconds=1.0, batch_size=1)]
