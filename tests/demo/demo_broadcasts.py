"""What the demo's broadcasts and weekly schedules must look like once the demo is seeded
(checked by the demo community test, which seeds the demo once per database)."""

from __future__ import annotations

from sqlalchemy import select

from tribekit.demo.broadcasts import ARRIVALS, WEEK
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.models.broadcasts import Broadcast, BroadcastDelivery, PostSchedule
from tribekit.models.communities import Community
from tribekit.models.web import AuthorKind, WebMessage


async def check_demo_broadcasts(db: Database) -> None:
    async with db.unit_of_work() as session:
        # The campaigns' announcements are broadcasts too (``demo_campaigns.py`` checks them).
        made = {
            b.name: b
            for b in (
                await session.scalars(select(Broadcast).where(Broadcast.campaign_id.is_(None)))
            ).all()
        }
        assert set(made) == {"This week", "Orchard outing sign-up"}
        sent, waiting = made["This week"], made["Orchard outing sign-up"]
        assert (sent.status, sent.marketing, sent.audience) == ("done", False, "all")
        assert sent.send_at < clock.now()
        assert (waiting.status, waiting.marketing) == ("scheduled", True)
        assert waiting.send_at > clock.now()
        deliveries = (
            await session.scalars(
                select(BroadcastDelivery).where(BroadcastDelivery.broadcast_id == sent.id)
            )
        ).all()
        groups = {c.id: c for c in (await session.scalars(select(Community))).all()}
        assert {d.community_id for d in deliveries} == set(groups)
        assert {d.status for d in deliveries} == {"sent"}
        # Each group read it in its own language, posted by the robot.
        for delivery in deliveries:
            assert delivery.community_id is not None
            group = groups[delivery.community_id]
            posted = await session.scalar(
                select(WebMessage).where(
                    WebMessage.community_id == group.id,
                    WebMessage.author_kind == AuthorKind.ROBOT,
                    WebMessage.text == ARRIVALS.texts[group.language],
                )
            )
            assert posted is not None, group.name
        schedules = (await session.scalars(select(PostSchedule).order_by(PostSchedule.name))).all()
        assert sorted((s.name, s.rule, s.active, s.marketing) for s in schedules) == sorted(
            (name, rule, True, True) for name, rule, _ in WEEK
        )
        assert all(s.community_id is None for s in schedules)  # every group, each its own time
