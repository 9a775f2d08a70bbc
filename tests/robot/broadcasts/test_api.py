"""The broadcasts' REST API: made, read with their counts and deliveries, cancelled, previewed
per channel; bad input answered with a 4xx and a stable code, and nothing written."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient

from tests.conftest import serve, test_settings
from tests.factories import Factory, bearer, count_rows
from tests.robot.fake_telegram import FakeTelegram
from tribekit.api.app import create_app
from tribekit.kit.db import Database
from tribekit.models.broadcasts import Broadcast
from tribekit.models.enums import Role
from tribekit.robot.channels import Button
from tribekit.robot.channels.telegram import TelegramChannel
from tribekit.robot.channels.written_buttons import write_out

from . import helpers

PATH = "/api/v1/robot/broadcasts"


@pytest.fixture
async def http(db: Database) -> AsyncIterator[AsyncClient]:
    """The API without its in-process worker: the tests run the sweeps themselves."""
    app = create_app(test_settings(db, in_process_worker=False), db=db)
    async with serve(app) as client:
        yield client


@pytest.fixture
async def telegram(fake_telegram: FakeTelegram) -> AsyncIterator[TelegramChannel]:
    channel = helpers.unlimited(TelegramChannel(fake_telegram.base_url))
    yield channel
    await channel.aclose()


def _body(**fields: Any) -> dict[str, Any]:
    return {"content": {"texts": {"en": "Mangoes are in!"}}, "audience": "all", **fields}


async def test_a_broadcast_made_sent_and_read_through_the_api(
    db: Database,
    factory: Factory,
    http: AsyncClient,
    fake_telegram: FakeTelegram,
    telegram: TelegramChannel,
) -> None:
    chats = helpers.groups(3)
    world = await helpers.shop_in_groups(db, factory, fake_telegram, chats)
    headers = world.shop.headers
    made = await http.post(
        PATH,
        json=_body(
            name="Mango day",
            content={
                "texts": {"en": "Mangoes are in!", "zh-CN": "芒果到了"},
                "buttons": [[{"text": "Order", "url": "https://shop.example/m", "data": None}]],
            },
            marketing=True,
        ),
        headers=headers,
    )
    assert made.status_code == 201, made.text
    out = made.json()
    assert out["name"] == "Mango day"
    assert out["status"] == "scheduled"
    assert out["marketing"] is True
    assert out["content"] == {
        "texts": {"en": "Mangoes are in!", "zh-CN": "芒果到了"},
        "buttons": [[{"text": "Order", "url": "https://shop.example/m", "data": None}]],
        "image_url": None,
    }
    assert out["counts"] == {
        "pending": 0,
        "sent": 0,
        "failed": 0,
        "cancelled": 0,
        "skipped": 0,
        "total": 0,
    }
    assert out["created_by"].startswith("staff:")
    channels = {"telegram": telegram}
    await helpers.run_until_done(db, helpers.sweeps(db, channels), uuid.UUID(out["id"]))
    one = await http.get(f"{PATH}/{out['id']}", headers=headers)
    assert one.status_code == 200
    assert one.json()["status"] == "done"
    assert one.json()["counts"] == {
        "pending": 0,
        "sent": 3,
        "failed": 0,
        "cancelled": 0,
        "skipped": 0,
        "total": 3,
    }
    listed = await http.get(PATH, params={"status": "done"}, headers=headers)
    assert [b["id"] for b in listed.json()["items"]] == [out["id"]]
    assert (await http.get(PATH, params={"status": "sending"}, headers=headers)).json()[
        "items"
    ] == []
    first = await http.get(f"{PATH}/{out['id']}/deliveries", params={"limit": 2}, headers=headers)
    assert first.status_code == 200
    page = first.json()
    assert len(page["items"]) == 2
    rest = await http.get(
        f"{PATH}/{out['id']}/deliveries",
        params={"limit": 2, "cursor": page["next_cursor"]},
        headers=headers,
    )
    items = page["items"] + rest.json()["items"]
    assert rest.json()["next_cursor"] is None
    assert sorted(int(d["chat_id"]) for d in items) == sorted(chats)
    assert {(d["status"], d["attempts"], d["language"]) for d in items} == {("sent", 1, "en")}
    none = await http.get(
        f"{PATH}/{out['id']}/deliveries", params={"status": "failed"}, headers=headers
    )
    assert none.json() == {"items": [], "next_cursor": None}


async def test_cancelling_through_the_api(
    db: Database, factory: Factory, http: AsyncClient, fake_telegram: FakeTelegram
) -> None:
    world = await helpers.shop_in_groups(db, factory, fake_telegram, helpers.groups(2))
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    made = (await http.post(PATH, json=_body(send_at=later), headers=world.shop.headers)).json()
    cancelled = await http.post(f"{PATH}/{made['id']}/cancel", headers=world.shop.headers)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    again = await http.post(f"{PATH}/{made['id']}/cancel", headers=world.shop.headers)
    assert again.status_code == 200
    assert again.json()["cancelled_at"] == cancelled.json()["cancelled_at"]


async def test_a_finished_broadcast_cannot_be_cancelled(
    db: Database,
    factory: Factory,
    http: AsyncClient,
    fake_telegram: FakeTelegram,
    telegram: TelegramChannel,
) -> None:
    world = await helpers.shop_in_groups(db, factory, fake_telegram, helpers.groups(1))
    made = (await http.post(PATH, json=_body(), headers=world.shop.headers)).json()
    sweeps = helpers.sweeps(db, {"telegram": telegram})
    await helpers.run_until_done(db, sweeps, uuid.UUID(made["id"]))
    refused = await http.post(f"{PATH}/{made['id']}/cancel", headers=world.shop.headers)
    assert refused.status_code == 409
    assert refused.json()["code"] == "broadcast_finished"


BAD: list[tuple[dict[str, Any], int, str]] = [
    ({"content": {"texts": {"fr": "Bonjour"}}}, 422, "unknown_language"),
    ({"content": {"texts": {}}}, 422, "no_text"),
    ({"content": {"texts": {"en": "   "}}}, 422, "no_text"),
    ({"content": {"texts": {"en": "x" * 4097}}}, 422, "text_too_long"),
    (
        {"content": {"texts": {"en": "x" * 1025}, "image_url": "https://shop.example/a.jpg"}},
        422,
        "text_too_long",
    ),
    ({"content": {"texts": {"en": "hi"}, "image_url": "not a url"}}, 422, "bad_image"),
    (
        {
            "content": {
                "texts": {"en": "hi"},
                "buttons": [[{"text": "Go", "url": "https://a.example", "data": "x"}]],
            }
        },
        422,
        "bad_button",
    ),
    ({"audience": "communities"}, 422, "bad_audience"),
    ({"audience": "all", "tags": ["vip"]}, 422, "bad_audience"),
    ({"audience": "everyone"}, 422, "validation_failed"),
    ({"send_at": 1700000000}, 422, "validation_failed"),
    ({"colour": "red"}, 422, "validation_failed"),
    (
        {"audience": "communities", "community_ids": ["01900000-0000-7000-8000-000000000000"]},
        404,
        "not_found",
    ),
    (
        {"audience": "members", "member_ids": ["01900000-0000-7000-8000-000000000000"]},
        404,
        "not_found",
    ),
]


async def test_bad_broadcasts_are_refused_with_a_stable_code_and_nothing_written(
    db: Database, factory: Factory, http: AsyncClient, fake_telegram: FakeTelegram
) -> None:
    world = await helpers.shop_in_groups(db, factory, fake_telegram, helpers.groups(1))
    answers = {}
    for fields, _, _ in BAD:
        answer = await http.post(PATH, json=_body(**fields), headers=world.shop.headers)
        answers[repr(fields)] = (answer.status_code, answer.json()["code"])
    assert answers == {repr(fields): (status, code) for fields, status, code in BAD}
    assert await count_rows(db, Broadcast) == 0


async def test_another_merchants_community_is_answered_like_a_missing_one(
    db: Database, factory: Factory, http: AsyncClient, fake_telegram: FakeTelegram
) -> None:
    world = await helpers.shop_in_groups(db, factory, fake_telegram, helpers.groups(1))
    other = await factory.shop()
    answer = await http.post(
        PATH,
        json=_body(audience="communities", community_ids=[str(world.groups[0])]),
        headers=other.headers,
    )
    assert answer.status_code == 404
    assert answer.json()["code"] == "not_found"
    assert await count_rows(db, Broadcast) == 0
    theirs = (await http.post(PATH, json=_body(), headers=world.shop.headers)).json()
    for call in (
        http.get(f"{PATH}/{theirs['id']}", headers=other.headers),
        http.get(f"{PATH}/{theirs['id']}/deliveries", headers=other.headers),
        http.post(f"{PATH}/{theirs['id']}/cancel", headers=other.headers),
    ):
        assert (await call).status_code == 404
    assert (await http.get(f"{PATH}/{theirs['id']}", headers=world.shop.headers)).json()[
        "status"
    ] == "scheduled"


async def test_a_send_time_in_the_past_means_now(
    db: Database, factory: Factory, http: AsyncClient, fake_telegram: FakeTelegram
) -> None:
    world = await helpers.shop_in_groups(db, factory, fake_telegram, helpers.groups(1))
    before = datetime.now(UTC)
    made = await http.post(
        PATH, json=_body(send_at="2020-01-01T00:00:00Z"), headers=world.shop.headers
    )
    assert made.status_code == 201
    assert datetime.fromisoformat(made.json()["send_at"]) >= before


async def test_an_analyst_reads_broadcasts_but_cannot_send_one(
    db: Database, factory: Factory, http: AsyncClient, fake_telegram: FakeTelegram
) -> None:
    world = await helpers.shop_in_groups(db, factory, fake_telegram, helpers.groups(1))
    analyst = bearer(await factory.staff_token(world.shop, Role.ANALYST))
    refused = await http.post(PATH, json=_body(), headers=analyst)
    assert refused.status_code == 403
    assert refused.json()["code"] == "permission_denied"
    assert await count_rows(db, Broadcast) == 0
    assert (await http.get(PATH, headers=analyst)).status_code == 200
    preview = await http.post(
        f"{PATH}/preview", json={"content": _body()["content"]}, headers=analyst
    )
    assert preview.status_code == 403


async def test_the_preview_shows_the_message_as_each_channel_will(
    db: Database, factory: Factory, http: AsyncClient
) -> None:
    shop = await factory.shop()
    buttons = [
        [{"text": "Order", "url": "https://shop.example/m", "data": None}],
        [{"text": "Remind me", "url": None, "data": "remind"}],
    ]
    content = {
        "texts": {"en": "Mangoes are in!", "zh-CN": "芒果到了"},
        "buttons": buttons,
        "image_url": "https://shop.example/mango.jpg",
    }
    answer = await http.post(f"{PATH}/preview", json={"content": content}, headers=shop.headers)
    assert answer.status_code == 200, answer.text
    by = {(p["channel"], p["language"]): p for p in answer.json()["items"]}
    assert sorted(by) == [
        (channel, language)
        for channel in ("matrix", "telegram", "web")
        for language in ("en", "zh-CN")
    ]
    assert by["telegram", "en"] == {
        "channel": "telegram",
        "language": "en",
        "kind": "photo",
        "text": "Mangoes are in!",
        "image_url": "https://shop.example/mango.jpg",
        "buttons": buttons,
        "limit": 1024,
        "problem": None,
    }
    matrix = by["matrix", "zh-CN"]
    assert matrix["buttons"] == []
    assert matrix["text"] == (
        "芒果到了\n\nOrder: https://shop.example/m\n1. Remind me\n"
        "(reply to this message with a number to choose)"
    )
    # The same text the Matrix channel sends.
    assert matrix["text"] == write_out(
        "芒果到了",
        (
            (Button("Order", url="https://shop.example/m"),),
            (Button("Remind me", data="remind"),),
        ),
    )
    web = by["web", "en"]
    assert (
        web["text"]
        == "https://shop.example/mango.jpg\nMangoes are in!\n\nOrder: https://shop.example/m"
    )
    assert web["buttons"] == []
    long = await http.post(
        f"{PATH}/preview",
        json={"content": {"texts": {"en": "x" * 1500}, "image_url": "https://s.example/a.png"}},
        headers=shop.headers,
    )
    problems = {p["channel"]: p["problem"] for p in long.json()["items"]}
    assert problems == {
        "telegram": "1500 characters; a photo's caption on telegram holds at most 1024",
        "matrix": None,
        "web": None,
    }
    bad = await http.post(
        f"{PATH}/preview", json={"content": {"texts": {"de": "Hallo"}}}, headers=shop.headers
    )
    assert bad.status_code == 422
    assert bad.json()["code"] == "unknown_language"
