"""What the demo's campaigns must look like once the demo is seeded (checked by the demo
community test, which seeds the demo once per database): the schedules of scenario 4, the
past flash sale that sold out in four minutes, the Friday whose team of five reached 75.00 and
whose team of one was refunded, their announcements in the web groups, and the coupons."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.demo import campaigns as demo
from tribekit.kit.db import Database
from tribekit.models.broadcasts import Broadcast, BroadcastDelivery
from tribekit.models.campaigns import (
    BundleComponent,
    CampaignSchedule,
    FlashReservation,
    FlashSale,
    GroupBuy,
    GroupBuyParticipant,
    GroupBuyTeam,
)
from tribekit.models.catalog import Product
from tribekit.models.communities import Community, CommunityMember
from tribekit.models.coupons import Coupon
from tribekit.models.orders import Order, Payment, Refund


async def kept(session: AsyncSession, order_ids: list[uuid.UUID]) -> int:
    """Money the shop kept from these orders: paid minus refunded."""
    paid = await session.scalar(
        select(func.coalesce(func.sum(Payment.amount), 0)).where(
            Payment.order_id.in_(order_ids), Payment.status == "succeeded"
        )
    )
    refunded = await session.scalar(
        select(func.coalesce(func.sum(Refund.amount), 0)).where(Refund.order_id.in_(order_ids))
    )
    return int(paid or 0) - int(refunded or 0)


async def in_groups(session: AsyncSession, member_ids: set[uuid.UUID]) -> bool:
    found = await session.scalars(
        select(CommunityMember.member_id).where(CommunityMember.member_id.in_(member_ids))
    )
    return set(found.all()) == member_ids


async def campaign_posts(session: AsyncSession) -> tuple[str, ...]:
    """The texts the campaigns' announcements posted (each message starts with one; its
    buttons' links follow)."""
    rows = await session.scalars(select(Broadcast).where(Broadcast.campaign_id.is_not(None)))
    return tuple({text for b in rows.all() for text in b.content["texts"].values()})


async def check_demo_campaigns(db: Database) -> None:
    async with db.unit_of_work() as session:
        groups = set((await session.scalars(select(Community.id))).all())
        products = {p.id: p for p in (await session.scalars(select(Product))).all()}
        by_name = {p.name: p for p in products.values()}

        # The gift pack: strawberries and apples, in the group buy.
        pack = by_name[demo.GIFT_PACK]
        assert (pack.kind, pack.price) == ("bundle", demo.GIFT_PACK_PRICE)
        parts = (
            await session.execute(
                select(BundleComponent.product_id, BundleComponent.quantity).where(
                    BundleComponent.bundle_id == pack.id
                )
            )
        ).all()
        assert sorted((products[p].name, q) for p, q in parts) == sorted(demo.GIFT_PACK_PARTS)

        # The schedules of scenario 4, in the web groups, texts in both languages.
        rows = (await session.scalars(select(CampaignSchedule))).all()
        schedules = {s.kind: s for s in rows}
        assert sorted((s.name, s.rule, s.kind) for s in rows) == [
            ("Gift-pack day", "Fri 20:00-23:00", "group_buy"),
            ("Member promotion day", "1st of the month", "promotion_day"),
            ("Weeknight flash sale", "Mon-Thu 20:00 for 2 h", "flash_sale"),
        ]
        for schedule in rows:
            assert schedule.active
            assert {uuid.UUID(i) for i in schedule.community_ids} == groups
            assert all(set(t) == {"en", "zh-CN"} for t in schedule.announcements.values())
        flash = schedules["flash_sale"].template
        assert [products[uuid.UUID(p)].name for p in flash["product_ids"]] == list(demo.ROTATION)
        assert (flash["discount_bps"], flash["quantity"], flash["per_member_limit"]) == (
            3000,
            30,
            2,
        )
        gift = schedules["group_buy"].template
        assert gift["product_id"] == str(pack.id)
        assert gift["tiers"] == [
            {"size": 2, "unit_price": 9000},
            {"size": 3, "unit_price": 8500},
            {"size": 5, "unit_price": 7500},
        ]
        assert gift["grouping"] == "address"

        # The past flash sale: sold out four minutes after it started, every unit a paid order
        # of a real member of the groups, at most two each.
        sale = await session.scalar(select(FlashSale).where(FlashSale.sold_out_at.is_not(None)))
        assert sale is not None
        assert sale.schedule_id == schedules["flash_sale"].id
        assert sale.product_id == by_name[demo.ROTATION[0]].id
        assert sale.started_at is not None
        assert sale.sold_out_at is not None
        assert sale.sold_out_at - sale.started_at == timedelta(minutes=4)
        assert (sale.status, sale.allotted, sale.remaining) == ("ended", 30, 0)
        assert sale.price == products[sale.product_id].price * 7 // 10
        reservations = (
            await session.scalars(
                select(FlashReservation).where(FlashReservation.sale_id == sale.id)
            )
        ).all()
        assert sum(r.quantity for r in reservations) == sale.allotted
        orders = (
            await session.scalars(
                select(Order).where(Order.id.in_([r.order_id for r in reservations]))
            )
        ).all()
        assert len(orders) == len(reservations)
        assert {o.status for o in orders} == {"paid"}
        assert sum(o.total for o in orders) == sale.price * sale.allotted
        assert await kept(session, [o.id for o in orders]) == sale.price * sale.allotted
        assert max(r.quantity for r in reservations) <= 2
        assert await in_groups(session, {r.member_id for r in reservations})
        assert sorted(sale.announced) == ["before", "sold_out", "start"]

        # The past Friday: five at one office reached 75.00 each, one alone was refunded.
        buy = await session.scalar(select(GroupBuy).where(GroupBuy.status == "closed"))
        assert buy is not None
        assert buy.schedule_id == schedules["group_buy"].id
        teams = (
            await session.scalars(select(GroupBuyTeam).where(GroupBuyTeam.group_buy_id == buy.id))
        ).all()
        sizes = {}
        for team in teams:
            people = (
                await session.scalars(
                    select(GroupBuyParticipant).where(GroupBuyParticipant.team_id == team.id)
                )
            ).all()
            assert await in_groups(session, {p.member_id for p in people})
            money = await kept(session, [p.order_id for p in people])
            sizes[len(people)] = (team.status, team.final_unit_price, money)
        assert sizes == {5: ("succeeded", 7500, 5 * 7500), 1: ("failed", None, 0)}
        assert sorted(buy.announced) == ["before", "result", "start"]

        # Their announcements reached every web group.
        posted = (
            await session.scalars(
                select(Broadcast).where(Broadcast.campaign_id.in_([sale.id, buy.id]))
            )
        ).all()
        assert len(posted) == 6
        for broadcast in posted:
            delivered = (
                await session.scalars(
                    select(BroadcastDelivery.community_id).where(
                        BroadcastDelivery.broadcast_id == broadcast.id,
                        BroadcastDelivery.status == "sent",
                    )
                )
            ).all()
            assert set(delivered) == groups, broadcast.name

        # The coupons: a code, the welcome gift, the flyer's, the gift pack's.
        coupons = {
            c.code: (c.issue_mode, c.grant_reason, c.valid_days)
            for c in (await session.scalars(select(Coupon))).all()
        }
        assert coupons == {
            "WELCOME10": ("code", None, None),
            "WELCOME-GIFT": ("grant", "welcome", 7),
            "FLYER-AUTUMN": ("claim", None, 14),
            "GIFTPACK8": ("code", None, None),
        }
