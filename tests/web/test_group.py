"""The group page, posting, paging, CSRF, rate limits, bans and another merchant's members,
through the routes (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import Factory, count_rows
from tribekit.kit.db import Database
from tribekit.members import access
from tribekit.models.communities import Community
from tribekit.models.members import MemberIdentity
from tribekit.models.moderation import Ban
from tribekit.models.robot import RobotAccount, RobotAction, RobotEvent
from tribekit.models.web import AuthorKind, WebMessage
from tribekit.robot import accounts
from tribekit.robot.channels import InboundEvent
from tribekit.tenancy.principal import Tenant

from .conftest import csrf_of, enter, make_group, web_config


def _client(app: FastAPI) -> AsyncClient:
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    return AsyncClient(transport=transport, base_url="http://tribekit.test")


async def _messages(db: Database) -> list[WebMessage]:
    async with db.unit_of_work() as session:
        return list((await session.scalars(select(WebMessage).order_by(WebMessage.seq))).all())


async def test_a_member_link_opens_the_group_and_a_post_shows_escaped(
    app: FastAPI, db: Database, factory: Factory
) -> None:
    group = await make_group(factory, db)
    async with _client(app) as alice:
        await enter(alice, group, group.alice)
        token = await csrf_of(alice, group)
        hostile = '<script>alert("x")</script> & <b>bold</b>'
        posted = await alice.post(
            f"{group.url}/messages",
            data={"text": hostile, "csrf": token},
            headers={"HX-Request": "true"},
        )
        assert posted.status_code == 200, posted.text
        page = await alice.get(group.url)
    assert page.status_code == 200
    assert "Fruit lovers" in page.text
    assert (
        "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in page.text
    )
    assert "<script>alert" not in page.text
    assert "<b>bold</b>" not in page.text
    (message,) = await _messages(db)
    assert message.text == hostile  # stored as typed
    assert message.author_kind == AuthorKind.MEMBER
    assert str(message.member_id) == group.alice.member_id
    assert message.author_name == "Alice"
    assert (message.seq, message.rev) == (1, 1)


async def test_the_link_is_traded_for_a_session_and_the_token_leaves_the_address(
    app: FastAPI, db: Database, factory: Factory
) -> None:
    group = await make_group(factory, db)
    async with _client(app) as client:
        response = await client.get(f"{group.url}?t={group.alice.link}")
        assert response.status_code == 303
        assert response.headers["location"] == group.url
        session = client.cookies[access.MEMBER_COOKIE]
        assert session.startswith("tkm_")
        assert session != group.alice.link
        assert "httponly" in response.headers["set-cookie"].lower()
        assert (await client.get(group.url)).status_code == 200
    async with _client(app) as stranger:
        refused = await stranger.get(group.url)
        assert refused.status_code == 401
        assert "open the link the shop sent you" in refused.text
        forged = await stranger.get(f"{group.url}?t=tkm_forged.sig")
        assert forged.status_code == 401
        assert "the member link is not valid" in forged.text


async def test_a_post_without_the_right_csrf_token_is_refused_and_nothing_is_stored(
    app: FastAPI, db: Database, factory: Factory
) -> None:
    group = await make_group(factory, db)
    async with _client(app) as alice, _client(app) as bob:
        await enter(alice, group, group.alice)
        await enter(bob, group, group.bob)
        await csrf_of(alice, group)
        bobs = await csrf_of(bob, group)
        missing = await alice.post(f"{group.url}/messages", data={"text": "hi"})
        assert missing.status_code == 403
        assert "security token is missing" in missing.text
        # Bob's token is worthless with Alice's session, even with it in her cookie too.
        alice.cookies.set("tribekit_csrf", bobs, domain="tribekit.test", path="/c")
        stolen = await alice.post(f"{group.url}/messages", data={"text": "hi", "csrf": bobs})
        assert stolen.status_code == 403
        assert "security token is not valid" in stolen.text
    assert await _messages(db) == []


async def test_posts_are_rate_limited_per_member(
    app: FastAPI, db: Database, factory: Factory
) -> None:
    web_config(app).posts_per_minute = 3
    group = await make_group(factory, db)
    async with _client(app) as alice, _client(app) as bob:
        await enter(alice, group, group.alice)
        await enter(bob, group, group.bob)
        token = await csrf_of(alice, group)
        codes = [
            (
                await alice.post(f"{group.url}/messages", data={"text": f"m{i}", "csrf": token})
            ).status_code
            for i in range(4)
        ]
        assert codes == [303, 303, 303, 429]
        # Bob has his own allowance.
        bobs = await csrf_of(bob, group)
        assert (
            await bob.post(f"{group.url}/messages", data={"text": "b", "csrf": bobs})
        ).status_code == 303
    assert [m.text for m in await _messages(db)] == ["m0", "m1", "m2", "b"]


async def test_text_is_length_limited(app: FastAPI, db: Database, factory: Factory) -> None:
    group = await make_group(factory, db)
    async with _client(app) as alice:
        await enter(alice, group, group.alice)
        token = await csrf_of(alice, group)
        long = await alice.post(
            f"{group.url}/messages",
            data={"text": "x" * 2001, "csrf": token},
            headers={"HX-Request": "true"},
        )
        assert long.status_code == 422
        assert "at most 2000 characters; this has 2001" in long.text
        assert "x" * 2001 in long.text  # the form keeps what was typed
        blank = await alice.post(f"{group.url}/messages", data={"text": "   ", "csrf": token})
        assert blank.status_code == 422
        ok = await alice.post(f"{group.url}/messages", data={"text": "y" * 2000, "csrf": token})
        assert ok.status_code == 303
    assert [len(m.text) for m in await _messages(db)] == [2000]


async def test_another_merchants_member_gets_404_and_changes_nothing(
    app: FastAPI, db: Database, factory: Factory
) -> None:
    group = await make_group(factory, db)
    other = await make_group(factory, db)
    async with _client(app) as intruder:
        await enter(intruder, other, other.alice)
        token = await csrf_of(intruder, other)
        assert (await intruder.get(f"{group.url}?t={other.alice.link}")).status_code == 404
        assert (await intruder.get(group.url)).status_code == 404
        assert (await intruder.get(f"{group.url}/messages?before=5")).status_code == 404
        assert (await intruder.get(f"{group.url}/stream")).status_code == 404
        posted = await intruder.post(f"{group.url}/messages", data={"text": "hi", "csrf": token})
        assert posted.status_code == 404
        missing = await intruder.get(f"/c/{uuid.uuid4()}")
        assert missing.status_code == 404
        assert missing.text.replace(str(missing.url).rsplit("/", 1)[1], "ID") == (
            await intruder.get(group.url)
        ).text.replace(group.community_id, "ID")
    assert await _messages(db) == []


async def test_a_banned_member_is_told_so_and_cannot_post(
    app: FastAPI, db: Database, factory: Factory
) -> None:
    group = await make_group(factory, db)
    async with _client(app) as alice, _client(app) as bob:
        await enter(alice, group, group.alice)
        await enter(bob, group, group.bob)
        token = await csrf_of(alice, group)
        bobs = await csrf_of(bob, group)
        async with db.unit_of_work() as session:
            session.add(
                Ban(
                    merchant_id=group.shop.tenant.id,
                    member_id=uuid.UUID(group.alice.member_id),
                    reason="spam",
                    banned_by="robot",
                )
            )
        page = await alice.get(group.url)
        assert page.status_code == 200
        assert "You are banned from this group." in page.text
        assert 'name="text"' not in page.text
        refused = await alice.post(f"{group.url}/messages", data={"text": "hi", "csrf": token})
        assert refused.status_code == 403
        assert "you are banned from this group and cannot post" in refused.text
        assert (await alice.get(f"{group.url}/stream")).status_code == 403
        # Bob is not banned.
        assert (
            await bob.post(f"{group.url}/messages", data={"text": "ok", "csrf": bobs})
        ).status_code == 303
    assert [m.text for m in await _messages(db)] == ["ok"]


async def test_history_is_paged_oldest_first_with_an_older_link(
    app: FastAPI, db: Database, factory: Factory
) -> None:
    from tribekit.robot.channels.web import add_message

    group = await make_group(factory, db)
    async with db.unit_of_work() as session:
        for i in range(1, 121):
            await add_message(
                session,
                merchant_id=group.shop.tenant.id,
                community_id=uuid.UUID(group.community_id),
                author_kind=AuthorKind.MEMBER,
                author_name="Alice",
                text=f"message {i:03}",
                member_id=uuid.UUID(group.alice.member_id),
            )
    async with _client(app) as alice:
        await enter(alice, group, group.alice)
        page = await alice.get(group.url)
        shown = [n for n in range(1, 121) if f"message {n:03}<" in page.text]
        assert shown == list(range(71, 121))
        assert f'hx-get="{group.url}/messages?before=71"' in page.text
        older = await alice.get(f"{group.url}/messages?before=71", headers={"HX-Request": "true"})
        assert older.status_code == 200
        assert [n for n in range(1, 121) if f"message {n:03}<" in older.text] == list(range(21, 71))
        assert older.text.index("message 021") < older.text.index("message 070")
        assert f'hx-get="{group.url}/messages?before=21"' in older.text
        oldest = await alice.get(f"{group.url}/messages?before=21")
        assert [n for n in range(1, 121) if f"message {n:03}<" in oldest.text] == list(range(1, 21))
        assert "messages?before=" not in oldest.text
        assert f'sse-connect="{group.url}/stream?after=120"' in page.text


async def test_a_post_is_recorded_once_and_handed_to_the_pipeline(
    app: FastAPI, db: Database, factory: Factory
) -> None:
    seen: list[tuple[uuid.UUID, str, InboundEvent, uuid.UUID]] = []

    async def on_post(
        session: AsyncSession,
        tenant: Tenant,
        account: RobotAccount,
        event: InboundEvent,
        community: Community | None,
        recorded: RobotEvent | None,
    ) -> str:
        assert community is not None
        assert recorded is not None
        assert recorded.event_id == event.event_id
        seen.append((tenant.id, account.channel, event, community.id))
        return "clean"

    web_config(app).on_post = on_post
    group = await make_group(factory, db)
    async with _client(app) as alice:
        await enter(alice, group, group.alice)
        token = await csrf_of(alice, group)
        text = "/ME please, and see https://shop.example/x?y=1 or www.fruit.example"
        assert (
            await alice.post(f"{group.url}/messages", data={"text": text, "csrf": token})
        ).status_code == 303
    (message,) = await _messages(db)
    ((tenant_id, channel, event, community_id),) = seen
    assert (tenant_id, channel, str(community_id)) == (
        group.shop.tenant.id,
        "web",
        group.community_id,
    )
    assert event.event_id == f"web:{message.id}"
    assert event.kind == "command"
    assert (event.command, event.command_args) == (
        "me",
        "please, and see https://shop.example/x?y=1 or www.fruit.example",
    )
    assert event.links == ("https://shop.example/x?y=1", "www.fruit.example")
    assert event.person is not None
    assert event.person.external_id == group.alice.member_id
    assert event.chat_id == group.community_id
    assert event.message_id == str(message.id)
    async with db.unit_of_work() as session:
        (recorded,) = (await session.scalars(select(RobotEvent))).all()
        identity = await session.scalar(
            select(MemberIdentity).where(MemberIdentity.channel == "web")
        )
    assert (recorded.event_id, recorded.kind, recorded.text) == (event.event_id, "command", text)
    assert str(recorded.member_id) == group.alice.member_id
    assert identity is not None
    assert identity.external_id == group.alice.member_id
    assert await count_rows(db, MemberIdentity, MemberIdentity.channel == "web") == 1


async def test_the_page_speaks_the_groups_language(
    app: FastAPI, db: Database, factory: Factory
) -> None:
    group = await make_group(factory, db, language="zh-CN")
    async with _client(app) as alice:
        await enter(alice, group, group.alice)
        page = await alice.get(group.url)
    assert '<html lang="zh-CN">' in page.text
    assert "发送" in page.text
    assert "还没有消息" in page.text
    assert ">Send<" not in page.text


async def test_a_removed_member_comes_back_through_a_new_link(
    app: FastAPI, db: Database, factory: Factory
) -> None:
    from tribekit.robot.channels import ActionKind, OutboundAction
    from tribekit.robot.channels import RobotAccount as Account
    from tribekit.robot.channels.web import WebChannel
    from tribekit.web import service

    group = await make_group(factory, db)
    async with db.unit_of_work() as session:
        community = await service.group(session, group.shop.tenant, uuid.UUID(group.community_id))
        robot = await accounts.web_robot_of(session, group.shop.tenant, community)
        account = Account(str(robot.id), "web", "")
    kick = OutboundAction(ActionKind.KICK, group.community_id, person_id=group.alice.member_id)
    await WebChannel(db).perform(account, kick)
    async with _client(app) as alice:
        await enter(alice, group, group.alice)  # the link clears the removal
        page = await alice.get(group.url)
        assert 'name="text"' in page.text
        await WebChannel(db).perform(account, kick)
        removed = await alice.get(group.url)
        assert "You were removed from this group." in removed.text
        assert 'name="text"' not in removed.text
        await enter(alice, group, group.alice)
        assert 'name="text"' in (await alice.get(group.url)).text


async def test_a_leader_sees_the_moderation_controls_and_a_member_does_not(
    app: FastAPI, db: Database, factory: Factory
) -> None:
    from tribekit.models.communities import CommunityLeader

    group = await make_group(factory, db)
    async with db.unit_of_work() as session:
        session.add(
            CommunityLeader(
                merchant_id=group.shop.tenant.id,
                community_id=uuid.UUID(group.community_id),
                member_id=uuid.UUID(group.bob.member_id),
            )
        )
    async with _client(app) as alice, _client(app) as bob:
        await enter(alice, group, group.alice)
        await enter(bob, group, group.bob)
        token = await csrf_of(alice, group)
        await alice.post(f"{group.url}/messages", data={"text": "hello", "csrf": token})
        (message,) = await _messages(db)
        assert (
            "button"
            not in (await alice.get(group.url)).text.split('id="messages"')[1].split('id="post"')[0]
        )
        leader_page = (await bob.get(group.url)).text
        assert f'hx-post="{group.url}/messages/{message.id}/delete"' in leader_page
        assert f'hx-post="{group.url}/messages/{message.id}/ban"' in leader_page
        assert "moderator" in leader_page
        bobs = await csrf_of(bob, group)
        removal = await bob.post(
            f"{group.url}/messages/{message.id}/delete",
            data={"csrf": bobs},
            headers={"HX-Request": "true"},
        )
        assert removal.status_code == 202
        owed = RobotAction.decision == f"web-delete:{message.id}"
        assert await count_rows(db, RobotAction, owed) == 1
