"""Scheduled posts through the API: made with the rule said back and the coming occurrences;
bad rules, content and communities refused with nothing written; changed only with the version
read (If-Match); paused, resumed and removed; who may read and who may write."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from httpx import AsyncClient
from sqlalchemy import select

from tests.factories import Factory, bearer, count_rows
from tests.robot.worlds import telegram_world
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.models.broadcasts import Broadcast, PostSchedule
from tribekit.models.enums import Role

from .world import schedule_row

API = "/api/v1/robot/schedules"
CONTENT = {"texts": {"en": "Flash sale at 20:00", "zh-CN": "20:00 限时秒杀"}}
MONDAY = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai


def body(**fields: Any) -> dict[str, Any]:
    return {"name": "Flash sale", "rule": "Mon-Thu 19:50", "content": CONTENT, **fields}


async def test_a_schedule_is_made_with_its_rule_in_words_and_coming_posts(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    world = await telegram_world(db, factory, [-1001])
    with clock.frozen_at(MONDAY):
        made = await client.post(
            API,
            json=body(
                community_id=str(world.groups[0]),
                marketing=True,
                content={
                    **CONTENT,
                    "buttons": [[{"text": "Buy", "url": "https://shop.example/s/1"}]],
                },
            ),
            headers=world.shop.headers,
        )
    assert made.status_code == 201, made.text
    assert made.headers["ETag"] == '"1"'
    out = made.json()
    assert out["rule"] == "Mon-Thu 19:50"
    assert out["words"] == {
        "en": "every Monday to Thursday at 19:50",
        "zh-CN": "每周一至周四 19:50",
    }
    assert (out["kind"], out["cron"], out["after_join_seconds"]) == (
        "recurring",
        "50 19 * * 1-4",
        None,
    )
    assert out["timezone"] == "Asia/Shanghai"  # the group has none: the merchant's
    assert (out["marketing"], out["active"], out["version"]) == (True, True, 1)
    assert out["content"]["buttons"] == [
        [{"text": "Buy", "url": "https://shop.example/s/1", "data": None}]
    ]
    assert out["created_by"].startswith("staff:")
    assert out["due_at"] == "2026-12-07T01:00:00Z"
    assert out["coming"] == [
        {
            "at": f"2026-12-{d:02d}T11:50:00Z",
            "local_at": f"2026-12-{d:02d}T19:50",
            "timezone": "Asia/Shanghai",
        }
        for d in (7, 8, 9, 10, 14)
    ]
    read = await client.get(f"{API}/{out['id']}", headers=world.shop.headers)
    assert read.status_code == 200
    assert read.headers["ETag"] == '"1"'
    with clock.frozen_at(MONDAY):
        listed = await client.get(API, headers=world.shop.headers)
    assert [s["id"] for s in listed.json()["items"]] == [out["id"]]


async def test_after_join_and_merchant_wide_schedules(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    world = await telegram_world(db, factory, [-1001])
    dm = await client.post(
        API, json=body(rule="1 day after a member joins at 10:00"), headers=world.shop.headers
    )
    assert dm.status_code == 201, dm.text
    out = dm.json()
    assert (out["kind"], out["cron"], out["after_join_seconds"]) == (
        "after_join",
        "0 10 * * *",
        86400,
    )
    assert out["community_id"] is None
    assert out["coming"] == []
    wide = await client.post(API, json=body(rule="每月最后一天 18:00"), headers=world.shop.headers)
    assert wide.status_code == 201
    assert wide.json()["words"]["en"] == "on the last day of every month at 18:00"
    assert wide.json()["cron"] == "0 18 L * *"


async def _refused(
    client: AsyncClient, db: Database, headers: dict[str, str], data: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(API, json=data, headers=headers)
    assert response.status_code in (404, 422), response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert await count_rows(db, PostSchedule) == 0
    out: dict[str, Any] = response.json()
    out["status"] = response.status_code
    return out


async def test_bad_rules_content_and_communities_are_refused_and_nothing_is_written(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    world = await telegram_world(db, factory, [-1001])
    other = await telegram_world(db, factory, [-2002], token="700009:other-robot")
    headers = world.shop.headers

    bad_rule = await _refused(client, db, headers, body(rule="every Friyay 20:00"))
    assert (bad_rule["status"], bad_rule["code"]) == (422, "schedule_rule_invalid")
    assert "'every Friday 20:00'" in bad_rule["detail"]
    assert bad_rule["errors"][0]["loc"] == ["body", "rule"]

    cron = await _refused(client, db, headers, body(rule="50 19 * * 1-4"))
    assert "not as a cron expression" in cron["detail"]

    no_text = await _refused(client, db, headers, body(content={"texts": {"en": "  "}}))
    assert (no_text["status"], no_text["code"]) == (422, "no_text")
    none_at_all = await _refused(client, db, headers, body(content={"texts": {}}))
    assert none_at_all["code"] == "no_text"
    language = await _refused(client, db, headers, body(content={"texts": {"fr": "Bonjour"}}))
    assert language["code"] == "unknown_language"
    too_long = await _refused(
        client,
        db,
        headers,
        body(community_id=str(world.groups[0]), content={"texts": {"en": "x" * 4097}}),
    )
    assert too_long["code"] == "text_too_long"
    button = await _refused(
        client,
        db,
        headers,
        body(content={**CONTENT, "buttons": [[{"text": "Buy", "url": "javascript:alert(1)"}]]}),
    )
    assert button["code"] == "bad_button"

    theirs = await _refused(client, db, headers, body(community_id=str(other.groups[0])))
    missing = await _refused(client, db, headers, body(community_id=str(uuid.uuid4())))
    assert (
        (theirs["status"], theirs["code"])
        == (missing["status"], missing["code"])
        == (
            404,
            "not_found",
        )
    )
    unknown = await _refused(client, db, headers, {**body(), "colour": "red"})
    assert unknown["status"] == 422


async def _schedule(client: AsyncClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    made = await client.post(API, json=body(**fields), headers=headers)
    assert made.status_code == 201, made.text
    out: dict[str, Any] = made.json()
    return out


async def test_a_change_needs_the_version_read(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    world = await telegram_world(db, factory, [-1001])
    headers = world.shop.headers
    made = await _schedule(client, headers)
    path = f"{API}/{made['id']}"

    unversioned = await client.patch(path, json={"rule": "every Friday 20:00"}, headers=headers)
    assert (unversioned.status_code, unversioned.json()["code"]) == (428, "version_required")
    bad = await client.patch(
        path, json={"rule": "every Friday 20:00"}, headers={**headers, "If-Match": "three"}
    )
    assert bad.status_code == 422
    stale = await client.patch(
        path, json={"rule": "every Friday 20:00"}, headers={**headers, "If-Match": '"7"'}
    )
    assert (stale.status_code, stale.json()["code"]) == (409, "schedule_changed")
    async with db.unit_of_work() as session:
        row = await session.get(PostSchedule, uuid.UUID(made["id"]))
        assert row is not None
        assert (row.rule, row.version) == ("Mon-Thu 19:50", 1)

    changed = await client.patch(
        path,
        json={"rule": "every Friday 20:00", "name": "Gift pack day"},
        headers={**headers, "If-Match": '"1"'},
    )
    assert changed.status_code == 200, changed.text
    assert changed.headers["ETag"] == '"2"'
    out = changed.json()
    assert (out["rule"], out["cron"], out["name"], out["version"]) == (
        "every Friday 20:00",
        "0 20 * * 5",
        "Gift pack day",
        2,
    )
    again = await client.patch(
        path, json={"name": "Lost update"}, headers={**headers, "If-Match": '"1"'}
    )
    assert again.status_code == 409
    refused = await client.patch(
        path, json={"rule": "sometimes"}, headers={**headers, "If-Match": '"2"'}
    )
    assert (refused.status_code, refused.json()["code"]) == (422, "schedule_rule_invalid")
    nulled = await client.patch(path, json={"rule": None}, headers={**headers, "If-Match": '"2"'})
    assert nulled.status_code == 422
    same = await client.patch(
        path, json={"name": "Gift pack day"}, headers={**headers, "If-Match": '"2"'}
    )
    assert (same.status_code, same.json()["version"]) == (200, 2)  # nothing changed

    paused = await client.patch(
        path, json={"active": False}, headers={**headers, "If-Match": '"2"'}
    )
    assert (paused.json()["active"], paused.json()["version"], paused.json()["coming"]) == (
        False,
        3,
        [],
    )
    wide = await client.patch(
        path,
        json={"community_id": str(world.groups[0]), "active": True},
        headers={**headers, "If-Match": '"3"'},
    )
    assert wide.json()["community_id"] == str(world.groups[0])
    back = await client.patch(
        path, json={"community_id": None}, headers={**headers, "If-Match": '"4"'}
    )
    assert back.json()["community_id"] is None
    welcome = await client.patch(
        path,
        json={"rule": "3 days after a member joins"},
        headers={**headers, "If-Match": 'W/"5"'},
    )
    assert welcome.status_code == 200, welcome.text
    assert (
        welcome.json()["kind"],
        welcome.json()["cron"],
        welcome.json()["after_join_seconds"],
    ) == (
        "after_join",
        None,
        3 * 86400,
    )
    assert welcome.headers["ETag"] == '"6"'


async def test_removing_cancels_what_it_had_not_started(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    world = await telegram_world(db, factory, [-1001])
    headers = world.shop.headers
    made = await _schedule(client, headers)
    path = f"{API}/{made['id']}"
    async with db.unit_of_work() as session:
        for status, key in (("scheduled", "a"), ("done", "b")):
            session.add(
                Broadcast(
                    merchant_id=world.shop.tenant.id,
                    name="x",
                    content=CONTENT,
                    audience="all",
                    send_at=clock.now(),
                    status=status,
                    schedule_id=uuid.UUID(made["id"]),
                    occurrence_key=key,
                    created_by="t",
                )
            )
    stale = await client.delete(path, headers={**headers, "If-Match": '"9"'})
    assert stale.status_code == 409
    removed = await client.delete(path, headers={**headers, "If-Match": '"1"'})
    assert removed.status_code == 204
    assert (await client.get(path, headers=headers)).status_code == 404
    assert (await client.delete(path, headers=headers)).status_code == 404
    async with db.unit_of_work() as session:
        rows = (await session.scalars(select(Broadcast).order_by(Broadcast.status))).all()
        assert [(b.status, b.schedule_id, b.occurrence_key) for b in rows] == [
            ("cancelled", None, "a~v1"),
            ("done", None, "b"),
        ]
        assert rows[0].cancelled_at is not None


async def test_who_may_read_and_who_may_write(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    world = await telegram_world(db, factory, [-1001])
    made = await _schedule(client, world.shop.headers)
    analyst = bearer(await factory.staff_token(world.shop, Role.ANALYST))
    leader = bearer(await factory.staff_token(world.shop, Role.LEADER))
    operator = bearer(await factory.staff_token(world.shop, Role.OPERATOR))
    assert (await client.get(API, headers=analyst)).status_code == 200
    assert (
        await client.get(
            "/api/v1/robot/calendar?start=2026-12-01T00:00:00Z&end=2026-12-08T00:00:00Z",
            headers=analyst,
        )
    ).status_code == 200
    assert (await client.post(API, json=body(), headers=analyst)).status_code == 403
    patch = await client.patch(
        f"{API}/{made['id']}", json={"name": "No"}, headers={**analyst, "If-Match": '"1"'}
    )
    assert patch.status_code == 403
    assert (await client.delete(f"{API}/{made['id']}", headers=analyst)).status_code == 403
    assert (await client.get(API, headers=leader)).status_code == 403
    assert await count_rows(db, PostSchedule) == 1
    assert (await client.post(API, json=body(), headers=operator)).status_code == 201
    assert (await client.get(API)).status_code == 401


async def test_another_merchant_reaches_none_of_the_schedules(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    world = await telegram_world(db, factory, [-1001])
    made = await _schedule(client, world.shop.headers, community_id=str(world.groups[0]))
    intruder = await factory.shop()
    path = f"{API}/{made['id']}"
    versioned = {**intruder.headers, "If-Match": '"1"'}
    assert (await client.get(path, headers=intruder.headers)).status_code == 404
    assert (await client.patch(path, json={"name": "Mine"}, headers=versioned)).status_code == 404
    assert (
        await client.patch(path, json={"name": "Mine"}, headers=intruder.headers)
    ).status_code == 404
    assert (await client.delete(path, headers=versioned)).status_code == 404
    listed = await client.get(API, headers=intruder.headers)
    assert listed.json()["items"] == []
    seen = await client.get("/api/v1/robot/calendar", headers=intruder.headers)
    assert seen.status_code == 200
    assert made["id"] not in seen.text
    assert str(world.groups[0]) not in seen.text
    row = await schedule_row(db, made["id"])
    assert (row.name, row.version) == ("Flash sale", 1)
