"""ORM tables, one module per aggregate. Importing this package registers them all."""

from tribekit.kit.db import Base

from .communities import Community, CommunityMember
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
from .tenancy import ApiToken, Merchant, StaffRole, StaffSession, StaffUser

__all__ = [
    "ApiToken",
    "Base",
    "Community",
    "CommunityMember",
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
    "PlanPurchase",
    "PlanSubscription",
    "PointsEntry",
    "PointsLot",
    "PointsLotUse",
    "StaffRole",
    "StaffSession",
    "StaffUser",
]
