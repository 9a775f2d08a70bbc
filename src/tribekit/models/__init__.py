"""ORM tables, one module per aggregate. Importing this package registers them all."""

from tribekit.kit.db import Base

from .communities import Community, CommunityMember
from .members import Member, MemberAddress, MemberEvent, MemberIdentity, MemberTag
from .tenancy import ApiToken, Merchant, StaffRole, StaffSession, StaffUser

__all__ = [
    "ApiToken",
    "Base",
    "Community",
    "CommunityMember",
    "Member",
    "MemberAddress",
    "MemberEvent",
    "MemberIdentity",
    "MemberTag",
    "Merchant",
    "StaffRole",
    "StaffSession",
    "StaffUser",
]
