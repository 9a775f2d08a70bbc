"""Greenwood Fruit's four groups as a living web community: texts, leaders, the moderation
policy with one group's override, FAQ replies, and a few days of chat.

The chat is made by the real thing: each post goes through the web community's post path
(``web.service.post``, what the post route calls) into the robot's pipeline, which decides for
real (FAQ answers, ``/me``, a spammer warned, muted and then banned from every group on the
third strike), and the worker's action sweep then carries out what the robot owes (its replies,
warnings, removals and bans), with the clock set to when each thing happened. The spammer and
the messages are the shop's own sample content, like the rest of the seed; nothing here is
social proof (no sales, no group-buy participants).
"""

# ruff: noqa: RUF001  # Chinese text uses full-width punctuation

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.communities import service as communities
from tribekit.communities.repository import Communities
from tribekit.communities.schemas import CommunityUpdate, Language, LeaderIn
from tribekit.communities.service import CommunityView
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.kit.worker import WorkerLoop
from tribekit.members import access
from tribekit.members import service as members
from tribekit.members.schemas import MemberCreate
from tribekit.models.enums import Channel, MemberSource
from tribekit.models.web import AuthorKind, WebMessage
from tribekit.robot import accounts, pipeline, policies, replies, tasks
from tribekit.robot.channels.web import WebChannel
from tribekit.robot.moderation.policy import Policy
from tribekit.tenancy.principal import Principal, Tenant
from tribekit.web import service as web

SHOP_DOMAIN = "greenwood.example"
#: The group whose page the demo's printed member link opens.
SHOWN_GROUP = "fruit-lovers"

_ZH_RULES = (
    "群规：1. 只聊水果、订单和活动；2. 不发其他群的链接、电话号码、微信号或QQ号；"
    "3. 友善交流。一周内违规三次将被移出本店所有群。"
)
_EN_RULES = (
    "Rules: 1. Talk about fruit, orders and outings; links to maps and photos are welcome. "
    "2. No invite links to other groups, phone numbers or contact handles. 3. Be kind. "
    "Three strikes in a week and you are removed from all of the shop's groups."
)


@dataclass(frozen=True)
class GroupSpec:
    key: str  # the group's chat id on the web channel
    name: str
    language: Language
    welcome: str
    rules: str


GROUPS = [
    GroupSpec(
        "fruit-lovers",
        "Greenwood Fruit Lovers",
        "zh-CN",
        "欢迎 {name} 加入果友会！每天到店的时令水果会先发在这里，发送 /help 看看机器人能做什么。",
        _ZH_RULES,
    ),
    GroupSpec(
        "office",
        "Greenwood Office Workers",
        "zh-CN",
        "欢迎 {name}！工作日的下午茶水果盒在这里下单，送到写字楼前台。",
        _ZH_RULES,
    ),
    GroupSpec(
        "parents",
        "Greenwood Young Parents",
        "zh-CN",
        "欢迎 {name} 加入宝爸宝妈群！给孩子挑水果、问问题都可以在这里聊。",
        _ZH_RULES,
    ),
    GroupSpec(
        "outings",
        "Greenwood Weekend Outings",
        "en",
        "Welcome, {name}! Weekend orchard outings and tastings are planned here. "
        "Send /help to see what the robot can do.",
        _EN_RULES,
    ),
]

#: The merchant's policy: only the shop's own links, no invite links, phone numbers or contact
#: handles, a small blocklist, flood control, and three strikes in seven days ban.
POLICY = {
    "links": {"mode": "allow_listed", "allowed_domains": [SHOP_DOMAIN]},
    "blocklist": {
        "phrases": ["刷单", "兼职日结", "代开发票", "网赚", "casino", "crypto giveaway"],
    },
    "flood": {"max_messages": 6, "per_seconds": 10},
    "strikes": {
        "window_days": 7,
        "steps": [
            {"strikes": 2, "action": "mute", "mute_minutes": 60},
            {"strikes": 3, "action": "ban"},
        ],
    },
}
#: The weekend-outings group shares trail maps and photos: links are fine there, for newcomers
#: too (invite links, phone numbers and handles are still not).
OUTINGS_OVERRIDE = {"links": {"enabled": False}, "probation": {"block_links": False}}

_OPEN = "门店（花园路18号）每天 9:00-21:00 营业，周末 8:30 开门。"
# (group key or None for merchant-wide, match, pattern, reply)
FAQ: list[tuple[str | None, str, str, str]] = [
    (
        None,
        "regex",
        "配送|送货|多久(能)?到",
        "配送：上海市内下午3点前下单当天傍晚送到，之后下单次日上午送到。",
    ),
    (
        None,
        "contains",
        "自提",
        "自提点：门店（花园路18号），团长自提点在滨江小区3号楼和朝阳大厦大堂。",
    ),
    (None, "contains", "积分", "发送 /me 查看您的会员等级和积分。"),
    (None, "regex", "营业时间|几点开门|几点关门", _OPEN),
    (
        "office",
        "contains",
        "下午茶",
        "下午茶水果盒：工作日上午11点前下单，下午3点前送到写字楼前台，10份起送。",
    ),
    (
        "outings",
        "contains",
        "delivery",
        "Delivery in Shanghai: order before 3 pm for the same evening, later for the next morning.",
    ),
    (
        "outings",
        "contains",
        "pickup",
        "Pickup points: the shop at 18 Garden Road, Block 3 of Riverside Estate, and the "
        "lobby of Sunrise Tower.",
    ),
    ("outings", "contains", "points", "Send /me to see your level and points."),
    (
        "outings",
        "regex",
        r"\bopen\b|opening hours",
        "The shop at 18 Garden Road is open 9:00-21:00 every day (from 8:30 at weekends).",
    ),
    (
        "outings",
        "contains",
        "orchard outing",
        "Sunday orchard outing: every Sunday at 9:00 for six hours, 40 seats; sign up in the "
        "shop or at the counter.",
    ),
]


@dataclass(frozen=True)
class Say:
    """A member's post: days before today, local time, group, who (a regular of the group by
    number, ``leader`` or ``spammer``), what; ``reply``: the number of the post it answers."""

    days: int
    at: str
    group: str
    who: int | str
    text: str
    reply: int | None = None


@dataclass(frozen=True)
class Remove:
    """Staff remove an earlier post (by its number)."""

    days: int
    at: str
    post: int


SCRIPT: list[Say | Remove] = [
    Say(5, "09:12", "fruit-lovers", 0, "早上好！今天有什么新到的水果？"),
    Say(
        5,
        "09:16",
        "fruit-lovers",
        "leader",
        f"今天到了智利车厘子，1公斤装，金卡会员价79元：https://{SHOP_DOMAIN}/p/cherries",
        reply=0,
    ),
    Say(5, "09:20", "fruit-lovers", 1, "上次买的车厘子很新鲜，这次再来两盒"),
    Say(5, "09:31", "fruit-lovers", 2, "请问配送要多久？我在徐汇"),
    Say(5, "10:05", "fruit-lovers", 3, "我的积分有多少了？"),
    Say(5, "10:06", "fruit-lovers", 3, "/me"),
    Say(4, "11:40", "office", 0, "今天的下午茶水果盒还能订吗？"),
    Say(4, "11:43", "office", 1, "我们部门要10份，芒果多一点"),
    Say(4, "11:47", "office", "leader", "收到，10份芒果多一点，下午3点前送到前台", reply=7),
    Say(4, "15:20", "office", 1, "收到了，芒果很甜👍"),
    Say(4, "20:10", "parents", 0, "宝宝一岁半，可以吃榴莲吗？"),
    Say(4, "20:14", "parents", "leader", "可以少量尝一点，第一次先看看会不会过敏～", reply=10),
    Say(4, "20:30", "parents", 1, "周末店里几点开门？想带孩子去试吃"),
    Say(3, "19:00", "outings", 0, "Anyone joining the Sunday orchard outing?"),
    Say(
        3,
        "19:05",
        "outings",
        1,
        "Count me in! Trail map for the walk after: https://www.openstreetmap.org/relation/2827",
    ),
    Say(3, "19:20", "outings", 2, "What time does the shop open on Saturday?"),
    Say(3, "19:24", "outings", 3, "Is there a pickup point near Sunrise Tower?"),
    Say(3, "21:02", "outings", "leader", "See you all on Sunday, bring a hat!"),
    Say(
        2,
        "14:03",
        "fruit-lovers",
        "spammer",
        "水果批发群，进货价拿货 https://t.me/joinchat/AAAAFruitDeal",
    ),
    Say(2, "14:09", "office", "spammer", "低价水果批发，联系电话 138 1234 5678"),
    Say(2, "16:30", "parents", "spammer", "宝妈在家也能赚，加V：fruitdeal888 详聊"),
    Say(2, "18:00", "fruit-lovers", 4, "有人要转让健身卡吗？九折出，私聊"),
    Remove(2, "18:25", post=21),
    Say(1, "09:40", "fruit-lovers", 5, "团长，自提点在哪里？"),
    Say(1, "10:30", "fruit-lovers", 1, "昨天买的芒果熟得刚好，孩子很喜欢"),
    Say(1, "12:10", "office", 2, "明天的水果盒想换成草莓可以吗？"),
    Say(1, "12:15", "office", "leader", "可以的，我帮你备注草莓", reply=24),
    Say(1, "20:45", "parents", 2, "/rules"),
    Say(1, "21:10", "parents", 3, "昨天的草莓孩子一口气吃了半盒😄"),
]


#: A member as the seed made them: id, display name, when they joined the shop.
Person = tuple[uuid.UUID, str, datetime]


@dataclass
class Cast:
    """Who the chat needs, chosen once the groups have their members."""

    tenant: Tenant
    staff: Principal
    groups: dict[str, uuid.UUID]
    regulars: dict[str, list[tuple[uuid.UUID, str]]]
    leaders: dict[str, tuple[uuid.UUID, str]]
    spammer: tuple[uuid.UUID, str]
    posted: list[uuid.UUID] = field(default_factory=list)


async def set_up(
    session: AsyncSession,
    tenant: Tenant,
    staff: Principal,
    groups: Sequence[CommunityView],
    in_group: dict[uuid.UUID, list[Person]],
    *,
    staff_leader: uuid.UUID | None,
    member_leaders: list[Person],
) -> Cast:
    """Texts, the robot, leaders, the policy, FAQ replies and the spammer; who will talk.
    ``in_group``: each group's members (id, name, when they joined the shop), in seed order."""
    by_key = {spec.key: view.community for spec, view in zip(GROUPS, groups, strict=True)}
    robot = await accounts.web_robot_of(session, tenant, by_key[GROUPS[0].key])
    leaders: dict[str, tuple[uuid.UUID, str]] = {}
    for n, spec in enumerate(GROUPS):
        community = by_key[spec.key]
        await communities.update_community(
            session,
            tenant,
            community.id,
            CommunityUpdate(
                timezone=tenant.timezone,
                language=spec.language,
                welcome_text=spec.welcome,
                rules_text=spec.rules,
            ),
        )
        # The robot's groups name their robot: the ban list acts through it in each.
        await communities.register_found_group(
            session, tenant, robot.id, Channel.WEB, spec.key, spec.name
        )
        leader_id, leader_name, leader_since = member_leaders[n % len(member_leaders)]
        leaders[spec.key] = (leader_id, leader_name)
        await communities.member_joined(
            session, tenant, community.id, leader_id, source="staff", at=leader_since
        )
        await communities.add_leader(session, tenant, community.id, LeaderIn(member_id=leader_id))
        if staff_leader is not None and n % 2 == 0:
            await communities.add_leader(
                session, tenant, community.id, LeaderIn(staff_user_id=staff_leader)
            )
    await _policies(session, tenant, by_key["outings"].id)
    for key, match, pattern, reply in FAQ:
        await replies.create(
            session,
            tenant,
            match=match,
            pattern=pattern,
            reply=reply,
            community_id=by_key[key].id if key else None,
            active=True,
        )
    spammer = await _spammer(session, tenant, [by_key["fruit-lovers"].id, by_key["office"].id])
    rng = random.Random(20261201)
    leader_ids = {member_id for member_id, _, _ in member_leaders}
    settled = clock.now() - timedelta(days=14)  # the regulars were there before the chat
    regulars = {
        spec.key: rng.sample(
            [
                (member_id, name)
                for member_id, name, since in in_group[by_key[spec.key].id]
                if member_id not in leader_ids and since < settled
            ],
            k=6,
        )
        for spec in GROUPS
    }
    await session.flush()
    return Cast(tenant, staff, {k: c.id for k, c in by_key.items()}, regulars, leaders, spammer)


async def _policies(session: AsyncSession, tenant: Tenant, outings: uuid.UUID) -> None:
    merchant = Policy.model_validate(POLICY)
    override = Policy.model_validate(OUTINGS_OVERRIDE)
    for community_id, rules in (
        (None, merchant.model_dump(mode="json")),
        # Only what the override sets is stored: the rest follows the merchant's policy.
        (outings, override.model_dump(mode="json", exclude_unset=True)),
    ):
        await policies.save(session, tenant, community_id, rules, expected_version=0, actor="demo")


async def _spammer(
    session: AsyncSession, tenant: Tenant, group_ids: list[uuid.UUID]
) -> tuple[uuid.UUID, str]:
    """A newcomer of last week who came to advertise."""
    joined = clock.now() - timedelta(days=3, hours=5)
    name = "水果批发小陈"
    view = await members.create_member(
        session,
        tenant,
        "demo",
        MemberCreate(
            display_name=name, source=MemberSource.CHANNEL, source_ref="web", joined_at=joined
        ),
    )
    for group_id in group_ids:
        await communities.member_joined(
            session, tenant, group_id, view.member.id, source="web", at=joined
        )
    return view.member.id, name


def _when(today: datetime, days: int, at: str, timezone: str) -> datetime:
    """``at`` (local time) ``days`` days before ``today``: always in the past."""
    local = today.astimezone(ZoneInfo(timezone)).date() - timedelta(days=days)
    hour, minute = (int(part) for part in at.split(":"))
    return datetime.combine(local, time(hour, minute), ZoneInfo(timezone))


async def play(db: Database, cast: Cast, progress: Callable[[int], None]) -> None:
    """Post the script through the web community, one unit of work per post as the post route
    does, and after each let the worker's sweep carry out what the robot owes until nothing
    is due."""
    channel = WebChannel(db)
    sweep = tasks.actions_sweep(db, {Channel.WEB.value: channel})
    worker = WorkerLoop(db, [sweep])
    today = clock.now()
    for line in SCRIPT:
        moment = _when(today, line.days, line.at, cast.tenant.timezone)
        with clock.frozen_at(moment):
            if isinstance(line, Say):
                cast.posted.append(
                    await db.run(partial(_post, cast=cast, line=line, channel=channel))
                )
            else:
                await db.run(partial(_remove, cast=cast, line=line))
        with clock.frozen_at(moment + timedelta(seconds=3)):  # the worker, a moment later
            while await worker.run_sweep(sweep):
                pass
        progress(1)


async def _post(session: AsyncSession, *, cast: Cast, line: Say, channel: WebChannel) -> uuid.UUID:
    community = await web.group(session, cast.tenant, cast.groups[line.group])
    if line.who == "spammer":
        member_id = cast.spammer[0]
    elif line.who == "leader":
        member_id = cast.leaders[line.group][0]
    else:
        assert isinstance(line.who, int)
        member_id = cast.regulars[line.group][line.who][0]
    viewer = await web.member_viewer(session, cast.tenant, community, member_id)
    reply_to = cast.posted[line.reply] if line.reply is not None else None
    posted = await web.post(
        session,
        viewer,
        community,
        line.text,
        channel=channel,
        on_post=pipeline.handle,  # what the app hands the web community
        reply_to=reply_to,
    )
    return posted.message.id


async def _remove(session: AsyncSession, *, cast: Cast, line: Remove) -> None:
    message_id = cast.posted[line.post]
    message = await session.get(WebMessage, message_id)
    assert message is not None
    community = await web.group(session, cast.tenant, message.community_id)
    viewer = await web.staff_viewer(session, cast.staff, community)
    await web.owe_delete(session, viewer, community, message_id)


@dataclass(frozen=True)
class GroupLink:
    path: str  # /c/<group id>?t=<signed member link>
    member_name: str
    group_name: str


async def group_link(session: AsyncSession, tenant: Tenant, secret_key: str) -> GroupLink | None:
    """A fresh signed link to the shown group's page for the first member who posted there;
    None for a demo merchant seeded before its groups were web communities."""
    community = await Communities(session, tenant.id).by_chat(Channel.WEB, SHOWN_GROUP)
    if community is None:
        return None
    first = (
        await session.execute(
            select(WebMessage.member_id, WebMessage.author_name)
            .where(
                WebMessage.merchant_id == tenant.id,
                WebMessage.community_id == community.id,
                WebMessage.author_kind == AuthorKind.MEMBER,
            )
            .order_by(WebMessage.seq)
            .limit(1)
        )
    ).first()
    if first is None or first[0] is None:
        return None
    token, _ = access.issue_link(secret_key, tenant, first[0])
    return GroupLink(f"/c/{community.id}?t={token}", first[1], community.name)
