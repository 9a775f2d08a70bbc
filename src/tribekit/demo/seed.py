"""Greenwood Fruit: a believable fruit shop in Shanghai with staff, four web community groups
(their policy, FAQ and a few days of chat: ``community.py``), ~500 members and its membership
program (levels, points history, Black card holders).

Everything is created through the real services, deterministically (fixed random seed).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.communities import service as communities
from tribekit.communities.schemas import CommunityCreate
from tribekit.kit import clock, locks
from tribekit.kit.db import Database
from tribekit.members import service as members
from tribekit.members.schemas import AddressIn, IdentityIn, MemberCreate
from tribekit.models.enums import Channel, MemberSource, Role
from tribekit.tenancy import auth
from tribekit.tenancy import repository as tenancy_repo
from tribekit.tenancy import service as tenancy
from tribekit.tenancy.principal import Principal, Tenant
from tribekit.tenancy.schemas import MerchantCreate, OwnerCreate, StaffCreate

from . import broadcasts as demo_broadcasts
from . import campaigns as demo_campaigns
from . import community
from .commerce import Buyer, seed_shop
from .membership import seed_history, seed_levels

SLUG = "greenwood-fruit"
PASSWORD = "greenwood-demo"  # noqa: S105  # printed for newcomers; demo data only
OWNER_EMAIL = "owner@greenwood.example"
DEMO_TOKEN_NAME = "demo"  # noqa: S105  # a label, not a secret
MEMBER_COUNT = 500
#: Progress steps of a fresh demo: each member created, each member's points settled, then
#: each line of the groups' chat.
DEMO_STEPS = 2 * MEMBER_COUNT + len(community.SCRIPT)

STAFF = [
    ("admin@greenwood.example", "Chen Jing", Role.ADMIN),
    ("operator@greenwood.example", "Zhao Lei", Role.OPERATOR),
    ("leader@greenwood.example", "Sun Mei", Role.LEADER),
    ("analyst@greenwood.example", "Zhou Yang", Role.ANALYST),
]
COMMUNITIES = [(group.name, Channel.WEB, group.key) for group in community.GROUPS]
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程"
)
GIVEN = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀英",
    "霞",
    "平",
    "刚",
    "桂英",
    "建华",
    "文",
    "晓东",
    "丹",
    "玲",
    "子涵",
    "雨桐",
    "浩然",
    "欣怡",
    "梓轩",
    "思远",
    "佳怡",
    "一诺",
    "俊杰",
    "婷婷",
    "晨曦",
    "雅琪",
    "宇航",
]
MOBILE_PREFIXES = ["131", "135", "136", "138", "139", "150", "151", "158", "186", "187", "189"]
TAGS = ["fruit-lover", "office", "parent", "vip", "durian-fan", "organic", "weekend", "gift-buyer"]
DISTRICTS = ["Xuhui", "Jing'an", "Huangpu", "Changning", "Putuo", "Pudong New Area", "Minhang"]
STREETS = ["Huaihai Road", "Nanjing West Road", "Hengshan Road", "Wukang Road", "Yan'an Road"]
SOURCES: list[tuple[MemberSource, str | None, int]] = [
    (MemberSource.STORE_QR, "counter", 40),
    (MemberSource.EVENT, "summer-fair", 15),
    (MemberSource.REFERRAL, None, 20),
    (MemberSource.CHANNEL, "telegram", 15),
    (MemberSource.IMPORT, "old-loyalty-cards", 10),
]


@dataclass(frozen=True)
class DemoLogin:
    merchant_slug: str
    email: str
    password: str
    api_token: str
    created: bool
    group_link: community.GroupLink | None = None
    campaign_link: demo_campaigns.CampaignLink | None = None


def _member(rng: random.Random, index: int, used_phones: set[str]) -> MemberCreate:
    name = rng.choice(SURNAMES) + rng.choice(GIVEN)
    while True:
        phone = f"+86{rng.choice(MOBILE_PREFIXES)}{rng.randint(0, 99_999_999):08d}"
        if phone not in used_phones:
            used_phones.add(phone)
            break
    source, ref, _ = rng.choices(SOURCES, weights=[w for *_, w in SOURCES])[0]
    identities = []
    if rng.random() < 0.6:
        identities.append(
            IdentityIn(channel=Channel.TELEGRAM, external_id=str(500_000_000 + index))
        )
    if rng.random() < 0.2:
        identities.append(
            IdentityIn(channel=Channel.MATRIX, external_id=f"@member{index}:greenwood.example")
        )
    addresses = []
    if rng.random() < 0.5:
        addresses.append(
            AddressIn(
                label="home",
                recipient=name,
                phone=phone,
                line1=f"{rng.randint(1, 999)} {rng.choice(STREETS)}",
                city="Shanghai",
                region=rng.choice(DISTRICTS),
                postal_code=f"200{rng.randint(0, 999):03d}",
                country="CN",
            )
        )
    consent = rng.random() < 0.7
    return MemberCreate(
        display_name=name,
        phone=phone,
        birthday=None,
        tags=rng.sample(TAGS, k=rng.choice([0, 1, 1, 2, 3])),
        source=source,
        source_ref=ref,
        marketing_consent=consent,
        consent_source="join page" if consent else None,
        joined_at=clock.now() - timedelta(days=rng.randint(0, 365), minutes=rng.randint(0, 1440)),
        identities=identities,
        addresses=addresses,
    )


async def _fill(
    session: AsyncSession, tenant: Tenant, owner: Principal, progress: Callable[[int], None]
) -> community.Cast:
    rng = random.Random(20261122)
    leader: uuid.UUID | None = None
    for email, name, role in STAFF:
        staff = await tenancy.add_staff(
            session, owner, StaffCreate(email=email, name=name, role=role, password=PASSWORD)
        )
        if role == Role.LEADER:
            leader = staff.user_id
    groups = [
        await communities.create_community(
            session, tenant, CommunityCreate(name=name, channel=channel, external_id=chat)
        )
        for name, channel, chat in COMMUNITIES
    ]
    used_phones: set[str] = set()
    member_ids = []
    groups_of: dict[uuid.UUID, list[tuple[uuid.UUID, str]]] = {}
    in_group: dict[uuid.UUID, list[tuple[uuid.UUID, str, datetime]]] = {}
    people: dict[uuid.UUID, tuple[uuid.UUID, str, datetime]] = {}
    for index in range(MEMBER_COUNT):
        view = await members.create_member(
            session, tenant, "demo", _member(rng, index, used_phones)
        )
        who = (view.member.id, view.member.display_name, view.member.joined_at)
        member_ids.append(who[0])
        people[who[0]] = who
        for group in rng.sample(groups, k=rng.choice([1, 1, 2, 3])):
            with clock.frozen_at(min(who[2] + timedelta(hours=1), clock.now())):
                await communities.add_member(session, tenant, group.community.id, who[0])
            groups_of.setdefault(who[0], []).append((group.community.id, group.community.channel))
            in_group.setdefault(group.community.id, []).append(who)
        progress(1)
    # The two members who run the leader pickup points lead groups too.
    leaders = [people[member_id] for member_id in member_ids[:2]]
    cast = await community.set_up(
        session, tenant, owner, groups, in_group, staff_leader=leader, member_leaders=leaders
    )
    levels, card = await seed_levels(session, tenant)
    shop = await seed_shop(session, tenant, levels[2], member_ids[:2])
    buyer = Buyer(session, tenant, shop, groups_of, rng)
    await seed_history(session, tenant, member_ids, rng, progress, card=card, buy=buyer.buy)
    await buyer.loose_ends(member_ids)
    return cast


def _no_progress(_: int) -> None:
    pass


async def seed_demo(
    db: Database, secret_key: str, progress: Callable[[int], None] = _no_progress
) -> DemoLogin:
    """Create the demo merchant unless it exists; always hand out a fresh demo API token. The
    tokens printed before keep working: a second ``tribekit demo`` must not log out the
    ``serve --demo`` already running (revoke old ones with ``DELETE /api/v1/tokens/{id}``)."""
    async with db.unit_of_work() as session:
        merchant = await tenancy_repo.merchant_by_slug(session, SLUG)
        created = merchant is None
        if merchant is None:
            merchant, _ = await tenancy.create_merchant(
                session,
                MerchantCreate(
                    slug=SLUG,
                    name="Greenwood Fruit",
                    timezone="Asia/Shanghai",
                    currency="CNY",
                    country="CN",
                    locale="zh_CN",
                    owner=OwnerCreate(email=OWNER_EMAIL, name="Lin Wei", password=PASSWORD),
                ),
            )
        owner = await tenancy_repo.user_by_email(session, OWNER_EMAIL)
        assert owner is not None
        tenant = Tenant.of(merchant)
        token, secret = await auth.issue_token(
            session, secret_key, user_id=owner.id, merchant_id=merchant.id, name=DEMO_TOKEN_NAME
        )
        if created:
            principal = Principal(
                owner.id,
                owner.email,
                owner.is_platform_admin,
                tenant,
                Role.OWNER,
                "token",
                token.id,
            )
            # Every row the history locks is created in this transaction (the merchant too): no
            # other transaction can wait for them, so thousands of orders in one transaction
            # need not keep one lock order across them.
            locks.only_new_rows(session)
            cast = await _fill(session, tenant, principal, progress)
    if created:
        # After the merchant committed: each post is its own unit of work, as over HTTP, and
        # the worker's sweep carries out the robot's actions in units of work of its own.
        # The campaigns' past evenings are older than the chat: posted first, they read in order.
        await demo_campaigns.seed_past(db, cast)
        await community.play(db, cast, progress)
        await demo_broadcasts.seed(db, cast)
        await demo_campaigns.seed_now(db, cast)
    async with db.unit_of_work(read_only=True) as session:
        link = await community.group_link(session, tenant, secret_key)
        campaign = None
        if link is not None:  # the same member's signed link opens the campaign's page
            member_token = link.path.partition("?t=")[2]
            campaign = await demo_campaigns.campaign_link(session, tenant, member_token)
    return DemoLogin(SLUG, OWNER_EMAIL, PASSWORD, secret, created, link, campaign)
