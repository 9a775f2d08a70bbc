"""The demo merchant's voice to all its groups: a broadcast already sent, one waiting for its
time, and the weekly rhythm of scenario 4 as scheduled posts (the flash-sale heads-up Monday
to Thursday at 19:50, Friday's gift-pack day, the monthly member promotion day).

Everything goes through the services and the worker's sweeps, as the API and a worker would:
the sent broadcast is made and delivered into the web groups at a moment yesterday, and the
schedules' occurrences are planned by the running server's worker.
"""

# ruff: noqa: RUF001  # Chinese text uses full-width punctuation

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.kit.worker import WorkerLoop
from tribekit.models.enums import Channel as ChannelName
from tribekit.robot.broadcasts import service as broadcasts
from tribekit.robot.broadcasts import tasks as broadcast_tasks
from tribekit.robot.broadcasts.content import Content
from tribekit.robot.broadcasts.states import Audience
from tribekit.robot.channels import Button, Channel
from tribekit.robot.channels.web import WebChannel
from tribekit.robot.schedules import service as schedules

from .community import Cast

SHOP = "https://greenwood.example"

#: Sent yesterday at 10:00 to every group: a service message (not marketing).
ARRIVALS = Content(
    texts={
        "zh-CN": "本周到货：海南贵妃芒、广西沃柑、四川丑橘。门店每天 9:00-21:00 营业，欢迎来尝。",
        "en": "In this week: Hainan mangoes, Guangxi oranges, Sichuan ugly tangerines. "
        "The shop is open 9:00-21:00 every day; come and taste.",
    },
)
#: Waiting for Saturday 09:00, in the outings group only: marketing.
OUTING = Content(
    texts={"en": "Sign-up for next weekend's orchard outing opens now: 20 places, 30.00 each."},
    buttons=((Button("Sign up", url=f"{SHOP}/events/orchard-outing"),),),
)
#: Scenario 4's week, in every group (each in its own timezone), all of them marketing.
WEEK = (
    # The campaigns announce themselves (``demo/campaigns.py``); these posts keep the rest of the
    # week's rhythm.
    (
        "Monday arrivals",
        "Mon 10:00",
        {
            "zh-CN": "本周新到：海南芒果、智利车厘子、猫山王榴莲。发送 /sales 看看今晚的秒杀。",
            "en": "New this week: Hainan mangoes, Chilean cherries, Musang King durian. Send "
            "/sales to see tonight's flash sale.",
        },
    ),
    (
        "Weekend pickup reminder",
        "Sat 09:00",
        {
            "zh-CN": "周末自提提醒：自提点 9:00-18:00 营业，记得带上订单号。",
            "en": "Weekend pickup: the pickup points are open 9:00-18:00; bring your order number.",
        },
    ),
    (
        "Member promotion day",
        "1st of the month 09:00",
        {
            "zh-CN": "今天是会员推广日：发送 /ref 领取你的专属邀请链接，好友首单你得双倍奖励。",
            "en": "Member promotion day: send /ref for your own invite link; rewards are doubled "
            "today.",
        },
    ),
)


def _local(day: datetime, at: time, timezone: str) -> datetime:
    return datetime.combine(day.astimezone(ZoneInfo(timezone)).date(), at, ZoneInfo(timezone))


async def _make(session: AsyncSession, cast: Cast, channels: Mapping[str, Channel]) -> None:
    """The waiting broadcast and the weekly schedules, checked as the API checks them."""
    tenant = cast.tenant
    today = clock.now()
    weekday = today.astimezone(ZoneInfo(tenant.timezone)).weekday()
    saturday = today + timedelta(days=(5 - weekday) % 7 or 7)  # the next one, never today
    outing = broadcasts.BroadcastSpec(
        content=OUTING,
        audience=Audience.COMMUNITIES,
        community_ids=(cast.groups["outings"],),
        marketing=True,
        send_at=_local(saturday, time(9, 0), tenant.timezone),
        name="Orchard outing sign-up",
    )
    await broadcasts.check_create(session, tenant, outing, channels)
    await broadcasts.do_create(session, tenant, outing, created_by=f"staff:{cast.staff.user_id}")
    for name, rule, texts in WEEK:
        spec = schedules.ScheduleSpec(
            name=name, rule=rule, content=Content(texts=texts), marketing=True
        )
        parsed = await schedules.check_create(session, tenant, spec, channels)
        await schedules.do_create(
            session, tenant, spec, parsed, created_by=f"staff:{cast.staff.user_id}"
        )


async def broadcasts_check(
    db: Database, cast: Cast, spec: broadcasts.BroadcastSpec, channels: Mapping[str, Channel]
) -> None:
    async with db.unit_of_work(read_only=True) as session:
        await broadcasts.check_create(session, cast.tenant, spec, channels)


async def seed(db: Database, cast: Cast) -> None:
    """Send yesterday's broadcast through the worker's sweeps; make the rest."""
    channels: dict[str, Channel] = {ChannelName.WEB.value: WebChannel(db)}
    worker = WorkerLoop(db, broadcast_tasks.sweeps(db, channels))
    yesterday = _local(clock.now() - timedelta(days=1), time(10, 0), cast.tenant.timezone)
    arrivals = broadcasts.BroadcastSpec(content=ARRIVALS, audience=Audience.ALL, name="This week")
    with clock.frozen_at(yesterday):
        await broadcasts_check(db, cast, arrivals, channels)
        await db.run(
            partial(
                broadcasts.do_create,
                tenant=cast.tenant,
                spec=arrivals,
                created_by=f"staff:{cast.staff.user_id}",
            )
        )
    with clock.frozen_at(yesterday + timedelta(seconds=2)):
        for sweep in worker.sweeps:
            await worker.run_sweep(sweep)
    await db.run(partial(_make, cast=cast, channels=channels))
