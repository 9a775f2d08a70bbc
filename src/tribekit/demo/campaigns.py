"""Greenwood Fruit's campaigns: the rhythm of scenario 4 as campaign schedules (the Mon-Thu
20:00 flash sale of the next fruit box of a rotation, Friday's gift-pack group buy priced by
team size, the monthly member promotion day), a gift pack, a few coupons, and the past
occurrences with what really happened in them.

Everything goes through the services and the worker's sweeps, as the API, the members and a
worker would, with the clock set to when it happened (``seed_past``): the schedule is made and
plans the evening's campaign, the sweeps start, end, open and close it and announce each moment
in the web groups, and real members of the groups buy, join and pay. The flash sale sold out
in four minutes; on the Friday five colleagues at one office address reached the 5-people tier
(the close refunded what each paid above 75.00) and one member alone was refunded in full.
Nobody is invented: every buyer and participant is a demo member who is in the groups, bought
or joined through the purchase and join paths, and paid.

The past occurrences are at least ``PAST_DAYS`` days old, older than the groups' chat
(``community.py``), and are made before the chat is played, so the groups read in order.
``seed_now`` plans what comes within the horizon and posts what is due now; the running
server's worker does the rest on time.
"""

# ruff: noqa: RUF001  # Chinese text uses full-width punctuation

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.campaigns import announcements
from tribekit.campaigns.bundles import service as bundles
from tribekit.campaigns.bundles.schemas import ComponentIn
from tribekit.campaigns.coupons import service as coupons
from tribekit.campaigns.coupons.schemas import CouponCreate
from tribekit.campaigns.flash import runtime as flash_runtime
from tribekit.campaigns.flash import service as flash
from tribekit.campaigns.flash import tasks as flash_tasks
from tribekit.campaigns.flash.tokens import FlashClaims
from tribekit.campaigns.group_buys import closing, joining
from tribekit.campaigns.group_buys.schemas import JoinAttribution, JoinIn
from tribekit.campaigns.group_buys.spec import Tier
from tribekit.campaigns.schedules import service as schedules
from tribekit.campaigns.schedules import tasks as schedule_tasks
from tribekit.campaigns.schedules.templates import (
    FlashTemplate,
    GroupBuyTemplate,
    PromotionTemplate,
    Template,
)
from tribekit.catalog import service as catalog
from tribekit.catalog.schemas import ProductCreate
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.kit.settings import get_settings
from tribekit.kit.worker import WorkerLoop
from tribekit.models.campaigns import FlashSale, GroupBuy
from tribekit.models.catalog import Product
from tribekit.models.communities import CommunityMember
from tribekit.models.enums import Channel as ChannelName
from tribekit.models.members import Member
from tribekit.models.membership import MembershipAccount
from tribekit.orders.payments import ManualProvider
from tribekit.orders.schemas import AddressIn
from tribekit.orders.service import paying
from tribekit.robot.broadcasts import tasks as broadcast_tasks
from tribekit.robot.channels import Channel
from tribekit.robot.channels.web import WebChannel
from tribekit.tenancy.principal import Tenant

from .community import Cast

#: The past occurrences are at least this many days old: older than the groups' chat.
PAST_DAYS = 6
#: The flash sale's rotation, in turn (``commerce.FRUIT``'s names).
ROTATION = ("Mango box 3 kg", "Cherries 1 kg", "Durian, whole", "Strawberries 2 kg")
FLASH_QUANTITY = 30
FLASH_LIMIT = 2
FLASH_DISCOUNT_BPS = 3_000  # 30 % off
SOLD_OUT_AFTER = timedelta(minutes=4)
GIFT_PACK = "Member gift pack"
GIFT_PACK_PRICE = 10_800
GIFT_PACK_PARTS = (("Strawberries 2 kg", 1), ("Apples 5 kg", 1))
TIERS = (Tier(2, 9_000), Tier(3, 8_500), Tier(5, 7_500))
#: The colleagues who teamed up by their office's address, from the office workers' group.
OFFICE = AddressIn(
    recipient="Greenwood office team",
    line1="Floor 12, 100 Century Avenue",
    city="Shanghai",
    region="Pudong New Area",
    country="CN",
)
TEAM_SIZE = 5

FLASH_TEXTS = {
    "before": {
        "zh-CN": "今晚 {starts} 限时秒杀：{product} 仅售 {price}（原价 {regular_price}），"
        "限量 {quantity} 份，每人限购 {limit} 份。",
        "en": "Tonight at {starts}: {product} at {price} instead of {regular_price}, only "
        "{quantity}, at most {limit} each.",
    },
    "start": {
        "zh-CN": "秒杀开始！{product} 仅售 {price}，限量 {quantity} 份，{ends} 截止，手慢无。",
        "en": "The flash sale is on: {product} at {price}, only {quantity}, until {ends}. Tap "
        "to buy!",
    },
    "sold_out": {
        "zh-CN": "{product} 已抢光，谢谢大家！下一场秒杀明晚 20:00 见。",
        "en": "{product} is sold out, thank you all! The next flash sale is tomorrow at 20:00.",
    },
}
GIFT_PACK_TEXTS = {
    "before": {
        "zh-CN": "今晚 {starts} 会员礼包日：{product} 同一地址拼团，{tiers}。",
        "en": "Member gift-pack day tonight at {starts}: {product}, team up by address: {tiers}.",
    },
    "start": {
        "zh-CN": "会员礼包日开始！{product} 同一地址拼团：{tiers}，{deadline} 截止。",
        "en": "Member gift-pack day is on! {product}, team up by address: {tiers}; closes at "
        "{deadline}.",
    },
    "result": {
        "zh-CN": "会员礼包日结束。{results}",
        "en": "Member gift-pack day has closed. {results}",
    },
}
PROMOTION_TEXTS = {
    "before": {
        "zh-CN": "明天是会员推广日：邀请好友首单，奖励翻倍（×{multiplier}），发送 /ref 领取链接。",
        "en": "Tomorrow is member promotion day: referral rewards ×{multiplier}; send /ref for "
        "your invite link.",
    },
}


@dataclass(frozen=True)
class Plan:
    name: str
    rule: str
    template: Template
    texts: dict[str, dict[str, str]]
    before: timedelta


@dataclass(frozen=True)
class Buyer:
    member_id: uuid.UUID
    level_id: uuid.UUID | None
    groups: frozenset[uuid.UUID]


def _local(day: datetime, at: time, timezone: str) -> datetime:
    """``at`` on ``day``'s date in ``timezone``, in UTC (the clock's, and the rows' time)."""
    zone = ZoneInfo(timezone)
    return datetime.combine(day.astimezone(zone).date(), at, zone).astimezone(UTC)


def _days_back(timezone: str, weekdays: Sequence[int]) -> datetime:
    """The latest day at least ``PAST_DAYS`` days ago whose weekday is one of ``weekdays``."""
    day = clock.now() - timedelta(days=PAST_DAYS)
    while day.astimezone(ZoneInfo(timezone)).weekday() not in weekdays:
        day -= timedelta(days=1)
    return day


async def _products(session: AsyncSession, tenant: Tenant) -> dict[str, Product]:
    rows = await session.scalars(select(Product).where(Product.merchant_id == tenant.id))
    return {p.name: p for p in rows.all()}


async def _gift_pack(session: AsyncSession, tenant: Tenant) -> uuid.UUID:
    found = await _products(session, tenant)
    pack = await catalog.create_product(
        session,
        tenant,
        ProductCreate(
            name=GIFT_PACK,
            kind="bundle",
            price=GIFT_PACK_PRICE,
            category="gift packs",
            tags=["gift", "group-buy"],
        ),
    )
    parts = [ComponentIn(product_id=found[name].id, quantity=n) for name, n in GIFT_PACK_PARTS]
    await bundles.set_components(session, tenant, pack.id, parts)
    return pack.id


def _plans(products: dict[str, Product], pack_id: uuid.UUID) -> dict[str, Plan]:
    return {
        "flash": Plan(
            "Weeknight flash sale",
            "Mon-Thu 20:00 for 2 h",
            FlashTemplate(
                product_ids=tuple(products[name].id for name in ROTATION),
                quantity=FLASH_QUANTITY,
                discount_bps=FLASH_DISCOUNT_BPS,
                per_member_limit=FLASH_LIMIT,
            ),
            FLASH_TEXTS,
            timedelta(hours=8),  # a noon heads-up; the 19:50 reminder is a scheduled post
        ),
        "gift_pack": Plan(
            "Gift-pack day",
            "Fri 20:00-23:00",
            GroupBuyTemplate(product_id=pack_id, tiers=TIERS, grouping="address"),
            GIFT_PACK_TEXTS,
            timedelta(hours=8),
        ),
        "promotion": Plan(
            "Member promotion day",
            "1st of the month",
            PromotionTemplate(reward_multiplier_bps=20_000),
            PROMOTION_TEXTS,
            timedelta(hours=15),  # 09:00 the day before
        ),
    }


async def _make_schedule(
    session: AsyncSession, cast: Cast, plan: Plan, communities: tuple[uuid.UUID, ...]
) -> uuid.UUID:
    spec = schedules.ScheduleSpec(
        name=plan.name,
        rule=plan.rule,
        template=plan.template,
        community_ids=communities,
        announcements=plan.texts,
        announce_before_seconds=int(plan.before.total_seconds()),
    )
    made = await schedules.create(
        session, cast.tenant, spec, created_by=f"staff:{cast.staff.user_id}"
    )
    return made.id


async def _buyers(
    session: AsyncSession, cast: Cast, before: datetime, communities: Sequence[uuid.UUID]
) -> list[Buyer]:
    """Members in the groups since before ``before``, not blocked, with their level."""
    rows = (
        await session.execute(
            select(CommunityMember.member_id, CommunityMember.community_id)
            .join(Member, Member.id == CommunityMember.member_id)
            .where(
                CommunityMember.merchant_id == cast.tenant.id,
                CommunityMember.community_id.in_(communities),
                CommunityMember.left_at.is_(None),
                Member.blocked.is_(False),
                Member.joined_at < before - timedelta(days=1),
                Member.id != cast.spammer[0],
            )
            .order_by(CommunityMember.member_id, CommunityMember.community_id)
        )
    ).all()
    groups: dict[uuid.UUID, set[uuid.UUID]] = {}
    for member_id, community_id in rows:
        groups.setdefault(member_id, set()).add(community_id)
    levels = dict(
        (
            await session.execute(
                select(MembershipAccount.member_id, MembershipAccount.level_id).where(
                    MembershipAccount.merchant_id == cast.tenant.id
                )
            )
        ).all()
    )
    return [Buyer(m, levels.get(m), frozenset(g)) for m, g in groups.items()]


class Evening:
    """The worker's campaign and broadcast sweeps, run by hand at the moments of the past."""

    def __init__(self, db: Database, public_url: str | None) -> None:
        self.db = db
        channels: dict[str, Channel] = {ChannelName.WEB.value: WebChannel(db)}
        self.runtime = flash_runtime.shared(db, None, get_settings())
        self.public_url = public_url
        self.posts = WorkerLoop(db, broadcast_tasks.sweeps(db, channels))
        self.providers = {"manual": ManualProvider()}

    async def announce(self) -> None:
        """Post every moment due now in the web groups."""
        while await self.db.run(
            partial(announcements.announce_due, batch_size=1, public_url=self.public_url)
        ):
            pass
        with clock.frozen_at(clock.now() + timedelta(seconds=2)):
            for sweep in self.posts.sweeps:
                await self.posts.run_sweep(sweep)

    async def plan(self, schedule_id: uuid.UUID, tenant: Tenant) -> None:
        await self.db.run(partial(schedule_tasks.plan, tenant=tenant, schedule_id=schedule_id))

    async def flash_turn(self) -> None:
        runtime = self.runtime
        while await self.db.run(partial(flash_tasks.start_due, runtime=runtime, batch_size=1)):
            pass
        while await self.db.run(partial(flash_tasks.end_due, runtime=runtime, batch_size=1)):
            pass

    async def group_buy_turn(self) -> None:
        async def step(session: AsyncSession) -> bool:
            found = await closing.claim(session)
            if found is None:
                return False
            await closing.step(session, self.providers, found)
            return True

        while await self.db.run(step):
            pass


async def _flash_evening(
    db: Database, cast: Cast, evening: Evening, schedule_id: uuid.UUID, rng: random.Random
) -> None:
    """The evening the flash sale sold out in four minutes."""
    tenant = cast.tenant
    day = _days_back(tenant.timezone, (0, 1, 2, 3))
    starts = _local(day, time(20, 0), tenant.timezone)
    with clock.frozen_at(_local(day, time(11, 0), tenant.timezone)) as now:
        await evening.plan(schedule_id, tenant)
        async with db.unit_of_work(read_only=True) as session:
            sale = await session.scalar(
                select(FlashSale).where(FlashSale.schedule_id == schedule_id)
            )
            assert sale is not None, "the schedule made the evening's sale"
            buyers = await _buyers(session, cast, starts, list(cast.groups.values()))
        now.at = starts - timedelta(hours=8)
        await evening.announce()
        now.at = starts
        await evening.flash_turn()
        evening.runtime.live.forget(sale.id)
        await evening.announce()
        # Who bought how many, and when: the last unit at exactly four minutes.
        wants: list[int] = []
        while sum(wants) < FLASH_QUANTITY:
            wants.append(min(rng.choice([1, 2, 2]), FLASH_QUANTITY - sum(wants)))
        seconds = sorted(rng.uniform(3, SOLD_OUT_AFTER.total_seconds()) for _ in wants[1:])
        moments = [*seconds, SOLD_OUT_AFTER.total_seconds()]
        for buyer, quantity, after in zip(
            rng.sample(buyers, len(wants)), wants, moments, strict=True
        ):
            now.at = starts + timedelta(seconds=after)
            claims = FlashClaims(tenant.id, buyer.member_id, buyer.level_id, buyer.groups, 0)
            bought = await flash.purchase(
                evening.runtime,
                claims,
                sale.id,
                quantity=quantity,
                community_id=min(buyer.groups & {uuid.UUID(c) for c in sale.community_ids}),
            )
            now.at += timedelta(seconds=rng.randint(20, 240))
            await db.run(
                partial(
                    paying.record_manual_payment,
                    tenant=tenant,
                    order_id=bought.reserved.reservation_id,  # the order's id is the reservation's
                    reference="demo flash sale",
                    actor=f"member:{buyer.member_id}",
                )
            )
        now.at = starts + SOLD_OUT_AFTER + timedelta(seconds=1)
        await evening.announce()
        now.at = starts + timedelta(hours=2)
        await evening.flash_turn()


async def _gift_pack_evening(
    db: Database, cast: Cast, evening: Evening, schedule_id: uuid.UUID, rng: random.Random
) -> None:
    """The Friday five colleagues reached 75.00 each and one member alone was refunded."""
    tenant = cast.tenant
    day = _days_back(tenant.timezone, (4,))
    starts = _local(day, time(20, 0), tenant.timezone)
    office = cast.groups["office"]
    with clock.frozen_at(_local(day, time(7, 0), tenant.timezone)) as now:
        await evening.plan(schedule_id, tenant)
        async with db.unit_of_work(read_only=True) as session:
            buy = await session.scalar(select(GroupBuy).where(GroupBuy.schedule_id == schedule_id))
            assert buy is not None, "the schedule made the evening's group buy"
            colleagues = await _buyers(session, cast, starts, [office])
            others = await _buyers(session, cast, starts, [cast.groups["parents"]])
        now.at = starts - timedelta(hours=8)
        await evening.announce()
        now.at = starts
        await evening.group_buy_turn()
        await evening.announce()
        team = rng.sample(colleagues, TEAM_SIZE)
        taken = {b.member_id for b in team}
        alone = next(b for b in rng.sample(others, len(others)) if b.member_id not in taken)
        joins = [
            (b, office, OFFICE.model_copy(update={"recipient": f"Desk {n + 1}"}))
            for n, b in enumerate(team)
        ]
        joins.append(
            (
                alone,
                cast.groups["parents"],
                AddressIn(
                    recipient="Home",
                    line1=f"{rng.randint(1, 300)} Wukang Road",
                    city="Shanghai",
                    region="Xuhui",
                    country="CN",
                ),
            )
        )
        at = starts
        for buyer, group, address in joins:
            at += timedelta(minutes=rng.randint(4, 25))
            now.at = at
            data = JoinIn(
                fulfilment="delivery",
                address=address,
                attribution=JoinAttribution(channel=ChannelName.WEB, community_id=group),
            )
            joined = await db.run(
                partial(
                    joining.join,
                    tenant=tenant,
                    member_id=buyer.member_id,
                    group_buy_id=buy.id,
                    data=data,
                    actor=f"member:{buyer.member_id}",
                )
            )
            now.at += timedelta(minutes=rng.randint(1, 5))
            await db.run(
                partial(
                    paying.record_manual_payment,
                    tenant=tenant,
                    order_id=joined.order.order.id,
                    reference="demo group buy",
                    actor=f"member:{buyer.member_id}",
                )
            )
        now.at = starts + timedelta(hours=3)
        await evening.group_buy_turn()
        now.at += timedelta(seconds=30)
        await evening.group_buy_turn()
        await evening.announce()


async def _coupons(session: AsyncSession, tenant: Tenant, pack_id: uuid.UUID) -> None:
    """Beside ``WELCOME10`` (a code, ``commerce.py``): the welcome gift every new member gets,
    a flyer's coupon claimed from its link, and a code for the gift pack."""
    for coupon in (
        CouponCreate(
            code="WELCOME-GIFT",
            kind="amount",
            value=1_000,
            min_subtotal=5_000,
            issue_mode="grant",
            grant_reason="welcome",
            valid_days=7,
        ),
        CouponCreate(
            code="FLYER-AUTUMN",
            kind="amount",
            value=1_500,
            min_subtotal=8_000,
            issue_mode="claim",
            valid_days=14,
            usage_limit=300,
        ),
        CouponCreate(
            code="GIFTPACK8",
            kind="amount",
            value=800,
            bundle_ids=[pack_id],
            stackable=False,
            per_member_limit=1,
        ),
    ):
        await coupons.create_coupon(session, tenant, coupon)


def public_url() -> str:
    settings = get_settings()
    return (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")


async def seed_past(db: Database, cast: Cast) -> dict[str, uuid.UUID]:
    """The gift pack, the schedules (made when their past occurrence was planned) and those
    occurrences, each through every sweep at its moments."""
    rng = random.Random(20261203)
    tenant = cast.tenant
    groups = tuple(sorted(cast.groups.values()))
    evening = Evening(db, public_url())

    async def pack(session: AsyncSession) -> dict[str, Plan]:
        pack_id = await _gift_pack(session, tenant)
        return _plans(await _products(session, tenant), pack_id)

    flash_day = _days_back(tenant.timezone, (0, 1, 2, 3))
    friday = _days_back(tenant.timezone, (4,))
    with clock.frozen_at(min(flash_day, friday) - timedelta(days=1)):
        plans = await db.run(pack)
    made: dict[str, uuid.UUID] = {}
    for key, day, at in (("flash", flash_day, time(11, 0)), ("gift_pack", friday, time(7, 0))):
        with clock.frozen_at(_local(day, at, tenant.timezone) - timedelta(minutes=5)):
            made[key] = await db.run(
                partial(_make_schedule, cast=cast, plan=plans[key], communities=groups)
            )
    await _flash_evening(db, cast, evening, made["flash"], rng)
    await _gift_pack_evening(db, cast, evening, made["gift_pack"], rng)
    return made


async def seed_now(db: Database, cast: Cast) -> None:
    """The promotion day's schedule and the coupons, made now; every schedule's coming
    occurrences planned and what is due now posted, as the worker would at once."""
    tenant = cast.tenant
    groups = tuple(sorted(cast.groups.values()))

    async def make(session: AsyncSession) -> None:
        pack_id = await session.scalar(
            select(Product.id).where(Product.merchant_id == tenant.id, Product.name == GIFT_PACK)
        )
        assert pack_id is not None
        plans = _plans(await _products(session, tenant), pack_id)
        await _make_schedule(session, cast, plans["promotion"], groups)
        await _coupons(session, tenant, pack_id)

    await db.run(make)
    evening = Evening(db, public_url())
    while await db.run(
        partial(schedule_tasks.plan_due, batch_size=20, horizon=schedule_tasks.DEFAULT_HORIZON)
    ):
        pass
    await evening.flash_turn()
    await evening.group_buy_turn()
    await evening.announce()


@dataclass(frozen=True)
class CampaignLink:
    """A member's link to the campaign selling now, else the next one made (its page counts
    down): printed for newcomers beside the group link."""

    path: str
    name: str
    starts_at: datetime
    timezone: str  # the merchant's
    live: bool

    @property
    def when(self) -> str:
        if self.live:
            return "live now"
        return f"{self.starts_at.astimezone(ZoneInfo(self.timezone)):%a %H:%M}"  # shop's time


async def campaign_link(
    session: AsyncSession, tenant: Tenant, member_token: str
) -> CampaignLink | None:
    """The live flash sale or open group buy (else the next coming one) with the member's
    signed link (``?t=``, as the group link); None when none is made."""
    now = clock.now()
    found: list[tuple[bool, datetime, str, str]] = []
    sales = await session.scalars(
        select(FlashSale).where(
            FlashSale.merchant_id == tenant.id,
            FlashSale.status.in_(["scheduled", "live"]),
            FlashSale.ends_at > now,
        )
    )
    for sale in sales.all():
        page = announcements.member_page("flash_sale", sale.id)
        found.append((sale.status != "live", sale.starts_at, sale.name, page))
    buys = await session.scalars(
        select(GroupBuy).where(
            GroupBuy.merchant_id == tenant.id,
            GroupBuy.status.in_(["scheduled", "open"]),
            GroupBuy.deadline > now,
        )
    )
    for buy in buys.all():
        page = announcements.member_page("group_buy", buy.id)
        found.append((buy.status != "open", buy.starts_at, buy.name, page))
    if not found:
        return None
    coming, starts, name, page = min(found)
    return CampaignLink(f"{page}?t={member_token}", name, starts, tenant.timezone, not coming)
