"""What each staff role may do. One table, read by the API's auth dependency.

``ROLE_PERMISSIONS`` is what a role may do across the merchant. ``SCOPED_PERMISSIONS`` is what a
role may do only within the communities it leads (the leader role): a route honours it only if
it filters by the caller's communities (``Principal.reach``); every other route answers 403, so
a route that forgets the scope leaks nothing."""

from __future__ import annotations

from enum import StrEnum

from tribekit.models.enums import Role


class Permission(StrEnum):
    MERCHANT_READ = "merchant:read"
    MERCHANT_MANAGE = "merchant:manage"
    STAFF_READ = "staff:read"
    STAFF_MANAGE = "staff:manage"
    TOKENS_OWN = "tokens:own"  # create and revoke one's own API tokens
    TOKENS_MANAGE = "tokens:manage"  # see and revoke anybody's tokens at the merchant
    MEMBERS_READ = "members:read"
    MEMBERS_WRITE = "members:write"
    MEMBERS_ERASE = "members:erase"
    COMMUNITIES_READ = "communities:read"
    COMMUNITIES_WRITE = "communities:write"  # register, confirm, refuse, archive, change
    COMMUNITIES_LEADERS = "communities:leaders"  # name leaders (what a leader sees follows)
    MEMBERSHIP_READ = "membership:read"  # levels, plans, members' points and levels
    MEMBERSHIP_CONFIGURE = "membership:configure"  # settings, levels, level prices, plans
    POINTS_WRITE = "points:write"  # adjust, redeem, reverse; assign levels; record plan sales
    CATALOG_READ = "catalog:read"
    CATALOG_WRITE = "catalog:write"  # products, events, stock
    CHECKOUT_CONFIGURE = "checkout:configure"  # pricing rules, unpaid order TTL, pickup points
    ORDERS_READ = "orders:read"
    ORDERS_WRITE = "orders:write"  # place, confirm payments, fulfil, cancel, check in
    REFUNDS_WRITE = "refunds:write"
    ROBOT_READ = "robot:read"  # robot accounts, auto-replies
    ROBOT_ACCOUNTS = "robot:accounts"  # register and remove robots, set their webhooks
    ROBOT_CONFIGURE = "robot:configure"  # auto-replies / FAQ
    MODERATION_READ = "moderation:read"  # policies, the ban list, the moderation log
    MODERATION_WRITE = "moderation:write"  # policies, ban and unban, undo, review entries
    BROADCASTS_READ = "broadcasts:read"  # broadcasts, their deliveries, schedules, the calendar
    BROADCASTS_SEND = "broadcasts:send"  # create, preview and cancel broadcasts and schedules
    CAMPAIGNS_READ = "campaigns:read"  # flash sales, group buys, campaign schedules, calendar
    CAMPAIGNS_MANAGE = "campaigns:manage"  # create, change and cancel them; gift packs


_EVERYONE = {
    Permission.MERCHANT_READ,
    Permission.TOKENS_OWN,
    Permission.CATALOG_READ,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OWNER: frozenset(Permission),
    Role.ADMIN: frozenset(set(Permission) - {Permission.MERCHANT_MANAGE}),
    Role.OPERATOR: frozenset(
        _EVERYONE
        | {
            Permission.STAFF_READ,
            Permission.COMMUNITIES_READ,
            Permission.MEMBERS_READ,
            Permission.MEMBERS_WRITE,
            Permission.COMMUNITIES_WRITE,
            Permission.MEMBERSHIP_READ,
            Permission.POINTS_WRITE,
            Permission.CATALOG_WRITE,
            Permission.ORDERS_READ,
            Permission.ORDERS_WRITE,
            Permission.ROBOT_READ,
            Permission.ROBOT_CONFIGURE,
            Permission.MODERATION_READ,
            Permission.MODERATION_WRITE,
            Permission.BROADCASTS_READ,
            Permission.BROADCASTS_SEND,
            Permission.CAMPAIGNS_READ,
            Permission.CAMPAIGNS_MANAGE,
        }
    ),
    # A leader reads communities, members and orders only through ``SCOPED_PERMISSIONS``.
    Role.LEADER: frozenset(_EVERYONE),
    Role.ANALYST: frozenset(
        _EVERYONE
        | {
            Permission.COMMUNITIES_READ,
            Permission.MEMBERS_READ,
            Permission.MEMBERSHIP_READ,
            Permission.ORDERS_READ,
            Permission.ROBOT_READ,
            Permission.MODERATION_READ,
            Permission.BROADCASTS_READ,
            Permission.CAMPAIGNS_READ,
        }
    ),
}

#: Permissions a role holds only over the communities it leads: its own communities, the
#: members present in them now or before, the orders attributed to them, and their moderation
#: log.
SCOPED_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.LEADER: frozenset(
        {
            Permission.COMMUNITIES_READ,
            Permission.MEMBERS_READ,
            Permission.ORDERS_READ,
            Permission.MODERATION_READ,
        }
    ),
}

#: Who may give which role: only an owner makes owners and admins.
GRANTABLE_BY: dict[Role, frozenset[Role]] = {
    Role.OWNER: frozenset(Role),
    Role.ADMIN: frozenset({Role.OPERATOR, Role.LEADER, Role.ANALYST}),
}
