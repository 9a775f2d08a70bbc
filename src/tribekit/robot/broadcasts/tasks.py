"""The broadcasts' worker sweeps.

* ``expand``: a scheduled broadcast whose ``send_at`` has come gets its delivery rows
  (``audience.py``) and is ``sending``; a sending broadcast left with nothing pending (its
  last worker stopped before it could say so) is ``done``.
* ``deliver``: due deliveries are claimed, and after the claim commits sent within the
  channels' limits and recorded (``deliveries.py``).

Any number of workers may run both: claims skip what another worker holds.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import exists, not_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock, outbox
from tribekit.kit.db import Database
from tribekit.kit.throttle import MemoryThrottle, Throttle
from tribekit.kit.worker import Sweep, claim_due, wake_after_commit
from tribekit.models.broadcasts import Broadcast, BroadcastDelivery
from tribekit.robot.channels import Channel, DirectChats

from . import audience
from .deliveries import claim_deliveries
from .sending import Sender
from .states import DELIVER_SWEEP, EXPAND_SWEEP, Audience, BroadcastStatus, DeliveryStatus

#: Broadcasts expanded per run: each may write thousands of rows.
EXPAND_BATCH = 5


def direct_channels(channels: Mapping[str, Channel]) -> list[str]:
    """The channels a direct message can go out on, in the order they are preferred."""
    return [name for name, found in channels.items() if isinstance(found, DirectChats)]


async def expand_due(session: AsyncSession, channels: Mapping[str, Channel], limit: int) -> int:
    """Write the deliveries of broadcasts whose time has come; finish sending broadcasts with
    nothing pending. How many broadcasts were expanded."""
    now = clock.now()
    due = (
        await session.scalars(
            claim_due(
                select(Broadcast)
                .where(
                    Broadcast.status == BroadcastStatus.SCHEDULED.value,
                    Broadcast.send_at <= now,
                )
                .order_by(Broadcast.send_at, Broadcast.id),
                limit,
            ).execution_options(populate_existing=True)
        )
    ).all()
    dm = direct_channels(channels)
    quotas = {
        name: found.capabilities.monthly_mass_messages
        for name, found in channels.items()
        if found.capabilities.monthly_mass_messages is not None
    }
    for broadcast in due:
        if broadcast.audience == Audience.MEMBERS:
            targets = await audience.member_targets(session, broadcast, dm)
        else:
            targets = await audience.community_targets(session, broadcast, quotas)
        pending = await audience.write_deliveries(session, broadcast, targets, now)
        broadcast.expanded_at = now
        if pending:
            broadcast.status = BroadcastStatus.SENDING.value
        else:
            broadcast.status, broadcast.finished_at = BroadcastStatus.DONE.value, now
    if due:
        await session.flush()
        wake_after_commit(session, DELIVER_SWEEP)
    d = BroadcastDelivery.__table__.c
    b = Broadcast.__table__.c
    await session.execute(
        update(Broadcast)
        .where(
            b.status == BroadcastStatus.SENDING.value,
            not_(exists().where(d.broadcast_id == b.id, d.status == DeliveryStatus.PENDING.value)),
        )
        .values(status=BroadcastStatus.DONE.value, finished_at=now)
        .execution_options(synchronize_session=False)
    )
    return len(due)


def expand_sweep(channels: Mapping[str, Channel]) -> Sweep:
    async def run(session: AsyncSession, batch_size: int) -> int:
        return await expand_due(session, channels, batch_size)

    return Sweep(EXPAND_SWEEP, run, every_seconds=1.0, batch_size=EXPAND_BATCH)


def deliver_sweep(db: Database, channels: Mapping[str, Channel], throttle: Throttle) -> Sweep:
    """Claim due deliveries; after the claim commits, send them and record the outcomes."""
    sender = Sender(db, channels, throttle)

    async def run(session: AsyncSession, batch_size: int) -> int:
        claims = await claim_deliveries(session, channels, batch_size)

        async def after_commit() -> None:
            await sender.send(claims)

        if claims:
            outbox.on_commit(session, after_commit)
        return len(claims)

    return Sweep(DELIVER_SWEEP, run, every_seconds=0.5, batch_size=200)


def sweeps(
    db: Database, channels: Mapping[str, Channel], throttle: Throttle | None = None
) -> list[Sweep]:
    """The broadcasts' sweeps: write due broadcasts' deliveries, send due deliveries."""
    pace = throttle if throttle is not None else MemoryThrottle()
    return [expand_sweep(channels), deliver_sweep(db, channels, pace)]
