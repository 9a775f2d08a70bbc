"""The isolation matrix: for every API route, anonymous gets 401, merchant B's token gets 404 on
merchant A's objects and changes nothing, and a role without the permission gets 403. A leader
of group X gets 404 on group Y's community, members and orders, and sees X's.

The routes are read from the app itself: adding a route without a row here fails the suite.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select

from tribekit.api.app import create_app
from tribekit.campaigns.flash import runtime as flash_runtime
from tribekit.campaigns.flash import tasks as flash_tasks
from tribekit.campaigns.flash import tokens as flash_tokens
from tribekit.campaigns.group_buys import joining as group_buy_joining
from tribekit.campaigns.group_buys.schemas import JoinIn
from tribekit.kit import clock
from tribekit.kit.db import Base, Database
from tribekit.models import ApiToken, StaffRole, StaffUser
from tribekit.models.enums import Channel, Role
from tribekit.tenancy.permissions import ROLE_PERMISSIONS, SCOPED_PERMISSIONS, Permission

from .conftest import SECRET, test_settings
from .factories import Factory, Shop, bearer
from .robot.fake_telegram import FakeTelegram


@dataclass(frozen=True)
class Spec:
    permission: Permission | None  # None: any signed-in staff user
    body: dict[str, Any] | None = None
    public: bool = False
    platform: bool = False
    member: bool = False  # a member acting for themselves (signed link or member session)
    csv: bytes | None = None  # a text/csv body instead of JSON
    upload: bool = False  # a multipart body with one small PNG as ``file``
    # The route filters by a leader's communities: a role holding ``permission`` only there
    # (``SCOPED_PERMISSIONS``) reaches it, and sees only what belongs to those communities.
    scoped: bool = False
    # A member's flash token (``/api/v1/me/flash-token``), not a staff or member session.
    flash: bool = False


SECOND_MEMBER = "<a second member of the acting merchant>"
OWN_LEVEL = "<a level of the acting merchant>"
OWN_PLAN = "<a plan of the acting merchant>"
OWN_PRODUCT = "<a product of the acting merchant>"
OWN_ROBOT_TOKEN = "<a Telegram bot token of the acting merchant>"
OWN_COMMUNITY = "<a web community of the acting merchant>"
SOME_ID = "0191a4c4-0000-7000-8000-000000000002"
MEMBER_CART = {"lines": [{"product_id": OWN_PRODUCT, "quantity": 1}]}
CART = {"member_id": SECOND_MEMBER, **MEMBER_CART}
NEW_MERCHANT = {
    "slug": "intruder-shop",
    "name": "Intruder",
    "currency": "CNY",
    "country": "CN",
    "owner": {"email": "x@intruder.example", "name": "X", "password": "long enough pw"},
}

#: Each shop's own Telegram bot, known to the fake Bot API server the app talks to (registering
#: a robot checks its token with getMe).
BROADCAST = {
    "content": {"texts": {"en": "Fresh mangoes in today"}},
    "audience": "communities",
    "community_ids": [OWN_COMMUNITY],
    "send_at": "2099-01-01T12:00:00Z",
}
SCHEDULE = {
    "name": "Friday post",
    "rule": "every Friday 20:00",
    "community_id": OWN_COMMUNITY,
    "content": {"texts": {"en": "Gift-pack day tonight"}},
}
ROBOT_TOKENS = {"shop-a": "700201:isolation-robot-a", "shop-b": "700202:isolation-robot-b"}
FLASH_SALE = {
    "product_id": OWN_PRODUCT,
    "price": 500,
    "quantity": 5,
    "starts_at": "2099-01-01T12:00:00Z",
    "ends_at": "2099-01-01T14:00:00Z",
}
GROUP_BUY = {
    "product_id": OWN_PRODUCT,
    "tiers": [{"size": 2, "unit_price": 900}, {"size": 3, "unit_price": 850}],
    "starts_at": "2099-01-01T12:00:00Z",
    "deadline": "2099-01-02T12:00:00Z",
}
CAMPAIGN_TEMPLATE: dict[str, Any] = {
    "kind": "flash_sale",
    "product_ids": [OWN_PRODUCT],
    "price": 500,
    "quantity": 5,
}
CAMPAIGN_SCHEDULE = {
    "name": "Weeknight flash sale",
    "rule": "Mon-Thu 20:00 for 2 h",
    "template": CAMPAIGN_TEMPLATE,
    "community_ids": [OWN_COMMUNITY],
}


@pytest.fixture(scope="module")
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        for slug, token in ROBOT_TOKENS.items():
            fake.add_bot(token, f"{slug.replace('-', '_')}_robot")
        yield fake


@pytest.fixture
async def app(db: Database, telegram: FakeTelegram) -> AsyncIterator[FastAPI]:
    application = create_app(test_settings(db, telegram_api_base=telegram.base_url), db=db)
    async with application.router.lifespan_context(application):
        yield application


ROUTES: dict[tuple[str, str], Spec] = {
    ("POST", "/api/v1/platform/merchants"): Spec(None, NEW_MERCHANT, platform=True),
    ("POST", "/api/v1/platform/merchants/{merchant_id}/owner-invitations"): Spec(
        None, {"email": "x@intruder.example"}, platform=True
    ),
    ("GET", "/api/v1/merchant"): Spec(Permission.MERCHANT_READ),
    ("PATCH", "/api/v1/merchant"): Spec(Permission.MERCHANT_MANAGE, {"name": "Renamed"}),
    ("GET", "/api/v1/staff"): Spec(Permission.STAFF_READ),
    ("GET", "/api/v1/staff/invitations"): Spec(Permission.STAFF_READ),
    ("POST", "/api/v1/staff/invitations"): Spec(
        Permission.STAFF_MANAGE, {"email": "new@staff.example", "role": "operator"}
    ),
    ("DELETE", "/api/v1/staff/invitations/{invitation_id}"): Spec(Permission.STAFF_MANAGE),
    ("POST", "/api/v1/staff/invitations/accept"): Spec(None, public=True),
    ("PATCH", "/api/v1/staff/{user_id}"): Spec(Permission.STAFF_MANAGE, {"role": "analyst"}),
    ("DELETE", "/api/v1/staff/{user_id}"): Spec(Permission.STAFF_MANAGE),
    ("GET", "/api/v1/tokens"): Spec(Permission.TOKENS_OWN),
    ("POST", "/api/v1/tokens"): Spec(Permission.TOKENS_OWN, {"name": "mine"}),
    ("DELETE", "/api/v1/tokens/{token_id}"): Spec(Permission.TOKENS_OWN),
    ("POST", "/api/v1/auth/login"): Spec(None, public=True),
    ("POST", "/api/v1/auth/logout"): Spec(None),
    ("GET", "/api/v1/auth/me"): Spec(None),
    ("GET", "/api/v1/members"): Spec(Permission.MEMBERS_READ, scoped=True),
    ("POST", "/api/v1/members"): Spec(Permission.MEMBERS_WRITE, {"display_name": "Intruder"}),
    ("GET", "/api/v1/members/{member_id}"): Spec(Permission.MEMBERS_READ, scoped=True),
    ("PATCH", "/api/v1/members/{member_id}"): Spec(Permission.MEMBERS_WRITE, {"notes": "changed"}),
    ("DELETE", "/api/v1/members/{member_id}"): Spec(Permission.MEMBERS_ERASE),
    ("GET", "/api/v1/members/{member_id}/export"): Spec(Permission.MEMBERS_READ),
    ("GET", "/api/v1/members/{member_id}/events"): Spec(Permission.MEMBERS_READ),
    ("POST", "/api/v1/members/{member_id}/merge"): Spec(
        Permission.MEMBERS_WRITE, {"source_member_id": SECOND_MEMBER}
    ),
    ("POST", "/api/v1/members/{member_id}/identities"): Spec(
        Permission.MEMBERS_WRITE, {"channel": "telegram", "external_id": "999"}
    ),
    ("DELETE", "/api/v1/members/{member_id}/identities/{identity_id}"): Spec(
        Permission.MEMBERS_WRITE
    ),
    ("GET", "/api/v1/communities"): Spec(Permission.COMMUNITIES_READ, scoped=True),
    ("POST", "/api/v1/communities"): Spec(
        Permission.COMMUNITIES_WRITE,
        {"name": "Intruders", "channel": "telegram", "external_id": "-1"},
    ),
    ("GET", "/api/v1/communities/{community_id}"): Spec(Permission.COMMUNITIES_READ, scoped=True),
    ("PATCH", "/api/v1/communities/{community_id}"): Spec(
        Permission.COMMUNITIES_WRITE, {"name": "Taken over", "rules_text": "obey"}
    ),
    ("POST", "/api/v1/communities/{community_id}/confirm"): Spec(Permission.COMMUNITIES_WRITE),
    ("POST", "/api/v1/communities/{community_id}/refuse"): Spec(Permission.COMMUNITIES_WRITE),
    ("POST", "/api/v1/communities/{community_id}/archive"): Spec(Permission.COMMUNITIES_WRITE),
    ("GET", "/api/v1/communities/{community_id}/members"): Spec(
        Permission.MEMBERS_READ, scoped=True
    ),
    ("GET", "/api/v1/communities/{community_id}/leaders"): Spec(
        Permission.COMMUNITIES_READ, scoped=True
    ),
    ("POST", "/api/v1/communities/{community_id}/leaders"): Spec(
        Permission.COMMUNITIES_LEADERS, {"member_id": SECOND_MEMBER}
    ),
    ("DELETE", "/api/v1/communities/{community_id}/leaders/{leader_id}"): Spec(
        Permission.COMMUNITIES_LEADERS
    ),
    ("POST", "/api/v1/communities/{community_id}/members"): Spec(
        Permission.COMMUNITIES_WRITE, {"member_id": SECOND_MEMBER}
    ),
    ("DELETE", "/api/v1/communities/{community_id}/members/{member_id}"): Spec(
        Permission.COMMUNITIES_WRITE
    ),
    ("GET", "/api/v1/membership/settings"): Spec(Permission.MEMBERSHIP_READ),
    ("PATCH", "/api/v1/membership/settings"): Spec(
        Permission.MEMBERSHIP_CONFIGURE, {"points_per_unit": 3}
    ),
    ("GET", "/api/v1/membership/levels"): Spec(Permission.MEMBERSHIP_READ),
    ("POST", "/api/v1/membership/levels"): Spec(
        Permission.MEMBERSHIP_CONFIGURE, {"name": "Intruder", "rank": 77}
    ),
    ("GET", "/api/v1/membership/levels/{level_id}"): Spec(Permission.MEMBERSHIP_READ),
    ("PATCH", "/api/v1/membership/levels/{level_id}"): Spec(
        Permission.MEMBERSHIP_CONFIGURE, {"discount_bps": 9000}
    ),
    ("GET", "/api/v1/membership/levels/{level_id}/prices"): Spec(Permission.MEMBERSHIP_READ),
    ("PUT", "/api/v1/membership/levels/{level_id}/prices/{product_id}"): Spec(
        Permission.MEMBERSHIP_CONFIGURE, {"price": 1}
    ),
    ("DELETE", "/api/v1/membership/levels/{level_id}/prices/{product_id}"): Spec(
        Permission.MEMBERSHIP_CONFIGURE
    ),
    ("GET", "/api/v1/membership/plans"): Spec(Permission.MEMBERSHIP_READ),
    ("POST", "/api/v1/membership/plans"): Spec(
        Permission.MEMBERSHIP_CONFIGURE,
        {"name": "Intruder card", "level_id": OWN_LEVEL, "price": 1, "duration_months": 1},
    ),
    ("PATCH", "/api/v1/membership/plans/{plan_id}"): Spec(
        Permission.MEMBERSHIP_CONFIGURE, {"price": 1}
    ),
    ("GET", "/api/v1/members/{member_id}/points"): Spec(Permission.MEMBERSHIP_READ),
    ("GET", "/api/v1/members/{member_id}/points/entries"): Spec(Permission.MEMBERSHIP_READ),
    ("POST", "/api/v1/members/{member_id}/points/adjustments"): Spec(
        Permission.POINTS_WRITE, {"points": 5, "reason": "intrusion"}
    ),
    ("POST", "/api/v1/members/{member_id}/points/redemptions"): Spec(
        Permission.POINTS_WRITE, {"points": 1, "reward": "intrusion"}
    ),
    ("POST", "/api/v1/members/{member_id}/points/entries/{entry_id}/reversal"): Spec(
        Permission.POINTS_WRITE, {"reason": "intrusion"}
    ),
    ("GET", "/api/v1/members/{member_id}/level"): Spec(Permission.MEMBERSHIP_READ),
    ("PUT", "/api/v1/members/{member_id}/level"): Spec(
        Permission.POINTS_WRITE, {"level_id": OWN_LEVEL, "reason": "intrusion"}
    ),
    ("GET", "/api/v1/members/{member_id}/level-changes"): Spec(Permission.MEMBERSHIP_READ),
    ("GET", "/api/v1/members/{member_id}/benefits"): Spec(Permission.MEMBERSHIP_READ),
    ("GET", "/api/v1/members/{member_id}/plans"): Spec(Permission.MEMBERSHIP_READ),
    ("POST", "/api/v1/members/{member_id}/plans"): Spec(
        Permission.POINTS_WRITE, {"plan_id": OWN_PLAN}
    ),
    ("POST", "/api/v1/members/{member_id}/access-links"): Spec(Permission.MEMBERS_WRITE),
    ("GET", "/api/v1/products"): Spec(Permission.CATALOG_READ),
    ("POST", "/api/v1/products"): Spec(Permission.CATALOG_WRITE, {"name": "Intruder", "price": 1}),
    ("GET", "/api/v1/products/{product_id}"): Spec(Permission.CATALOG_READ),
    ("PATCH", "/api/v1/products/{product_id}"): Spec(Permission.CATALOG_WRITE, {"price": 1}),
    ("GET", "/api/v1/products/export"): Spec(Permission.CATALOG_READ),
    ("POST", "/api/v1/products/import"): Spec(
        Permission.CATALOG_WRITE, csv=b"sku,name,price\nINTRUDER-1,Intruder box,1.00\n"
    ),
    ("POST", "/api/v1/products/{product_id}/images"): Spec(Permission.CATALOG_WRITE, upload=True),
    ("PUT", "/api/v1/products/{product_id}/stock-tracking"): Spec(
        Permission.CATALOG_WRITE, {"track": False}
    ),
    ("POST", "/api/v1/products/{product_id}/stock-adjustments"): Spec(
        Permission.CATALOG_WRITE, {"delta": 1, "reason": "intrusion"}
    ),
    ("POST", "/api/v1/orders/quote"): Spec(Permission.ORDERS_READ, CART),
    ("POST", "/api/v1/orders"): Spec(Permission.ORDERS_WRITE, CART),
    ("GET", "/api/v1/orders"): Spec(Permission.ORDERS_READ, scoped=True),
    ("GET", "/api/v1/orders/{order_id}"): Spec(Permission.ORDERS_READ, scoped=True),
    ("POST", "/api/v1/orders/{order_id}/payments"): Spec(
        Permission.ORDERS_WRITE, {"provider": "manual"}
    ),
    ("POST", "/api/v1/orders/{order_id}/fulfil"): Spec(Permission.ORDERS_WRITE),
    ("POST", "/api/v1/orders/{order_id}/complete"): Spec(Permission.ORDERS_WRITE),
    ("POST", "/api/v1/orders/{order_id}/cancel"): Spec(
        Permission.ORDERS_WRITE, {"reason": "intrusion"}
    ),
    ("POST", "/api/v1/orders/{order_id}/refunds"): Spec(
        Permission.REFUNDS_WRITE, {"reason": "intrusion"}
    ),
    ("GET", "/api/v1/orders/{order_id}/refunds"): Spec(Permission.ORDERS_READ),
    ("GET", "/api/v1/checkout/settings"): Spec(Permission.ORDERS_READ),
    ("PATCH", "/api/v1/checkout/settings"): Spec(
        Permission.CHECKOUT_CONFIGURE, {"shipping_fee": 1}
    ),
    ("GET", "/api/v1/pickup-points"): Spec(Permission.ORDERS_READ),
    ("POST", "/api/v1/pickup-points"): Spec(
        Permission.CHECKOUT_CONFIGURE, {"name": "Intruder point", "address": "somewhere"}
    ),
    ("PUT", "/api/v1/pickup-points/{point_id}"): Spec(
        Permission.CHECKOUT_CONFIGURE, {"name": "Taken over", "address": "elsewhere"}
    ),
    ("GET", "/api/v1/coupons"): Spec(Permission.ORDERS_READ),
    ("POST", "/api/v1/coupons"): Spec(
        Permission.CHECKOUT_CONFIGURE, {"code": "INTRUDER", "kind": "amount", "value": 1}
    ),
    ("GET", "/api/v1/coupons/{coupon_id}"): Spec(Permission.ORDERS_READ),
    ("PATCH", "/api/v1/coupons/{coupon_id}"): Spec(
        Permission.CHECKOUT_CONFIGURE, {"active": False}
    ),
    # -- coupons: issue modes, grants, claim links (campaigns/coupons) --
    ("POST", "/api/v1/coupons/{coupon_id}/grants"): Spec(
        Permission.CHECKOUT_CONFIGURE, {"member_ids": [SECOND_MEMBER]}
    ),
    ("GET", "/api/v1/coupons/{coupon_id}/grants"): Spec(Permission.ORDERS_READ),
    ("GET", "/api/v1/coupons/{coupon_id}/claim-link"): Spec(Permission.CHECKOUT_CONFIGURE),
    ("GET", "/api/v1/me/coupons"): Spec(None, member=True),
    ("POST", "/api/v1/me/coupons/claim"): Spec(None, {"token": "tkc_intruder.sig"}, member=True),
    # -- gift packs (campaigns/bundles) --
    ("PUT", "/api/v1/products/{product_id}/components"): Spec(
        Permission.CATALOG_WRITE, {"components": [{"product_id": OWN_PRODUCT, "quantity": 1}]}
    ),
    ("GET", "/api/v1/products/{product_id}/components"): Spec(Permission.CATALOG_READ),
    # -- flash sales (campaigns/flash) --
    ("GET", "/api/v1/flash-sales"): Spec(Permission.CAMPAIGNS_READ),
    ("POST", "/api/v1/flash-sales"): Spec(Permission.CAMPAIGNS_MANAGE, FLASH_SALE),
    ("GET", "/api/v1/flash-sales/{sale_id}"): Spec(Permission.CAMPAIGNS_READ),
    ("PATCH", "/api/v1/flash-sales/{sale_id}"): Spec(Permission.CAMPAIGNS_MANAGE, {"price": 1}),
    ("POST", "/api/v1/flash-sales/{sale_id}/cancel"): Spec(Permission.CAMPAIGNS_MANAGE),
    ("GET", "/api/v1/flash-sales/{sale_id}/live"): Spec(None, public=True),
    ("POST", "/api/v1/flash-sales/{sale_id}/purchase"): Spec(None, {"quantity": 1}, flash=True),
    ("POST", "/api/v1/me/flash-token"): Spec(None, member=True),
    ("POST", "/api/v1/me/flash-reservations/{reservation_id}/payments"): Spec(
        None, {"provider": "manual"}, member=True
    ),
    # -- group buys (campaigns/group_buys) --
    ("GET", "/api/v1/group-buys"): Spec(Permission.CAMPAIGNS_READ),
    ("POST", "/api/v1/group-buys"): Spec(Permission.CAMPAIGNS_MANAGE, GROUP_BUY),
    ("GET", "/api/v1/group-buys/{group_buy_id}"): Spec(Permission.CAMPAIGNS_READ),
    ("POST", "/api/v1/group-buys/{group_buy_id}/cancel"): Spec(Permission.CAMPAIGNS_MANAGE),
    ("GET", "/api/v1/group-buy-teams/{team_id}"): Spec(Permission.CAMPAIGNS_READ),
    ("GET", "/api/v1/group-buy-teams/by-code/{code}"): Spec(None, public=True),
    ("GET", "/api/v1/me/group-buys"): Spec(None, member=True),
    ("POST", "/api/v1/me/group-buys/{group_buy_id}/join"): Spec(None, {}, member=True),
    ("POST", "/api/v1/me/group-buys/{group_buy_id}/leave"): Spec(None, member=True),
    ("GET", "/api/v1/me/group-buys/{group_buy_id}/team"): Spec(None, member=True),
    # -- campaign schedules and the calendar (campaigns/schedules) --
    ("GET", "/api/v1/campaign-schedules"): Spec(Permission.CAMPAIGNS_READ),
    ("POST", "/api/v1/campaign-schedules"): Spec(Permission.CAMPAIGNS_MANAGE, CAMPAIGN_SCHEDULE),
    ("GET", "/api/v1/campaign-schedules/{campaign_schedule_id}"): Spec(Permission.CAMPAIGNS_READ),
    ("PATCH", "/api/v1/campaign-schedules/{campaign_schedule_id}"): Spec(
        Permission.CAMPAIGNS_MANAGE, {"name": "Taken over"}
    ),
    ("POST", "/api/v1/campaign-schedules/{campaign_schedule_id}/pause"): Spec(
        Permission.CAMPAIGNS_MANAGE
    ),
    ("POST", "/api/v1/campaign-schedules/{campaign_schedule_id}/resume"): Spec(
        Permission.CAMPAIGNS_MANAGE
    ),
    ("DELETE", "/api/v1/campaign-schedules/{campaign_schedule_id}"): Spec(
        Permission.CAMPAIGNS_MANAGE
    ),
    ("GET", "/api/v1/campaign-calendar"): Spec(Permission.CAMPAIGNS_READ),
    ("GET", "/api/v1/events/{product_id}/attendees"): Spec(Permission.ORDERS_READ),
    ("POST", "/api/v1/events/{product_id}/check-ins"): Spec(
        Permission.ORDERS_WRITE, {"line_id": SOME_ID}
    ),
    ("POST", "/api/v1/events/{product_id}/check-ins/close"): Spec(Permission.ORDERS_WRITE),
    ("POST", "/api/v1/payments/{provider}/webhook"): Spec(None, public=True),
    ("POST", "/api/v1/me/session"): Spec(None, member=True),
    ("GET", "/api/v1/me"): Spec(None, member=True),
    ("GET", "/api/v1/me/points"): Spec(None, member=True),
    ("POST", "/api/v1/me/quote"): Spec(None, MEMBER_CART, member=True),
    ("POST", "/api/v1/me/orders"): Spec(None, MEMBER_CART, member=True),
    ("GET", "/api/v1/me/orders"): Spec(None, member=True),
    ("GET", "/api/v1/me/orders/{order_id}"): Spec(None, member=True),
    ("POST", "/api/v1/me/orders/{order_id}/payments"): Spec(
        None, {"provider": "manual"}, member=True
    ),
    ("POST", "/api/v1/me/orders/{order_id}/cancel"): Spec(
        None, {"reason": "intrusion"}, member=True
    ),
    # robot: accounts and webhooks
    ("GET", "/api/v1/robot/accounts"): Spec(Permission.ROBOT_READ),
    ("POST", "/api/v1/robot/accounts"): Spec(Permission.ROBOT_ACCOUNTS, {"token": OWN_ROBOT_TOKEN}),
    ("GET", "/api/v1/robot/accounts/{account_id}"): Spec(Permission.ROBOT_READ),
    ("PATCH", "/api/v1/robot/accounts/{account_id}"): Spec(
        Permission.ROBOT_ACCOUNTS, {"name": "Taken over", "mode": "poll"}
    ),
    ("DELETE", "/api/v1/robot/accounts/{account_id}"): Spec(Permission.ROBOT_ACCOUNTS),
    ("POST", "/api/v1/robot/accounts/{account_id}/webhook"): Spec(Permission.ROBOT_ACCOUNTS),
    ("POST", "/api/v1/robot/telegram/{account_id}/webhook"): Spec(None, public=True),
    # robot: moderation, auto-replies, activity
    ("GET", "/api/v1/robot/policy"): Spec(Permission.MODERATION_READ),
    ("PUT", "/api/v1/robot/policy"): Spec(
        Permission.MODERATION_WRITE, {"flood": {"max_messages": 9}}
    ),
    ("GET", "/api/v1/robot/policy/communities/{community_id}"): Spec(Permission.MODERATION_READ),
    ("PUT", "/api/v1/robot/policy/communities/{community_id}"): Spec(
        Permission.MODERATION_WRITE, {"links": {"mode": "block_all"}}
    ),
    ("DELETE", "/api/v1/robot/policy/communities/{community_id}"): Spec(
        Permission.MODERATION_WRITE
    ),
    ("GET", "/api/v1/robot/bans"): Spec(Permission.MODERATION_READ),
    ("POST", "/api/v1/robot/bans"): Spec(
        Permission.MODERATION_WRITE, {"member_id": SECOND_MEMBER, "reason": "intrusion"}
    ),
    ("POST", "/api/v1/robot/bans/{ban_id}/lift"): Spec(Permission.MODERATION_WRITE),
    ("GET", "/api/v1/robot/moderation"): Spec(Permission.MODERATION_READ, scoped=True),
    ("POST", "/api/v1/robot/moderation/reports"): Spec(
        Permission.MODERATION_WRITE, {"community_id": OWN_COMMUNITY, "message_id": "m-1"}
    ),
    ("POST", "/api/v1/robot/moderation/{entry_id}/undo"): Spec(Permission.MODERATION_WRITE),
    ("POST", "/api/v1/robot/moderation/{entry_id}/review"): Spec(
        Permission.MODERATION_WRITE, {"verdict": "confirmed"}
    ),
    ("GET", "/api/v1/robot/replies"): Spec(Permission.ROBOT_READ),
    ("POST", "/api/v1/robot/replies"): Spec(
        Permission.ROBOT_CONFIGURE, {"match": "contains", "pattern": "hours", "reply": "9-5"}
    ),
    ("PATCH", "/api/v1/robot/replies/{reply_id}"): Spec(
        Permission.ROBOT_CONFIGURE, {"reply": "taken over"}
    ),
    ("DELETE", "/api/v1/robot/replies/{reply_id}"): Spec(Permission.ROBOT_CONFIGURE),
    ("GET", "/api/v1/communities/{community_id}/activity"): Spec(
        Permission.COMMUNITIES_READ, scoped=True
    ),
    ("GET", "/api/v1/robot/broadcasts"): Spec(Permission.BROADCASTS_READ),
    ("POST", "/api/v1/robot/broadcasts"): Spec(Permission.BROADCASTS_SEND, BROADCAST),
    ("POST", "/api/v1/robot/broadcasts/preview"): Spec(
        Permission.BROADCASTS_SEND, {"content": BROADCAST["content"]}
    ),
    ("GET", "/api/v1/robot/broadcasts/{broadcast_id}"): Spec(Permission.BROADCASTS_READ),
    ("POST", "/api/v1/robot/broadcasts/{broadcast_id}/cancel"): Spec(Permission.BROADCASTS_SEND),
    ("GET", "/api/v1/robot/broadcasts/{broadcast_id}/deliveries"): Spec(Permission.BROADCASTS_READ),
    ("GET", "/api/v1/robot/schedules"): Spec(Permission.BROADCASTS_READ),
    ("POST", "/api/v1/robot/schedules"): Spec(Permission.BROADCASTS_SEND, SCHEDULE),
    ("GET", "/api/v1/robot/schedules/{schedule_id}"): Spec(Permission.BROADCASTS_READ),
    ("PATCH", "/api/v1/robot/schedules/{schedule_id}"): Spec(
        Permission.BROADCASTS_SEND, {"name": "Taken over"}
    ),
    ("DELETE", "/api/v1/robot/schedules/{schedule_id}"): Spec(Permission.BROADCASTS_SEND),
    ("GET", "/api/v1/robot/calendar"): Spec(Permission.BROADCASTS_READ),
}


@dataclass
class World:
    a: Shop
    b: Shop
    ids: dict[str, str] = field(default_factory=dict)  # path parameter -> one of A's objects
    b_member: str = ""
    a_other_member: str = ""
    own: dict[str, dict[str, str]] = field(default_factory=dict)  # shop slug -> placeholders


def _api_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every operation the app serves under /api/, as documented in its OpenAPI."""
    paths = app.openapi()["paths"]
    return {
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/api/")
        for method in operations
    }


async def _world(factory: Factory, client: AsyncClient, db: Database) -> World:
    a, b = await factory.shop("shop-a"), await factory.shop("shop-b")
    member = await factory.member(
        a,
        phone="13800138000",
        tags=["vip"],
        identities=[{"channel": "telegram", "external_id": "1"}],
    )
    other = await factory.member(a, display_name="Other")
    b_member = await factory.member(b, display_name="B's")
    await factory.staff_token(a, Role.OPERATOR)
    community = (
        await client.post(
            "/api/v1/communities",
            json={"name": "A group", "channel": Channel.TELEGRAM.value, "external_id": "-100"},
            headers=a.headers,
        )
    ).json()
    joined = await client.post(
        f"/api/v1/communities/{community['id']}/members",
        json={"member_id": str(member.member.id)},
        headers=a.headers,
    )
    assert joined.status_code == 200
    leader = await client.post(
        f"/api/v1/communities/{community['id']}/leaders",
        json={"member_id": str(member.member.id)},
        headers=a.headers,
    )
    assert leader.status_code == 201
    async with db.unit_of_work() as session:
        operator = await session.scalar(
            select(StaffRole).where(
                StaffRole.merchant_id == a.tenant.id, StaffRole.role == "operator"
            )
        )
        token = await session.scalar(select(ApiToken).where(ApiToken.merchant_id == a.tenant.id))
    assert operator is not None
    assert token is not None
    own = {shop.tenant.slug: await _membership_objects(client, shop) for shop in (a, b)}
    product_id = own["shop-a"][OWN_PRODUCT]
    price = await client.put(
        f"/api/v1/membership/levels/{own['shop-a'][OWN_LEVEL]}/prices/{product_id}",
        json={"price": 990},
        headers=a.headers,
    )
    assert price.status_code == 200
    earned = await client.post(
        f"/api/v1/members/{member.member.id}/points/adjustments",
        json={"points": 10, "reason": "welcome"},
        headers={**a.headers, "Idempotency-Key": "world-earn"},
    )
    assert earned.status_code == 201
    order = await client.post(
        "/api/v1/orders",
        json={
            "member_id": str(member.member.id),
            "lines": [{"product_id": product_id, "quantity": 1}],
        },
        headers={**a.headers, "Idempotency-Key": "world-order"},
    )
    assert order.status_code == 201, order.text
    point = await client.post(
        "/api/v1/pickup-points", json={"name": "A point", "address": "A street"}, headers=a.headers
    )
    coupon = await client.post(
        "/api/v1/coupons",
        json={"code": "A-ONLY", "kind": "amount", "value": 100},
        headers=a.headers,
    )
    invitation = await client.post(
        "/api/v1/staff/invitations",
        json={"email": "invited@a.example", "role": "analyst"},
        headers=a.headers,
    )
    assert invitation.status_code == 201
    banned = await factory.member(a, display_name="Banned")
    ban = await client.post(
        "/api/v1/robot/bans",
        json={"member_id": str(banned.member.id), "reason": "spam"},
        headers=a.headers,
    )
    assert ban.status_code == 201, ban.text
    reply = await client.post(
        "/api/v1/robot/replies",
        json={"match": "exact", "pattern": "hours?", "reply": "9 to 5"},
        headers=a.headers,
    )
    assert reply.status_code == 201, reply.text
    robot = await client.post(
        "/api/v1/robot/accounts", json={"token": ROBOT_TOKENS[a.tenant.slug]}, headers=a.headers
    )
    assert robot.status_code == 201, robot.text
    own_group = own["shop-a"][OWN_COMMUNITY]
    broadcast = await client.post(
        "/api/v1/robot/broadcasts",
        json={**BROADCAST, "community_ids": [own_group]},
        headers=a.headers,
    )
    assert broadcast.status_code == 201, broadcast.text
    schedule = await client.post(
        "/api/v1/robot/schedules", json={**SCHEDULE, "community_id": own_group}, headers=a.headers
    )
    assert schedule.status_code == 201, schedule.text
    campaign_schedule = await client.post(
        "/api/v1/campaign-schedules",
        json={
            **CAMPAIGN_SCHEDULE,
            "template": {**CAMPAIGN_TEMPLATE, "product_ids": [product_id]},
            "community_ids": [own_group],
        },
        headers=a.headers,
    )
    assert campaign_schedule.status_code == 201, campaign_schedule.text
    flash = await _flash_objects(client, db, a, member.member.id, product_id)
    group_buy = await _group_buy_objects(client, db, a, member.member.id, product_id)
    ids = {
        **flash,
        **group_buy,
        "broadcast_id": broadcast.json()["id"],
        "schedule_id": schedule.json()["id"],
        "campaign_schedule_id": campaign_schedule.json()["id"],
        "account_id": robot.json()["id"],
        "ban_id": ban.json()["id"],
        "reply_id": reply.json()["id"],
        "member_id": str(member.member.id),
        "identity_id": str(member.identities[0].id),
        "community_id": community["id"],
        "user_id": str(operator.user_id),
        "token_id": str(token.id),
        "level_id": own["shop-a"][OWN_LEVEL],
        "plan_id": own["shop-a"][OWN_PLAN],
        "product_id": product_id,
        "entry_id": earned.json()["id"],
        "order_id": order.json()["id"],
        "point_id": point.json()["id"],
        "coupon_id": coupon.json()["id"],
        "invitation_id": invitation.json()["id"],
        "leader_id": leader.json()["id"],
        "merchant_id": str(a.tenant.id),
    }
    return World(a, b, ids, str(b_member.member.id), str(other.member.id), own)


async def _flash_objects(
    client: AsyncClient, db: Database, shop: Shop, member_id: uuid.UUID, product_id: str
) -> dict[str, str]:
    """A flash sale of ``shop`` on sale now, and a member's reservation in it."""
    now = clock.now()
    sale = await client.post(
        "/api/v1/flash-sales",
        json={
            **FLASH_SALE,
            "product_id": product_id,
            "starts_at": (now - timedelta(seconds=1)).isoformat(),
            "ends_at": (now + timedelta(hours=1)).isoformat(),
        },
        headers=shop.headers,
    )
    assert sale.status_code == 201, sale.text
    runtime = flash_runtime.shared(db, None, test_settings(db), SECRET)
    assert await db.run(lambda session: flash_tasks.start_due(session, runtime, 1)) == 1
    runtime.live.forget(uuid.UUID(sale.json()["id"]))
    token, _ = flash_tokens.sign(SECRET, shop.tenant.id, member_id, None, frozenset())
    bought = await client.post(
        f"/api/v1/flash-sales/{sale.json()['id']}/purchase",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert bought.status_code == 201, bought.text
    return {"sale_id": sale.json()["id"], "reservation_id": bought.json()["reservation_id"]}


async def _group_buy_objects(
    client: AsyncClient, db: Database, shop: Shop, member_id: uuid.UUID, product_id: str
) -> dict[str, str]:
    """A group buy of ``shop`` open now, and a member's team in it."""
    now = clock.now()
    made = await client.post(
        "/api/v1/group-buys",
        json={
            **GROUP_BUY,
            "product_id": product_id,
            "starts_at": (now - timedelta(seconds=1)).isoformat(),
            "deadline": (now + timedelta(hours=1)).isoformat(),
        },
        headers=shop.headers,
    )
    assert made.status_code == 201, made.text
    async with db.unit_of_work() as session:
        joined = await group_buy_joining.join(
            session, shop.tenant, member_id, uuid.UUID(made.json()["id"]), JoinIn(), actor="test"
        )
    return {
        "group_buy_id": made.json()["id"],
        "team_id": str(joined.team.id),
        "code": joined.team.code,
    }


async def _membership_objects(client: AsyncClient, shop: Shop) -> dict[str, str]:
    level = await client.post(
        "/api/v1/membership/levels", json={"name": "Gold", "rank": 2}, headers=shop.headers
    )
    assert level.status_code == 201
    plan = await client.post(
        "/api/v1/membership/plans",
        json={"name": "Card", "level_id": level.json()["id"], "price": 100, "duration_months": 12},
        headers=shop.headers,
    )
    assert plan.status_code == 201
    product = await client.post(
        "/api/v1/products",
        json={"name": "Mango box", "price": 1000, "stock": 50},
        headers=shop.headers,
    )
    assert product.status_code == 201
    community = await client.post(
        "/api/v1/communities",
        json={"name": "Own web group", "channel": "web"},
        headers=shop.headers,
    )
    assert community.status_code == 201
    return {
        OWN_LEVEL: level.json()["id"],
        OWN_PLAN: plan.json()["id"],
        OWN_PRODUCT: product.json()["id"],
        OWN_ROBOT_TOKEN: ROBOT_TOKENS[shop.tenant.slug],
        OWN_COMMUNITY: community.json()["id"],
    }


_keys = itertools.count()


def _path(template: str, ids: dict[str, str]) -> str:
    return template.format(provider="manual", **ids)


def _body(spec: Spec, world: World, *, acting: Shop) -> dict[str, Any] | None:
    if spec.body is None:
        return None
    mine = {
        SECOND_MEMBER: world.b_member if acting is world.b else world.a_other_member,
        **world.own[acting.tenant.slug],
    }

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return mine.get(value, value)
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        return value

    filled: dict[str, Any] = fill(spec.body)
    return filled


async def _snapshot(db: Database, shop: Shop) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table that belongs to ``shop``'s merchant."""
    state: dict[str, list[tuple[Any, ...]]] = {}
    async with db.unit_of_work() as session:
        for table in Base.metadata.sorted_tables:
            if "merchant_id" not in table.c:
                continue
            columns = [c for c in table.c if c.name != "last_used_at"]
            rows = (
                await session.execute(select(*columns).where(table.c.merchant_id == shop.tenant.id))
            ).all()
            state[table.name] = sorted(tuple(map(str, row)) for row in rows)
    return state


PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
    b"\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00"
    b"\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


async def _call(
    client: AsyncClient,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    headers: dict[str, str],
    spec: Spec | None = None,
) -> int:
    headers = {**headers, "Idempotency-Key": f"matrix-{next(_keys)}"}
    if spec is not None and spec.csv is not None:
        headers["Content-Type"] = "text/csv"
        response = await client.request(method, path, content=spec.csv, headers=headers)
    elif spec is not None and spec.upload:
        files = {"file": ("box.png", PNG, "image/png")}
        response = await client.request(method, path, files=files, headers=headers)
    else:
        response = await client.request(method, path, json=body, headers=headers)
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"
    return response.status_code


def test_every_api_route_is_in_the_matrix(app: FastAPI) -> None:
    assert _api_routes(app) == set(ROUTES)


async def test_anonymous_gets_401_everywhere(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    world = await _world(factory, client, db)
    before = await _snapshot(db, world.a)
    for (method, template), spec in ROUTES.items():
        if spec.public:
            continue
        status = await _call(
            client, method, _path(template, world.ids), _body(spec, world, acting=world.a), {}, spec
        )
        assert status == 401, (method, template)
    assert await _snapshot(db, world.a) == before


async def test_other_merchant_gets_404_on_a_objects_and_changes_nothing(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    world = await _world(factory, client, db)
    before = await _snapshot(db, world.a)
    for (method, template), spec in ROUTES.items():
        if spec.public or spec.platform or spec.member or spec.flash or "{" not in template:
            continue
        path = _path(template, world.ids)
        status = await _call(
            client, method, path, _body(spec, world, acting=world.b), world.b.headers, spec
        )
        assert status == 404, (method, template)
    assert await _snapshot(db, world.a) == before


async def test_a_member_of_b_with_a_flash_token_reaches_none_of_a_sales(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    world = await _world(factory, client, db)
    link = await client.post(
        f"/api/v1/members/{world.b_member}/access-links", headers=world.b.headers
    )
    issued = await client.post("/api/v1/me/flash-token", headers=bearer(link.json()["token"]))
    assert issued.status_code == 200, issued.text
    flash = bearer(issued.json()["token"])
    before = await _snapshot(db, world.a)
    for (method, template), spec in ROUTES.items():
        if not spec.flash:
            continue
        status = await _call(
            client, method, _path(template, world.ids), _body(spec, world, acting=world.b), flash
        )
        assert status == 404, (method, template)
    assert await _snapshot(db, world.a) == before


async def test_other_merchant_lists_and_creates_only_in_its_own_shop(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    world = await _world(factory, client, db)
    before = await _snapshot(db, world.a)
    for (method, template), spec in ROUTES.items():
        if spec.public or spec.platform or spec.member or "{" in template:
            continue
        body = _body(spec, world, acting=world.b)
        headers = {**world.b.headers, "Idempotency-Key": f"matrix-{next(_keys)}"}
        if spec.csv is not None:
            headers["Content-Type"] = "text/csv"
            response = await client.request(method, template, content=spec.csv, headers=headers)
        else:
            response = await client.request(method, template, json=body, headers=headers)
        assert response.status_code < 400, (method, template, response.text)
        for a_id in world.ids.values():
            assert a_id not in response.text, (method, template)
    assert await _snapshot(db, world.a) == before


async def test_cross_merchant_references_in_bodies_are_404(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    """B may not pull A's member into B's objects, whatever the path says."""
    world = await _world(factory, client, db)
    b_community = (
        await client.post(
            "/api/v1/communities",
            json={"name": "B group", "channel": "web"},
            headers=world.b.headers,
        )
    ).json()
    before = await _snapshot(db, world.a)
    merge = await client.post(
        f"/api/v1/members/{world.b_member}/merge",
        json={"source_member_id": world.ids["member_id"]},
        headers=world.b.headers,
    )
    assert merge.status_code == 404
    join = await client.post(
        f"/api/v1/communities/{b_community['id']}/members",
        json={"member_id": world.ids["member_id"]},
        headers=world.b.headers,
    )
    assert join.status_code == 404
    assert await _snapshot(db, world.a) == before


async def test_other_merchant_cannot_take_a_staff_by_email(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    """B invites A's operator by email: B gets an invitation that only the operator can accept,
    answered as for an unknown email, and nothing of A's (nor the operator's login) changes."""
    world = await _world(factory, client, db)
    before = await _snapshot(db, world.a)
    async with db.unit_of_work() as session:
        operator = await session.get(StaffUser, uuid.UUID(world.ids["user_id"]))
        assert operator is not None
        login_before = (operator.email, operator.name, operator.password_hash)
    answers = []
    for email in (login_before[0], "nobody@b-side.example"):
        invited = await client.post(
            "/api/v1/staff/invitations",
            json={"email": email, "role": "leader"},
            headers=world.b.headers,
        )
        assert invited.status_code == 201
        for a_id in world.ids.values():
            assert a_id not in invited.text
        assert login_before[1] not in invited.text
        answers.append(sorted(invited.json()))
        taken = await client.post(
            "/api/v1/staff/invitations/accept",
            json={"token": invited.json()["token"], "password": "long enough pw"},
            headers=world.b.headers,  # B's owner, signed in, is not the invited person
        )
        assert taken.status_code == 403
    assert answers[0] == answers[1]
    guessed = await client.post(
        "/api/v1/staff/invitations/accept",
        json={"token": "tki_deadbeef_guess", "name": "X", "password": "long enough pw"},
    )
    assert guessed.status_code == 404
    assert await _snapshot(db, world.a) == before
    async with db.unit_of_work() as session:
        operator = await session.get(StaffUser, uuid.UUID(world.ids["user_id"]))
        assert operator is not None
        assert (operator.email, operator.name, operator.password_hash) == login_before
        roles = (
            await session.scalars(select(StaffRole).where(StaffRole.user_id == operator.id))
        ).all()
        assert [(r.merchant_id, r.role) for r in roles] == [(world.a.tenant.id, "operator")]


@pytest.mark.parametrize("role", [Role.LEADER, Role.ANALYST, Role.OPERATOR, Role.ADMIN])
async def test_roles_without_the_permission_get_403(
    role: Role, client: AsyncClient, factory: Factory, db: Database
) -> None:
    world = await _world(factory, client, db)
    token = await factory.staff_token(world.a, role)
    before = await _snapshot(db, world.a)
    denied = 0
    for (method, template), spec in ROUTES.items():
        if spec.public or spec.member:
            continue
        if spec.scoped and spec.permission in SCOPED_PERMISSIONS.get(role, ()):
            continue  # reached within the role's communities: the leader rows below
        if spec.platform or (spec.permission and spec.permission not in ROLE_PERMISSIONS[role]):
            path = _path(template, world.ids)
            status = await _call(
                client, method, path, _body(spec, world, acting=world.a), bearer(token), spec
            )
            assert status == 403, (role, method, template)
            denied += 1
    assert denied > 0
    assert await _snapshot(db, world.a) == before


async def test_a_member_of_b_reaches_none_of_a_orders(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    world = await _world(factory, client, db)
    link = await client.post(
        f"/api/v1/members/{world.b_member}/access-links", headers=world.b.headers
    )
    me = bearer(link.json()["token"])
    before = await _snapshot(db, world.a)
    for (method, template), spec in ROUTES.items():
        if not spec.member or "{" not in template:
            continue
        status = await _call(
            client, method, _path(template, world.ids), _body(spec, world, acting=world.b), me
        )
        assert status == 404, (method, template)
    a_product = world.own["shop-a"][OWN_PRODUCT]
    foreign_cart = {"lines": [{"product_id": a_product, "quantity": 1}]}
    for path in ("/api/v1/me/quote", "/api/v1/me/orders"):
        status = await _call(client, "POST", path, foreign_cart, me)
        assert status == 404, path
    listed = await client.get("/api/v1/me/orders", headers=me)
    assert listed.json()["items"] == []
    my_card = await client.get("/api/v1/me", headers=me)
    assert my_card.json()["member_id"] == world.b_member
    my_points = await client.get("/api/v1/me/points", headers=me)
    assert {e["member_id"] for e in my_points.json()["items"]} <= {world.b_member}
    assert await _snapshot(db, world.a) == before


@dataclass
class Led:
    """A leader of group X at merchant A, with what X and Y (led by nobody) each hold."""

    headers: dict[str, str]
    x: dict[str, str]  # path parameter -> one of X's objects
    y: dict[str, str]  # path parameter -> one of Y's objects
    in_both: str  # a member of X and of Y
    left_x: str  # a member who was in X and left it


async def _led_world(factory: Factory, client: AsyncClient, world: World) -> Led:
    a = world.a
    x = world.ids["community_id"]  # the world's member is in it
    y = (
        await client.post(
            "/api/v1/communities", json={"name": "Y", "channel": "web"}, headers=a.headers
        )
    ).json()["id"]
    only_y = world.a_other_member
    left_x = str((await factory.member(a, display_name="Left X")).member.id)
    for group, member in ((y, only_y), (y, world.ids["member_id"]), (x, left_x)):
        joined = await client.post(
            f"/api/v1/communities/{group}/members", json={"member_id": member}, headers=a.headers
        )
        assert joined.status_code == 200
    gone = await client.delete(f"/api/v1/communities/{x}/members/{left_x}", headers=a.headers)
    assert gone.status_code == 204
    orders = {}
    for group, member in ((x, world.ids["member_id"]), (y, only_y)):
        placed = await client.post(
            "/api/v1/orders",
            json={
                "member_id": member,
                "lines": [{"product_id": world.own["shop-a"][OWN_PRODUCT], "quantity": 1}],
                "attribution": {"channel": "web", "community_id": group},
            },
            headers={**a.headers, "Idempotency-Key": f"led-{group}"},
        )
        assert placed.status_code == 201, placed.text
        orders[group] = placed.json()["id"]
    token = await factory.staff_token(a, Role.LEADER)
    async with factory.db.unit_of_work() as session:
        user_id = await session.scalar(
            select(ApiToken.user_id).where(ApiToken.name == "leader").order_by(ApiToken.id.desc())
        )
    named = await client.post(
        f"/api/v1/communities/{x}/leaders", json={"staff_user_id": str(user_id)}, headers=a.headers
    )
    assert named.status_code == 201, named.text
    y_leader = await client.post(
        f"/api/v1/communities/{y}/leaders", json={"member_id": only_y}, headers=a.headers
    )
    assert y_leader.status_code == 201
    return Led(
        bearer(token),
        {
            "community_id": x,
            "member_id": world.ids["member_id"],
            "order_id": orders[x],
            "leader_id": named.json()["id"],
        },
        {
            "community_id": y,
            "member_id": only_y,
            "order_id": orders[y],
            "leader_id": y_leader.json()["id"],
        },
        world.ids["member_id"],
        left_x,
    )


async def test_a_leader_of_x_gets_404_on_y_and_sees_x(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    world = await _world(factory, client, db)
    led = await _led_world(factory, client, world)
    before = await _snapshot(db, world.a)
    scoped = [
        (method, template)
        for (method, template), spec in ROUTES.items()
        if spec.scoped and spec.permission in SCOPED_PERMISSIONS[Role.LEADER]
    ]
    assert len(scoped) == 10
    for method, template in scoped:
        if "{" not in template:
            continue
        path = template.format(**led.y)
        assert await _call(client, method, path, None, led.headers) == 404, (method, template)
        assert await _call(client, method, template.format(**led.x), None, led.headers) == 200
    assert await _snapshot(db, world.a) == before


async def test_a_leader_lists_only_their_communities_members_and_orders(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    world = await _world(factory, client, db)
    led = await _led_world(factory, client, world)
    x, y = led.x["community_id"], led.y["community_id"]

    async def items(path: str, **params: Any) -> list[dict[str, Any]]:
        response = await client.get(path, params=params, headers=led.headers)
        assert response.status_code == 200, (path, response.text)
        found: list[dict[str, Any]] = response.json()["items"]
        return found

    assert [c["id"] for c in await items("/api/v1/communities")] == [x]
    assert await items("/api/v1/communities", channel="web") == []
    # Members present in X now or before; each shows X only, not the other groups they are in.
    members = {m["id"]: m["community_ids"] for m in await items("/api/v1/members")}
    assert members == {led.in_both: [x], led.left_x: []}
    assert await items("/api/v1/members", community_id=y) == []
    one = await client.get(f"/api/v1/members/{led.in_both}", headers=led.headers)
    assert one.json()["community_ids"] == [x]
    assert [m["member_id"] for m in await items(f"/api/v1/communities/{x}/members")] == [
        led.in_both
    ]
    everyone = await items(f"/api/v1/communities/{x}/members", include_left="true")
    assert {m["member_id"] for m in everyone} == {led.in_both, led.left_x}
    # Orders of X only; without cost prices and margins.
    assert [o["id"] for o in await items("/api/v1/orders")] == [led.x["order_id"]]
    assert await items("/api/v1/orders", community_id=y) == []
    order = await client.get(f"/api/v1/orders/{led.x['order_id']}", headers=led.headers)
    assert order.json()["margin"] is None
    assert {line["unit_cost"] for line in order.json()["lines"]} == {None}
    # Routes that do not filter by community stay closed to the leader.
    for path in (
        f"/api/v1/members/{led.in_both}/export",
        f"/api/v1/members/{led.in_both}/events",
        f"/api/v1/orders/{led.x['order_id']}/refunds",
    ):
        assert (await client.get(path, headers=led.headers)).status_code == 403, path


async def test_a_leader_removed_from_x_no_longer_sees_it(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    """The principal cache forgets a leader's communities when leaders change."""
    world = await _world(factory, client, db)
    led = await _led_world(factory, client, world)
    x = led.x["community_id"]
    path = f"/api/v1/communities/{x}/members"
    assert (await client.get(path, headers=led.headers)).status_code == 200
    removed = await client.delete(
        f"/api/v1/communities/{x}/leaders/{led.x['leader_id']}", headers=world.a.headers
    )
    assert removed.status_code == 204
    assert (await client.get(path, headers=led.headers)).status_code == 404
    assert (await client.get("/api/v1/communities", headers=led.headers)).json()["items"] == []
