"""The moderation API: policies with version checks, the one ban list, the moderation log with
undo, review and reports. Through HTTP, on SQLite and PostgreSQL; denied paths change nothing;
concurrent staff meet conditional updates and unique indexes."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from httpx import AsyncClient
from sqlalchemy import select

from tests.concurrency import fire
from tests.factories import Factory, bearer, count_rows
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.models.enums import ActionKind, ActionStatus, Role
from tribekit.models.moderation import Ban, ModerationEntry, ModerationPolicy, Strike
from tribekit.models.robot import RobotAction, RobotEvent
from tribekit.robot import bans

from .worlds import World, telegram_world

API = "/api/v1/robot"
GROUPS = 4


async def _world(db: Database, factory: Factory) -> World:
    """A shop whose robot is in four active Telegram groups, and a member known there."""
    return await telegram_world(db, factory, [-3000 - i for i in range(GROUPS)])


async def _actions(db: Database, kind: ActionKind) -> list[RobotAction]:
    async with db.unit_of_work(read_only=True) as session:
        rows = await session.scalars(
            select(RobotAction).where(
                RobotAction.kind == kind, RobotAction.status == ActionStatus.PENDING
            )
        )
        return list(rows.all())


async def _entry(db: Database, world: World, **fields: Any) -> uuid.UUID:
    """A moderation entry of the robot (in the first group unless told) and its strike."""
    async with db.unit_of_work() as session:
        defaults = {"rule": "links", "action": "warn", "excerpt": "bit.ly/x"}
        entry = ModerationEntry(
            merchant_id=world.shop.tenant.id,
            member_id=world.member_id,
            message_id="77",
            actor="robot",
            at=clock.now(),
            **{"community_id": world.groups[0], **defaults, **fields},
        )
        session.add(entry)
        await session.flush()
        session.add(
            Strike(
                merchant_id=world.shop.tenant.id,
                member_id=world.member_id,
                community_id=entry.community_id,
                rule=entry.rule or "links",
                entry_id=entry.id,
                at=entry.at,
            )
        )
        return entry.id


# -- policies ---------------------------------------------------------------------------------


async def test_the_merchant_policy_moves_its_version_and_refuses_a_stale_one(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    fresh = await client.get(f"{API}/policy", headers=shop.headers)
    assert fresh.status_code == 200
    assert fresh.headers["ETag"] == '"0"'
    assert fresh.json()["version"] == 0
    assert fresh.json()["policy"]["flood"]["max_messages"] == 5

    first = await client.put(
        f"{API}/policy", json={"flood": {"max_messages": 9}}, headers=shop.headers
    )
    assert first.status_code == 200, first.text
    assert first.json()["version"] == 1
    assert first.json()["updated_by"].startswith("staff:")
    assert first.json()["policy"]["flood"]["max_messages"] == 9

    # A row exists now: a save must say which version it changed.
    blind = await client.put(f"{API}/policy", json={}, headers=shop.headers)
    assert blind.status_code == 428
    assert blind.json()["code"] == "version_required"

    second = await client.put(
        f"{API}/policy",
        json={"flood": {"max_messages": 7}},
        headers={**shop.headers, "If-Match": '"1"'},
    )
    assert second.status_code == 200
    assert second.headers["ETag"] == '"2"'
    stale = await client.put(
        f"{API}/policy",
        json={"flood": {"max_messages": 3}},
        headers={**shop.headers, "If-Match": '"1"'},
    )
    assert stale.status_code == 409
    assert stale.json()["code"] == "policy_changed"
    now = await client.get(f"{API}/policy", headers=shop.headers)
    assert (now.json()["version"], now.json()["policy"]["flood"]["max_messages"]) == (2, 7)


async def test_a_bad_policy_is_422_naming_the_field_and_writes_nothing(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    for body, field in (
        ({"flood": {"on_hit": {"action": "mute"}}}, "on_hit"),
        ({"links": {"allowed_domains": ["not a domain"]}}, "allowed_domains"),
        ({"flood": {"max_messages": 0}}, "max_messages"),
        ({"no_such_rule": {}}, "no_such_rule"),
    ):
        response = await client.put(f"{API}/policy", json=body, headers=shop.headers)
        assert response.status_code == 422, body
        assert response.json()["code"] == "validation_failed"
        assert any(field in map(str, e["loc"]) for e in response.json()["errors"]), response.text
    bad_version = await client.put(
        f"{API}/policy", json={}, headers={**shop.headers, "If-Match": "three"}
    )
    assert bad_version.status_code == 422
    assert await count_rows(db, ModerationPolicy) == 0


async def test_two_staff_saving_the_same_version_at_once_one_wins(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    n = 6 if db.dialect == "postgresql" else 3

    async def first(i: int) -> int:
        body = {"flood": {"max_messages": 20 + i}}
        return (await client.put(f"{API}/policy", json=body, headers=shop.headers)).status_code

    # First saves need no If-Match: one wins, the others meet its row (409 from the unique
    # index, or 428 once they see it).
    firsts = await fire(n, first)
    assert firsts.count(200) == 1
    assert set(firsts) - {200} <= {409, 428}
    assert await count_rows(db, ModerationPolicy) == 1

    async def save(i: int) -> int:
        response = await client.put(
            f"{API}/policy",
            json={"flood": {"max_messages": 10 + i}},
            headers={**shop.headers, "If-Match": '"1"'},
        )
        return response.status_code

    statuses = await fire(n, save)
    assert sorted(statuses) == [200] + [409] * (n - 1)
    policy = (await client.get(f"{API}/policy", headers=shop.headers)).json()
    assert policy["version"] == 2
    assert policy["policy"]["flood"]["max_messages"] == 10 + statuses.index(200)


async def test_a_community_override_shows_what_it_sets_and_the_merged_policy(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    world = await _world(db, factory)
    headers = world.shop.headers
    group = world.groups[0]
    base = await client.put(f"{API}/policy", json={"flood": {"max_messages": 9}}, headers=headers)
    assert base.status_code == 200
    path = f"{API}/policy/communities/{group}"
    none = await client.get(path, headers=headers)
    assert none.json()["override"] is None
    assert none.json()["version"] == 0
    assert none.json()["effective"]["flood"]["max_messages"] == 9

    saved = await client.put(
        path, json={"flood": {"on_hit": {"action": "kick"}}}, headers={**headers, "If-Match": "0"}
    )
    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert body["override"] == {"flood": {"on_hit": {"action": "kick"}}}
    assert body["effective"]["flood"]["max_messages"] == 9  # the merchant's, kept
    assert body["effective"]["flood"]["on_hit"]["action"] == "kick"
    other = await client.get(f"{API}/policy/communities/{world.groups[1]}", headers=headers)
    assert other.json()["effective"]["flood"]["on_hit"]["action"] == "mute"

    stale = await client.delete(path, headers={**headers, "If-Match": "0"})
    assert stale.status_code == 409
    assert stale.json()["code"] == "policy_changed"
    removed = await client.delete(path, headers={**headers, "If-Match": '"1"'})
    assert removed.status_code == 204
    assert (await client.delete(path, headers=headers)).status_code == 404
    after = await client.get(path, headers=headers)
    assert after.json()["effective"]["flood"]["on_hit"]["action"] == "mute"
    missing = await client.get(f"{API}/policy/communities/{uuid.uuid4()}", headers=headers)
    assert missing.status_code == 404


# -- the ban list -----------------------------------------------------------------------------


async def test_a_ban_owes_one_action_per_group_and_lifting_it_an_unban_per_group(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    world = await _world(db, factory)
    headers = world.shop.headers
    body = {"member_id": str(world.member_id), "reason": "spam links"}
    banned = await client.post(f"{API}/bans", json=body, headers=headers)
    assert banned.status_code == 201, banned.text
    ban = banned.json()
    assert (ban["in_force"], ban["banned_by"].startswith("staff:"), ban["until"]) == (
        True,
        True,
        None,
    )
    assert {a.community_id for a in await _actions(db, ActionKind.BAN)} == set(world.groups)
    again = await client.post(f"{API}/bans", json=body, headers=headers)
    assert again.status_code == 409
    assert again.json()["code"] == "already_banned"
    assert again.json()["ban_id"] == ban["id"]
    assert await count_rows(db, Ban) == 1

    listed = await client.get(f"{API}/bans", params={"state": "in_force"}, headers=headers)
    assert [b["id"] for b in listed.json()["items"]] == [ban["id"]]
    assert (await client.get(f"{API}/bans?state=lifted", headers=headers)).json()["items"] == []
    log = await client.get(f"{API}/moderation", headers=headers)
    assert [(e["action"], e["ban_id"]) for e in log.json()["items"]] == [("ban", ban["id"])]

    lifted = await client.post(f"{API}/bans/{ban['id']}/lift", headers=headers)
    assert lifted.status_code == 200
    assert lifted.json()["in_force"] is False
    # The bans had not gone out: they are called back; an unban is owed in every group.
    assert await _actions(db, ActionKind.BAN) == []
    assert {a.community_id for a in await _actions(db, ActionKind.UNBAN)} == set(world.groups)
    twice = await client.post(f"{API}/bans/{ban['id']}/lift", headers=headers)
    assert twice.status_code == 409
    assert twice.json()["code"] == "ban_lifted"
    by_member = await client.get(
        f"{API}/bans",
        params={"member_id": str(world.member_id), "state": "lifted"},
        headers=headers,
    )
    assert [b["id"] for b in by_member.json()["items"]] == [ban["id"]]


async def test_a_ban_with_an_end_tells_the_platform_and_bad_bans_write_nothing(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    world = await _world(db, factory)
    headers = world.shop.headers
    for body, status in (
        ({"member_id": str(uuid.uuid4()), "reason": "x"}, 404),
        ({"member_id": str(world.member_id), "reason": ""}, 422),
        (
            {
                "member_id": str(world.member_id),
                "reason": "x",
                "until": (clock.now() - timedelta(hours=1)).isoformat(),
            },
            422,
        ),
    ):
        response = await client.post(f"{API}/bans", json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
    assert await count_rows(db, Ban) == 0
    assert await count_rows(db, RobotAction) == 0
    until = clock.now() + timedelta(days=3)
    banned = await client.post(
        f"{API}/bans",
        json={"member_id": str(world.member_id), "reason": "cool off", "until": until.isoformat()},
        headers=headers,
    )
    assert banned.status_code == 201
    owed = await _actions(db, ActionKind.BAN)
    assert len(owed) == GROUPS
    assert {a.payload["until"][:16] for a in owed} == {until.isoformat()[:16]}


async def test_an_ended_ban_is_not_in_force_and_the_member_may_be_banned_again(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    world = await _world(db, factory)
    async with db.unit_of_work() as session:
        session.add(
            Ban(
                merchant_id=world.shop.tenant.id,
                member_id=world.member_id,
                reason="a week off",
                banned_by="robot",
                at=clock.now() - timedelta(days=8),
                until=clock.now() - timedelta(days=1),
            )
        )
    headers = world.shop.headers
    lifted = await client.get(f"{API}/bans?state=lifted", headers=headers)
    assert [b["in_force"] for b in lifted.json()["items"]] == [False]
    again = await client.post(
        f"{API}/bans", json={"member_id": str(world.member_id), "reason": "again"}, headers=headers
    )
    assert again.status_code == 201, again.text
    async with db.unit_of_work(read_only=True) as session:
        rows = (await session.scalars(select(Ban).order_by(Ban.at))).all()
    assert [(b.lifted_by, b.lifted_at is None) for b in rows] == [("expired", False), (None, True)]


async def test_staff_banning_at_once_make_one_ban_and_lifting_at_once_one_unban(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    world = await _world(db, factory)
    headers = world.shop.headers
    n = 8 if db.dialect == "postgresql" else 4
    body = {"member_id": str(world.member_id), "reason": "spam"}

    async def ban(_: int) -> int:
        return (await client.post(f"{API}/bans", json=body, headers=headers)).status_code

    assert sorted(await fire(n, ban)) == [201] + [409] * (n - 1)
    assert await count_rows(db, Ban) == 1
    assert len(await _actions(db, ActionKind.BAN)) == GROUPS
    ban_id = (await client.get(f"{API}/bans", headers=headers)).json()["items"][0]["id"]

    async def lift(_: int) -> int:
        return (await client.post(f"{API}/bans/{ban_id}/lift", headers=headers)).status_code

    assert sorted(await fire(n, lift)) == [200] + [409] * (n - 1)
    assert len(await _actions(db, ActionKind.UNBAN)) == GROUPS
    assert await count_rows(db, ModerationEntry, ModerationEntry.action == "unban") == 1


async def test_staff_banning_and_lifting_at_once_end_consistent(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    """Half ban, half lift the ban in force at the start: whatever the order, the ban list
    and the owed actions agree (each group's last action is what the list says)."""
    world = await _world(db, factory)
    headers = world.shop.headers
    body = {"member_id": str(world.member_id), "reason": "spam"}
    first = (await client.post(f"{API}/bans", json=body, headers=headers)).json()["id"]
    n = 8 if db.dialect == "postgresql" else 4

    async def decide(i: int) -> int:
        if i % 2:
            return (await client.post(f"{API}/bans/{first}/lift", headers=headers)).status_code
        return (await client.post(f"{API}/bans", json=body, headers=headers)).status_code

    statuses = await fire(n, decide)
    assert set(statuses) <= {200, 201, 409}
    assert statuses.count(200) == 1  # the first ban is lifted once
    async with db.unit_of_work(read_only=True) as session:
        open_bans = (await session.scalars(select(Ban).where(Ban.lifted_at.is_(None)))).all()
        owed = (
            await session.scalars(
                select(RobotAction).where(RobotAction.status == ActionStatus.PENDING)
            )
        ).all()
    assert len(open_bans) <= 1
    for group in world.groups:
        last = max(
            (a for a in owed if a.community_id == group),
            key=lambda a: (a.due_at, a.created_at),
        )
        assert last.kind == (ActionKind.BAN if open_bans else ActionKind.UNBAN), group


# -- the moderation log -----------------------------------------------------------------------


async def test_undo_of_a_robot_ban_lifts_it_in_every_group_once(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    world = await _world(db, factory)
    entry_id = await _entry(db, world, rule="blocklist", action="ban", excerpt="casino")
    async with db.unit_of_work() as session:
        made = await bans.ban(
            session,
            world.shop.tenant,
            world.member_id,
            reason="blocklist: casino",
            actor="robot",
            rule="blocklist",
            community_id=world.groups[0],
            logged=True,
        )
        assert made is not None
    headers = world.shop.headers
    n = 4 if db.dialect == "postgresql" else 2

    async def undo(_: int) -> Any:
        return await client.post(f"{API}/moderation/{entry_id}/undo", headers=headers)

    answers = await fire(n, undo)
    assert sorted(a.status_code for a in answers) == [200] + [409] * (n - 1)
    done = next(a for a in answers if a.status_code == 200).json()
    assert [a.json()["code"] for a in answers if a.status_code == 409] == ["already_undone"] * (
        n - 1
    )
    assert done["ban_lifted"] is True
    assert done["strikes_removed"] == 1
    assert done["entry"]["ban_id"] == str(made.id)
    assert done["entry"]["undone_by"].startswith("staff:")
    assert any("cannot come back" in note for note in done["not_restored"])
    assert {a.community_id for a in await _actions(db, ActionKind.UNBAN)} == set(world.groups)
    assert await _actions(db, ActionKind.BAN) == []
    assert await count_rows(db, Strike) == 0
    assert await count_rows(db, Ban, Ban.lifted_at.is_(None)) == 0


async def test_undo_of_a_mute_lifts_it_and_an_unban_entry_cannot_be_undone(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    world = await _world(db, factory)
    entry_id = await _entry(db, world, rule="flood", action="mute", excerpt="hi hi hi")
    headers = world.shop.headers
    undone = await client.post(f"{API}/moderation/{entry_id}/undo", headers=headers)
    assert undone.status_code == 200, undone.text
    assert (undone.json()["unmuted"], undone.json()["ban_lifted"]) == (True, False)
    (unmute,) = await _actions(db, ActionKind.UNRESTRICT)
    assert (unmute.community_id, unmute.payload["person_id"]) == (world.groups[0], "42")

    unban_id = await _entry(db, world, rule=None, action="unban", excerpt=None)
    refused = await client.post(f"{API}/moderation/{unban_id}/undo", headers=headers)
    assert refused.status_code == 409
    assert refused.json()["code"] == "not_undoable"
    missing = await client.post(f"{API}/moderation/{uuid.uuid4()}/undo", headers=headers)
    assert missing.status_code == 404


async def test_fine_undoes_and_allow_lists_the_domain_once(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    world = await _world(db, factory)
    entry_id = await _entry(
        db, world, rule="links", action="warn", excerpt="https://shop.example/a"
    )
    headers = world.shop.headers
    path = f"{API}/moderation/{entry_id}/review"
    bad = await client.post(path, json={"verdict": "maybe"}, headers=headers)
    assert bad.status_code == 422
    reviewed = await client.post(path, json={"verdict": "fine"}, headers=headers)
    assert reviewed.status_code == 200, reviewed.text
    body = reviewed.json()
    assert body["allow_listed"] == "shop.example"
    assert body["entry"]["review"] == "fine"
    assert body["undo"]["strikes_removed"] == 1
    policy = (await client.get(f"{API}/policy", headers=headers)).json()
    assert policy["policy"]["links"]["allowed_domains"] == ["shop.example"]
    assert policy["version"] == 1
    again = await client.post(path, json={"verdict": "confirmed"}, headers=headers)
    assert again.status_code == 409
    assert again.json()["code"] == "already_reviewed"

    phrase = await _entry(db, world, rule="blocklist", action="delete", excerpt="Casino Royale")
    ok = await client.post(
        f"{API}/moderation/{phrase}/review", json={"verdict": "fine"}, headers=headers
    )
    assert ok.json()["allow_listed"] == "Casino Royale"
    policy = (await client.get(f"{API}/policy", headers=headers)).json()
    assert policy["policy"]["blocklist"]["allowed_phrases"] == ["Casino Royale"]
    assert policy["policy"]["links"]["allowed_domains"] == ["shop.example"]  # kept
    assert policy["version"] == 2

    flood = await _entry(db, world, rule="flood", action="mute", excerpt="hi")
    refused = await client.post(
        f"{API}/moderation/{flood}/review", json={"verdict": "fine", "allow": "hi"}, headers=headers
    )
    assert refused.status_code == 422
    async with db.unit_of_work(read_only=True) as session:
        entry = await session.get(ModerationEntry, flood)
        assert entry is not None
        assert (entry.review, entry.undone_at) == (None, None)


async def test_a_report_removes_the_message_logs_staff_and_blocklists_the_phrase(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    world = await _world(db, factory)
    headers = world.shop.headers
    async with db.unit_of_work() as session:
        event = RobotEvent(
            merchant_id=world.shop.tenant.id,
            robot_account_id=world.robot_id,
            event_id="u-1",
            kind="message",
            community_id=world.groups[1],
            member_id=world.member_id,
            text="cheap followers here",
        )
        session.add(event)
        await session.flush()
        event_id = event.id
    body = {
        "community_id": str(world.groups[1]),
        "message_id": "501",
        "event_id": str(event_id),
        "blocklist_phrase": "cheap followers",
        "strike": True,
    }
    reported = await client.post(f"{API}/moderation/reports", json=body, headers=headers)
    assert reported.status_code == 201, reported.text
    entry = reported.json()
    assert (entry["action"], entry["member_id"], entry["excerpt"]) == (
        "delete",
        str(world.member_id),
        "cheap followers here",
    )
    assert entry["actor"].startswith("staff:")
    (removal,) = await _actions(db, ActionKind.DELETE)
    assert (removal.community_id, removal.payload["message_id"]) == (world.groups[1], "501")
    assert await count_rows(db, Strike, Strike.rule == "report") == 1
    policy = (await client.get(f"{API}/policy", headers=headers)).json()
    assert policy["policy"]["blocklist"]["phrases"] == ["cheap followers"]

    twice = await client.post(f"{API}/moderation/reports", json=body, headers=headers)
    assert twice.status_code == 409
    assert twice.json()["code"] == "already_reported"
    no_author = await client.post(
        f"{API}/moderation/reports",
        json={"community_id": str(world.groups[2]), "message_id": "9", "strike": True},
        headers=headers,
    )
    assert no_author.status_code == 422
    assert await count_rows(db, ModerationEntry) == 1
    assert await count_rows(db, RobotAction) == 1


async def test_the_log_filters_and_a_leader_reads_only_their_groups(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    world = await _world(db, factory)
    x, y = world.groups[0], world.groups[1]
    in_x = await _entry(db, world, rule="links")
    in_y = await _entry(db, world, rule="phone", community_id=y)
    token = await factory.staff_token(world.shop, Role.LEADER)
    async with db.unit_of_work(read_only=True) as session:
        from tribekit.models import ApiToken

        leader_user = await session.scalar(
            select(ApiToken.user_id).where(ApiToken.name == "leader")
        )
    named = await client.post(
        f"/api/v1/communities/{x}/leaders",
        json={"staff_user_id": str(leader_user)},
        headers=world.shop.headers,
    )
    assert named.status_code == 201, named.text

    async def ids(headers: dict[str, str], **params: Any) -> list[str]:
        response = await client.get(f"{API}/moderation", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [e["id"] for e in response.json()["items"]]

    owner = world.shop.headers
    assert await ids(owner) == [str(in_y), str(in_x)]
    assert await ids(owner, rule="phone") == [str(in_y)]
    assert await ids(owner, community_id=str(x)) == [str(in_x)]
    assert await ids(owner, actor="robot", member_id=str(world.member_id)) == [
        str(in_y),
        str(in_x),
    ]
    assert await ids(owner, since=(clock.now() + timedelta(minutes=1)).isoformat()) == []
    leader = bearer(token)
    assert await ids(leader) == [str(in_x)]
    assert await ids(leader, community_id=str(y)) == []
    for path in (f"{API}/bans", f"{API}/policy"):
        assert (await client.get(path, headers=leader)).status_code == 403
    denied = await client.post(f"{API}/moderation/{in_x}/undo", headers=leader)
    assert denied.status_code == 403
    assert await count_rows(db, ModerationEntry, ModerationEntry.undone_at.is_not(None)) == 0


async def test_another_merchant_reaches_none_of_the_log_bans_or_policy(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    world = await _world(db, factory)
    entry_id = await _entry(db, world)
    other = await factory.shop()
    for method, path, body in (
        ("POST", f"{API}/moderation/{entry_id}/undo", None),
        ("POST", f"{API}/moderation/{entry_id}/review", {"verdict": "fine"}),
        ("GET", f"{API}/policy/communities/{world.groups[0]}", None),
        (
            "POST",
            f"{API}/moderation/reports",
            {"community_id": str(world.groups[0]), "message_id": "1"},
        ),
        ("POST", f"{API}/bans", {"member_id": str(world.member_id), "reason": "x"}),
    ):
        response = await client.request(method, path, json=body, headers=other.headers)
        assert response.status_code == 404, (path, response.text)
    assert (await client.get(f"{API}/moderation", headers=other.headers)).json()["items"] == []
    assert await count_rows(db, Ban) == 0
    assert await count_rows(db, RobotAction) == 0
    assert await count_rows(db, ModerationEntry, ModerationEntry.undone_at.is_not(None)) == 0
