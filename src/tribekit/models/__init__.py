"""ORM tables, one module per aggregate. Importing this package registers them all."""

from tribekit.kit.db import Base
from tribekit.kit.throttle import rate_slots

from .activity import CommunityDay, MemberDay
from .broadcasts import Broadcast, BroadcastDelivery, PostSchedule
from .campaigns import (
    BundleComponent,
    CampaignSchedule,
    FlashReservation,
    FlashSale,
    FlashTake,
    GroupBuy,
    GroupBuyParticipant,
    GroupBuyTeam,
    PromotionDay,
)
from .catalog import Product
from .communities import Community, CommunityLeader, CommunityMember
from .coupons import Coupon, CouponGrant, CouponRedemption
from .members import Member, MemberAddress, MemberEvent, MemberIdentity, MemberTag
from .membership import (
    Level,
    LevelChange,
    LevelPrice,
    MemberPurchase,
    MembershipAccount,
    MembershipPlan,
    MembershipSettings,
    PlanPurchase,
    PlanSubscription,
    PointsEntry,
    PointsLot,
    PointsLotUse,
)
from .moderation import AutoReply, Ban, ModerationEntry, ModerationPolicy, Strike
from .orders import (
    CheckoutSettings,
    EventConsumer,
    IdempotencyRecord,
    Order,
    OrderEvent,
    OrderLine,
    Payment,
    PaymentEvent,
    PickupPoint,
    Refund,
    RefundLine,
)
from .robot import RobotAccount, RobotAction, RobotEvent
from .tenancy import ApiToken, Merchant, StaffInvitation, StaffRole, StaffSession, StaffUser
from .web import WebCounter, WebMemberState, WebMessage

__all__ = [
    "ApiToken",
    "AutoReply",
    "Ban",
    "Base",
    "Broadcast",
    "BroadcastDelivery",
    "BundleComponent",
    "CampaignSchedule",
    "CheckoutSettings",
    "Community",
    "CommunityDay",
    "CommunityLeader",
    "CommunityMember",
    "Coupon",
    "CouponGrant",
    "CouponRedemption",
    "EventConsumer",
    "FlashReservation",
    "FlashSale",
    "FlashTake",
    "GroupBuy",
    "GroupBuyParticipant",
    "GroupBuyTeam",
    "IdempotencyRecord",
    "Level",
    "LevelChange",
    "LevelPrice",
    "Member",
    "MemberAddress",
    "MemberDay",
    "MemberEvent",
    "MemberIdentity",
    "MemberPurchase",
    "MemberTag",
    "MembershipAccount",
    "MembershipPlan",
    "MembershipSettings",
    "Merchant",
    "ModerationEntry",
    "ModerationPolicy",
    "Order",
    "OrderEvent",
    "OrderLine",
    "Payment",
    "PaymentEvent",
    "PickupPoint",
    "PlanPurchase",
    "PlanSubscription",
    "PointsEntry",
    "PointsLot",
    "PointsLotUse",
    "PostSchedule",
    "Product",
    "PromotionDay",
    "Refund",
    "RefundLine",
    "RobotAccount",
    "RobotAction",
    "RobotEvent",
    "StaffInvitation",
    "StaffRole",
    "StaffSession",
    "StaffUser",
    "Strike",
    "WebCounter",
    "WebMemberState",
    "WebMessage",
    "rate_slots",
]
