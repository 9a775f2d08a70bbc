"""A community's life: found by the robot (pending), confirmed, refused or archived; its texts;
its leaders; the list's filters."""

from __future__ import annotations

import uuid
from typing import Any

from httpx import AsyncClient
from sqlalchemy import select

from tests.concurrency import fire
from tests.factories import PASSWORD, Factory, Shop, bearer, count_rows
from tribekit.communities import service
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.models import ApiToken, Community, CommunityLeader, StaffUser
from tribekit.models.enums import Channel, Role
from tribekit.models.robot import RobotAccount

API = "/api/v1/communities"


def _iso(at: Any) -> str:
    return str(at.isoformat().replace("+00:00", "Z"))


async def _robot(db: Database, shop: Shop, channel: Channel = Channel.TELEGRAM) -> uuid.UUID:
    async with db.unit_of_work() as session:
        robot = RobotAccount(
            merchant_id=shop.tenant.id,
            channel=channel,
            name="Shop robot",
            external_id=uuid.uuid4().hex[:12],
            webhook_secret="s" * 32,
        )
        session.add(robot)
        await session.flush()
        return robot.id


async def _found(
    db: Database, shop: Shop, robot: uuid.UUID, chat: str, title: str = "Found group"
) -> Community:
    async def work(session: Any) -> Community:
        return await service.register_found_group(
            session, shop.tenant, robot, Channel.TELEGRAM, chat, title
        )

    return await db.run(work)


async def _row(db: Database, community_id: Any) -> tuple[Any, ...]:
    async with db.unit_of_work() as session:
        found = await session.get(Community, uuid.UUID(str(community_id)))
        assert found is not None
        return tuple(str(getattr(found, c.key)) for c in Community.__table__.columns)


async def test_a_found_group_is_pending_once_however_often_and_concurrently_reported(
    factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    robot = await _robot(db, shop)
    found = await fire(8, lambda _: _found(db, shop, robot, "-100777", "  Fans  "))
    assert len({c.id for c in found}) == 1
    community = found[0]
    assert (community.status, community.name, community.robot_account_id) == (
        "pending",
        "Fans",
        robot,
    )
    assert (community.member_count, community.confirmed_at, community.language) == (0, None, "en")
    again = await _found(db, shop, robot, "-100777", "Renamed there")
    assert (again.id, again.name) == (community.id, "Fans")
    assert await count_rows(db, Community) == 1

    other = await factory.shop()
    async with db.unit_of_work() as session:
        assert await service.is_active(session, shop.tenant, community.id) is False
        assert await service.is_active(session, other.tenant, community.id) is False


async def test_a_staff_registered_group_is_linked_to_the_robot_that_finds_it(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    robot = await _robot(db, shop)
    created = await client.post(
        API, json={"name": "Ours", "channel": "telegram", "external_id": "-5"}, headers=shop.headers
    )
    assert created.json()["status"] == "active"
    found = await _found(db, shop, robot, "-5")
    assert (str(found.id), found.status, found.robot_account_id) == (
        created.json()["id"],
        "active",
        robot,
    )
    async with db.unit_of_work() as session:
        assert await service.is_active(session, shop.tenant, found.id) is True


async def test_confirm_refuse_archive(client: AsyncClient, factory: Factory, db: Database) -> None:
    shop = await factory.shop()
    robot = await _robot(db, shop)
    kept, refused = await _found(db, shop, robot, "-1"), await _found(db, shop, robot, "-2")
    now = clock.now().replace(microsecond=0)
    with clock.frozen_at(now):
        confirmed = await client.post(f"{API}/{kept.id}/confirm", headers=shop.headers)
    assert confirmed.status_code == 200
    assert (confirmed.json()["status"], confirmed.json()["confirmed_at"]) == ("active", _iso(now))
    with clock.frozen_at(now):
        gone = await client.post(f"{API}/{refused.id}/refuse", headers=shop.headers)
    assert (gone.json()["status"], gone.json()["archived_at"]) == ("archived", _iso(now))
    assert gone.json()["confirmed_at"] is None
    async with db.unit_of_work() as session:
        assert await service.is_active(session, shop.tenant, kept.id) is True
        assert await service.is_active(session, shop.tenant, refused.id) is False

    # Moves the table does not have: 409, the code naming the status, nothing changed.
    refusals = [
        (kept.id, "confirm", "community_active", "only pending communities are confirmed"),
        (
            kept.id,
            "refuse",
            "community_active",
            "only pending communities are refused; archive an active one",
        ),
        (refused.id, "confirm", "community_archived", "only pending communities are confirmed"),
        (refused.id, "archive", "community_archived", "it is archived already"),
    ]
    for community_id, action, code, hint in refusals:
        before = await _row(db, community_id)
        response = await client.post(f"{API}/{community_id}/{action}", headers=shop.headers)
        assert response.status_code == 409, (action, response.text)
        body = response.json()
        status = code.removeprefix("community_")
        past = {"confirm": "confirmed", "refuse": "refused", "archive": "archived"}[action]
        assert (body["code"], body["community_status"]) == (code, status)
        assert (
            body["detail"] == f"community {community_id} is {status}; it cannot be {past} ({hint})"
        )
        assert await _row(db, community_id) == before

    archived = await client.post(f"{API}/{kept.id}/archive", headers=shop.headers)
    assert (archived.json()["status"], archived.json()["confirmed_at"]) == ("archived", _iso(now))
    pending = await _found(db, shop, robot, "-3")
    assert (await client.post(f"{API}/{pending.id}/archive", headers=shop.headers)).json()[
        "status"
    ] == "archived"
    missing = uuid.uuid4()
    assert (await client.post(f"{API}/{missing}/confirm", headers=shop.headers)).status_code == 404


async def test_change_a_community(client: AsyncClient, factory: Factory, db: Database) -> None:
    shop = await factory.shop()
    group = (
        await client.post(API, json={"name": "Fruit", "channel": "web"}, headers=shop.headers)
    ).json()
    changes = {
        "name": "Fruit lovers",
        "timezone": "Asia/Shanghai",
        "language": "zh-CN",
        "welcome_text": "欢迎!",
        "rules_text": "No ads.",
    }
    changed = await client.patch(f"{API}/{group['id']}", json=changes, headers=shop.headers)
    assert changed.status_code == 200
    assert changed.json() == {**group, **changes}
    reset = await client.patch(
        f"{API}/{group['id']}", json={"timezone": None, "rules_text": None}, headers=shop.headers
    )
    assert reset.json() == {**group, **changes, "timezone": None, "rules_text": None}

    before = await _row(db, group["id"])
    bad = {
        "timezone": ("Mars/Olympus", "value_error"),
        "language": ("fr", "literal_error"),
        "welcome_text": ("x" * 4001, "string_too_long"),
        "name": ("", "string_too_short"),
    }
    for field, (value, kind) in bad.items():
        response = await client.patch(
            f"{API}/{group['id']}", json={field: value}, headers=shop.headers
        )
        assert response.status_code == 422, field
        assert [(e["loc"], e["type"]) for e in response.json()["errors"]] == [
            (["body", field], kind)
        ]
    null_name = await client.patch(
        f"{API}/{group['id']}", json={"name": None}, headers=shop.headers
    )
    assert null_name.status_code == 422
    assert "name may be changed but not set to null" in null_name.json()["detail"]
    assert await _row(db, group["id"]) == before

    await client.post(f"{API}/{group['id']}/archive", headers=shop.headers)
    before = await _row(db, group["id"])
    frozen = await client.patch(f"{API}/{group['id']}", json={"name": "X"}, headers=shop.headers)
    assert (frozen.status_code, frozen.json()["code"]) == (409, "community_archived")
    assert await _row(db, group["id"]) == before


async def test_the_list_filters_by_status_and_channel(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    robot = await _robot(db, shop)
    web = (
        await client.post(API, json={"name": "W", "channel": "web"}, headers=shop.headers)
    ).json()
    pending = await _found(db, shop, robot, "-9")

    async def ids(**params: str) -> list[str]:
        response = await client.get(API, params=params, headers=shop.headers)
        assert response.status_code == 200
        return [c["id"] for c in response.json()["items"]]

    assert await ids() == [str(pending.id), web["id"]]
    assert await ids(status="pending") == [str(pending.id)]
    assert await ids(status="active") == [web["id"]]
    assert await ids(status="archived") == []
    assert await ids(channel="web") == [web["id"]]
    assert await ids(channel="telegram", status="pending") == [str(pending.id)]
    bad = await client.get(API, params={"status": "deleted"}, headers=shop.headers)
    assert (bad.status_code, bad.json()["errors"][0]["loc"]) == (422, ["query", "status"])


async def _staff_user(factory: Factory, db: Database, shop: Shop, role: Role) -> tuple[str, str]:
    token = await factory.staff_token(shop, role)
    async with db.unit_of_work() as session:
        user_id = await session.scalar(
            select(ApiToken.user_id).where(ApiToken.name == role).order_by(ApiToken.id.desc())
        )
    return str(user_id), token


async def test_leaders(client: AsyncClient, factory: Factory, db: Database) -> None:
    shop, other = await factory.shop(), await factory.shop()
    group = (
        await client.post(API, json={"name": "Fruit", "channel": "web"}, headers=shop.headers)
    ).json()
    leaders = f"{API}/{group['id']}/leaders"
    staff_leader, _ = await _staff_user(factory, db, shop, Role.LEADER)
    operator, _ = await _staff_user(factory, db, shop, Role.OPERATOR)
    foreign_leader, _ = await _staff_user(factory, db, other, Role.LEADER)
    member = str((await factory.member(shop, display_name="Lin")).member.id)

    now = clock.now().replace(microsecond=0)
    with clock.frozen_at(now):
        staff = await client.post(
            leaders, json={"staff_user_id": staff_leader}, headers=shop.headers
        )
    assert staff.status_code == 201
    assert {k: v for k, v in staff.json().items() if k != "id"} == {
        "staff_user_id": staff_leader,
        "member_id": None,
        "since": _iso(now),
    }
    by_member = await client.post(leaders, json={"member_id": member}, headers=shop.headers)
    assert by_member.status_code == 201

    refused = [
        ({"staff_user_id": staff_leader}, 409, "this staff user leads this community already"),
        ({"member_id": member}, 409, "this member leads this community already"),
        (
            {"staff_user_id": operator},
            422,
            "staff_user_id: this staff user has the operator role; only staff with the leader "
            "role lead communities (the other roles see every community already)",
        ),
        (
            {"staff_user_id": foreign_leader},
            404,
            f"no staff user with id {foreign_leader} at this merchant",
        ),
        ({"member_id": str(uuid.uuid4())}, 404, None),
        ({}, 422, None),
        ({"staff_user_id": staff_leader, "member_id": member}, 422, None),
    ]
    for body, status, detail in refused:
        response = await client.post(leaders, json=body, headers=shop.headers)
        assert response.status_code == status, (body, response.text)
        if detail is not None:
            assert response.json()["detail"] == detail
    assert await count_rows(db, CommunityLeader) == 2

    listed = await client.get(leaders, headers=shop.headers)
    assert listed.json()["items"] == [staff.json(), by_member.json()]
    shown = await client.get(f"{API}/{group['id']}", headers=shop.headers)
    assert shown.json()["leaders"] == [staff.json(), by_member.json()]

    gone = await client.delete(f"{leaders}/{staff.json()['id']}", headers=shop.headers)
    assert gone.status_code == 204
    again = await client.delete(f"{leaders}/{staff.json()['id']}", headers=shop.headers)
    assert again.status_code == 404
    assert (await client.get(leaders, headers=shop.headers)).json()["items"] == [by_member.json()]


async def test_only_owners_and_admins_name_leaders_and_leaders_change_nothing(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    group = (
        await client.post(API, json={"name": "Fruit", "channel": "web"}, headers=shop.headers)
    ).json()
    leader_id, leader_token = await _staff_user(factory, db, shop, Role.LEADER)
    _, operator = await _staff_user(factory, db, shop, Role.OPERATOR)
    _, admin = await _staff_user(factory, db, shop, Role.ADMIN)
    body = {"staff_user_id": leader_id}
    denied = await client.post(f"{API}/{group['id']}/leaders", json=body, headers=bearer(operator))
    assert denied.status_code == 403
    assert denied.json()["detail"] == (
        "the operator role may not do this (needs communities:leaders)"
    )
    assert await count_rows(db, CommunityLeader) == 0
    named = await client.post(f"{API}/{group['id']}/leaders", json=body, headers=bearer(admin))
    assert named.status_code == 201

    before = await _row(db, group["id"])
    for method, path, payload in (
        ("PATCH", f"{API}/{group['id']}", {"name": "Mine"}),
        ("POST", f"{API}/{group['id']}/archive", None),
        ("DELETE", f"{API}/{group['id']}/leaders/{named.json()['id']}", None),
    ):
        response = await client.request(method, path, json=payload, headers=bearer(leader_token))
        assert response.status_code == 403, (method, path)
    assert await _row(db, group["id"]) == before
    assert await count_rows(db, CommunityLeader) == 1
    mine = await client.get(f"{API}/{group['id']}", headers=bearer(leader_token))
    assert mine.status_code == 200


async def test_a_leader_signed_in_with_a_session_sees_only_their_communities(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    """The web session's principal carries the led communities, as a token's does."""
    shop = await factory.shop()
    led, other = [
        (await client.post(API, json={"name": name, "channel": "web"}, headers=shop.headers)).json()
        for name in ("Led", "Other")
    ]
    user_id, _ = await _staff_user(factory, db, shop, Role.LEADER)
    named = await client.post(
        f"{API}/{led['id']}/leaders", json={"staff_user_id": user_id}, headers=shop.headers
    )
    assert named.status_code == 201
    async with db.unit_of_work() as session:
        email = await session.scalar(
            select(StaffUser.email).where(StaffUser.id == uuid.UUID(user_id))
        )
    signed_in = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert signed_in.status_code == 200, signed_in.text
    cookie = {"Cookie": f"tribekit_session={signed_in.cookies['tribekit_session']}"}
    listed = await client.get(API, headers=cookie)
    assert [c["id"] for c in listed.json()["items"]] == [led["id"]]
    assert (await client.get(f"{API}/{other['id']}", headers=cookie)).status_code == 404
    assert (await client.get(f"{API}/{led['id']}/members", headers=cookie)).status_code == 200
