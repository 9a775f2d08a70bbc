"""The demo's groups as a living web community: made by the real post path, the real robot
pipeline and the worker's action sweep, then opened from the printed member link."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from httpx import AsyncClient
from sqlalchemy import func, select

from tests.conftest import SECRET
from tests.demo.demo_broadcasts import check_demo_broadcasts
from tests.demo.demo_campaigns import campaign_posts, check_demo_campaigns
from tribekit.cli.common import console
from tribekit.cli.demo import print_login
from tribekit.demo.campaigns import CampaignLink
from tribekit.demo.community import FAQ, SCRIPT, SHOP_DOMAIN, GroupLink, Say
from tribekit.demo.seed import DemoLogin, seed_demo
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.members import access
from tribekit.models.broadcasts import Broadcast, BroadcastDelivery
from tribekit.models.communities import Community, CommunityLeader
from tribekit.models.enums import ActionKind, ActionStatus, Channel, CommunityStatus
from tribekit.models.moderation import AutoReply, Ban, ModerationEntry, ModerationPolicy, Strike
from tribekit.models.robot import RobotAction, RobotEvent
from tribekit.models.web import AuthorKind, WebMemberState, WebMessage

#: What the robot decided for each post of the script, in order.
OUTCOMES = [
    "clean",
    "clean",
    "clean",
    "auto-reply",
    "auto-reply",
    "command: me",
    "auto-reply",
    "clean",
    "clean",
    "clean",
    "clean",
    "clean",
    "auto-reply",
    "auto-reply",
    "clean",
    "auto-reply",
    "auto-reply",
    "clean",
    "warn: invite_link",
    "mute: phone",
    "banned: contact_handle",
    "clean",
    "auto-reply",
    "clean",
    "clean",
    "clean",
    "command: rules",
    "clean",
]
NAMES = {
    "fruit-lovers": "Greenwood Fruit Lovers",
    "office": "Greenwood Office Workers",
    "parents": "Greenwood Young Parents",
    "outings": "Greenwood Weekend Outings",
}


async def test_demo_groups_hold_a_community_the_robot_runs(
    db: Database, client: AsyncClient
) -> None:
    login = await seed_demo(db, SECRET)
    assert login.created
    assert login.group_link is not None
    await check_demo_broadcasts(db)
    await check_demo_campaigns(db)
    async with db.unit_of_work() as session:
        groups = {
            c.external_id: c
            for c in (await session.scalars(select(Community).order_by(Community.name))).all()
        }
        assert {key: c.name for key, c in groups.items()} == NAMES
        for key, community in groups.items():
            assert (community.channel, community.status) == (Channel.WEB, CommunityStatus.ACTIVE)
            assert community.language == ("en" if key == "outings" else "zh-CN")
            assert community.timezone == "Asia/Shanghai"
            assert community.robot_account_id is not None
            assert community.welcome_text
            assert "{name}" in community.welcome_text
            assert community.rules_text
        leaders = (await session.execute(select(CommunityLeader))).scalars().all()
        led = Counter(
            (leader.community_id, "staff" if leader.staff_user_id else "member")
            for leader in leaders
        )
        assert all(led[(c.id, "member")] == 1 for c in groups.values())
        assert sum(led[(c.id, "staff")] for c in groups.values()) == 2

        policies = {
            p.community_id: p.rules for p in (await session.scalars(select(ModerationPolicy)))
        }
        assert set(policies) == {None, groups["outings"].id}
        assert policies[None]["links"]["allowed_domains"] == [SHOP_DOMAIN]
        assert policies[None]["strikes"]["steps"][-1] == {
            "strikes": 3,
            "action": "ban",
            "mute_minutes": None,
        }
        assert policies[groups["outings"].id] == {
            "links": {"enabled": False},
            "probation": {"block_links": False},
        }
        faq = Counter(
            r.community_id for r in (await session.scalars(select(AutoReply))).all() if r.active
        )
        assert faq == {
            None: sum(1 for key, *_ in FAQ if key is None),
            groups["office"].id: 1,
            groups["outings"].id: 5,
        }

        # Every post went through the pipeline, which decided for real.
        events = (await session.scalars(select(RobotEvent).order_by(RobotEvent.at))).all()
        assert [e.outcome for e in events] == OUTCOMES
        assert len(OUTCOMES) == sum(isinstance(line, Say) for line in SCRIPT)

        # The chat and the robot's part in it; the campaigns' announcements are checked apart.
        announced = await campaign_posts(session)
        messages = [
            m
            for m in (
                await session.scalars(select(WebMessage).order_by(WebMessage.created_at))
            ).all()
            if not m.text.startswith(announced)
        ]
        total = await session.scalar(select(func.count()).select_from(WebMessage))
        robot = [m.text for m in messages if m.author_kind == AuthorKind.ROBOT]
        answered = sum(o in ("auto-reply", "command: me", "command: rules") for o in OUTCOMES)
        # The warning, the warning with the mute, the ban; and the broadcast, in each group.
        assert len(robot) == answered + 3 + len(NAMES)
        assert any(text.startswith("您的等级：") for text in robot)  # noqa: RUF001  # /me
        assert "水果批发小陈 已被移出本店所有群。" in robot
        removed = [m.text for m in messages if m.deleted_at is not None]
        assert len(removed) == 4  # the spammer's three posts and the one staff removed
        assert "有人要转让健身卡吗？九折出，私聊" in removed  # noqa: RUF001
        # History is in the past, each answer three seconds after what it answers.
        assert max(m.created_at for m in messages) < clock.now() - timedelta(hours=1)
        by_id = {m.id: m for m in messages}
        answers = [m for m in messages if m.author_kind == AuthorKind.ROBOT and m.reply_to_id]
        assert len(answers) == answered
        assert {
            m.created_at - by_id[m.reply_to_id].created_at for m in answers if m.reply_to_id
        } == {timedelta(seconds=3)}

        # The spammer: one ban on the merchant's list, carried out in all four groups.
        bans = (await session.scalars(select(Ban))).all()
        assert [(b.rule, b.banned_by, b.lifted_at) for b in bans] == [
            ("contact_handle", "robot", None)
        ]
        spammer = bans[0].member_id
        states = (
            await session.scalars(select(WebMemberState).where(WebMemberState.member_id == spammer))
        ).all()
        assert {s.community_id for s in states if s.banned_at is not None} == {
            c.id for c in groups.values()
        }
        ban_actions = (
            await session.scalars(select(RobotAction).where(RobotAction.kind == ActionKind.BAN))
        ).all()
        assert sorted(str(a.community_id) for a in ban_actions) == sorted(
            str(c.id) for c in groups.values()
        )
        entries = (
            await session.scalars(select(ModerationEntry).order_by(ModerationEntry.at))
        ).all()
        assert [(e.rule, e.action, e.actor, e.member_id) for e in entries] == [
            ("invite_link", "warn", "robot", spammer),
            ("phone", "mute", "robot", spammer),
            ("contact_handle", "ban", "robot", spammer),
        ]
        assert await session.scalar(select(func.count()).select_from(Strike)) == 3
        # Nothing is left for the worker: every action was carried out.
        statuses = Counter((await session.scalars(select(RobotAction.status))).all())
        assert set(statuses) == {ActionStatus.DONE}

    # The printed link opens the group page with its history, as a member.
    link = login.group_link
    entered = await client.get(link.path)
    assert entered.status_code == 303, entered.text
    assert entered.headers["location"] == f"/c/{groups['fruit-lovers'].id}"
    assert client.cookies.get(access.MEMBER_COOKIE)
    page = await client.get(entered.headers["location"])
    assert page.status_code == 200, page.text
    assert "早上好！今天有什么新到的水果？" in page.text  # noqa: RUF001
    assert "配送：上海市内下午3点前下单当天傍晚送到" in page.text  # noqa: RUF001
    assert "水果批发小陈，本群不允许发布其他群的邀请链接。" in page.text  # noqa: RUF001
    assert "t.me/joinchat" not in page.text  # the spam is shown removed
    assert "健身卡" not in page.text
    # The week's arrivals broadcast too, and the campaigns' announcements posted here.
    async with db.unit_of_work() as session:
        campaign_posted = await session.scalar(
            select(func.count())
            .select_from(BroadcastDelivery)
            .join(Broadcast, Broadcast.id == BroadcastDelivery.broadcast_id)
            .where(
                Broadcast.campaign_id.is_not(None),
                BroadcastDelivery.community_id == groups["fruit-lovers"].id,
                BroadcastDelivery.status == "sent",
            )
        )
    assert page.text.count('class="msg robot"') == 6 + (campaign_posted or 0)
    assert "Mango box 3 kg 已抢光，谢谢大家！" in page.text  # noqa: RUF001

    # The printed campaign link (the sale or group buy selling now, else the next one made)
    # opens its member page as the same member.
    campaign = login.campaign_link
    if campaign is not None:
        opened = await client.get(campaign.path, follow_redirects=True)
        assert opened.status_code == 200, opened.text
        assert campaign.name.partition(": ")[2] in opened.text

    # A second run creates nothing and prints a fresh link to the same page.
    again = await seed_demo(db, SECRET)
    assert not again.created
    assert again.group_link is not None
    assert again.group_link.path.split("?")[0] == link.path.split("?")[0]
    async with db.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(WebMessage)) == total


def test_the_printed_group_link_is_one_unbroken_line() -> None:
    path = "/c/01a23501-b960-724b-a3bd-14f1c745c7ac?t=tkm_" + "x" * 200
    sale = "/m/flash/01a23ad7-5eb6-72a5-b8e7-92ebbc35f405?t=tkm_" + "x" * 200
    login = DemoLogin(
        "greenwood-fruit",
        "owner@greenwood.example",
        "pw",
        "tkt_token",
        created=True,
        group_link=GroupLink(path, "韩娟", "Greenwood Fruit Lovers"),
        campaign_link=CampaignLink(
            sale,
            "Weeknight flash sale: Cherries 1 kg",
            datetime(2026, 12, 3, 12, tzinfo=UTC),
            "Asia/Shanghai",
            live=False,
        ),
    )
    with console.capture() as captured:
        print_login(login, "http://127.0.0.1:8000")
    lines = captured.get().splitlines()
    assert f"http://127.0.0.1:8000{path}" in lines  # copied in one piece from the terminal
    assert f"http://127.0.0.1:8000{sale}" in lines
    assert any("韩娟 in Greenwood Fruit Lovers" in line for line in lines)
    assert any(
        "Campaign:    Weeknight flash sale: Cherries 1 kg, Thu 20:00 (2nd link)" in line
        for line in lines
    )
