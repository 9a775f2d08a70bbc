"""ORM tables, one module per aggregate. Importing this package registers them all."""

from tribekit.kit.db import Base

from .catalog import Product
from .communities import Community, CommunityMember
from .coupons import Coupon, CouponRedemption
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
from .tenancy import ApiToken, Merchant, StaffInvitation, StaffRole, StaffSession, StaffUser

__all__ = [
    "ApiToken",
    "Base",
    "CheckoutSettings",
    "Community",
    "CommunityMember",
    "Coupon",
    "CouponRedemption",
    "EventConsumer",
    "IdempotencyRecord",
    "Level",
    "LevelChange",
    "LevelPrice",
    "Member",
    "MemberAddress",
    "MemberEvent",
    "MemberIdentity",
    "MemberPurchase",
    "MemberTag",
    "MembershipAccount",
    "MembershipPlan",
    "MembershipSettings",
    "Merchant",
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
    "Product",
    "Refund",
    "RefundLine",
    "StaffInvitation",
    "StaffRole",
    "StaffSession",
    "StaffUser",
]
