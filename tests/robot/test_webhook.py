"""Telegram's webhook and the robot accounts API, over real HTTP: the app served by uvicorn on
loopback, the fake Bot API server posting updates to it with the secret that ``setWebhook`` gave
it, the robot's replies sent by the worker's sweep through aiogram.

A wrong or missing secret is refused and records nothing; the same update delivered ten times
(five at once) is handled once and answered once; two merchants' robots on one server each see
their own groups only; registering checks the token with getMe; a removed robot's webhook is
refused.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import select

from tests.concurrency import fire
from tests.conftest import test_settings
from tests.factories import Factory, Shop, count_rows
from tribekit.api.app import create_app
from tribekit.kit.db import Database
from tribekit.models.communities import Community
from tribekit.models.robot import RobotAccount, RobotAction, RobotEvent
from tribekit.robot import tasks
from tribekit.robot.channels.telegram import ALLOWED_UPDATES

from .fake_telegram import FakeTelegram

TOKEN_A, TOKEN_B = "700001:robot-a-token", "700002:robot-b-token"
GROUP_A, GROUP_B = -4001, -4002
MEI, SAM = 42, 43


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Live:
    url: str
    app: FastAPI
    http: httpx.AsyncClient

    async def sweep(self) -> None:
        """Carry out every robot action due, as the worker does."""
        state = self.app.state.tribekit
        sweep = tasks.actions_sweep(state.db, state.channels)
        while await state.db.run(lambda session: sweep.run(session, sweep.batch_size)):
            pass


@asynccontextmanager
async def _serve(db: Database, fake: FakeTelegram, **settings: Any) -> AsyncIterator[Live]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    settings.setdefault("public_url", url)
    app = create_app(test_settings(db, telegram_api_base=fake.base_url, **settings), db=db)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    async with app.router.lifespan_context(app):
        task = asyncio.create_task(server.serve())
        for _ in range(1000):
            if server.started:
                break
            await asyncio.sleep(0.01)
        assert server.started
        try:
            async with httpx.AsyncClient(base_url=url, timeout=20) as http:
                yield Live(url, app, http)
        finally:
            server.should_exit = True
            await task


@pytest.fixture
async def live(db: Database, fake_telegram: FakeTelegram) -> AsyncIterator[Live]:
    async with _serve(db, fake_telegram) as served:
        yield served


def _world(fake: FakeTelegram) -> None:
    for token, name, group in ((TOKEN_A, "robot_a", GROUP_A), (TOKEN_B, "robot_b", GROUP_B)):
        bot = fake.add_bot(token, name)
        fake.add_chat(group, f"Group of {name}")
        fake.add_member(group, bot, status="administrator")
    fake.add_user(MEI, "Mei")
    fake.add_user(SAM, "Sam")


async def _robot(live: Live, shop: Shop, token: str, group: int) -> dict[str, Any]:
    """Register the bot through the API, set its webhook, and an active group for it."""
    registered = await live.http.post(
        "/api/v1/robot/accounts", json={"token": token}, headers=shop.headers
    )
    assert registered.status_code == 201, registered.text
    account: dict[str, Any] = registered.json()
    hooked = await live.http.post(
        f"/api/v1/robot/accounts/{account['id']}/webhook", headers=shop.headers
    )
    assert hooked.status_code == 200, hooked.text
    group_made = await live.http.post(
        "/api/v1/communities",
        json={"name": f"Group {group}", "channel": "telegram", "external_id": str(group)},
        headers=shop.headers,
    )
    assert group_made.status_code == 201, group_made.text
    return account


async def test_a_robot_is_registered_with_getme_and_its_webhook_set_with_its_secret(
    live: Live, factory: Factory, fake_telegram: FakeTelegram, db: Database
) -> None:
    _world(fake_telegram)
    shop = await factory.shop()
    refused = await live.http.post(
        "/api/v1/robot/accounts", json={"token": "700009:revoked-token"}, headers=shop.headers
    )
    assert refused.status_code == 422
    assert refused.json()["code"] == "robot_token_refused"
    assert await count_rows(db, RobotAccount) == 0

    account = await _robot(live, shop, TOKEN_A, GROUP_A)
    assert {k: account[k] for k in ("name", "username", "external_id", "mode", "active")} == {
        "name": "robot_a",
        "username": "robot_a",
        "external_id": "700001",
        "mode": "webhook",
        "active": True,
    }
    assert "token" not in account
    assert "webhook_secret" not in account
    async with db.unit_of_work(read_only=True) as session:
        stored = await session.scalar(select(RobotAccount))
    assert stored is not None
    [set_call] = fake_telegram.calls_to("setWebhook", token=TOKEN_A)
    assert set_call.status == 200
    assert set_call.params["url"] == f"{live.url}/api/v1/robot/telegram/{account['id']}/webhook"
    assert set_call.params["secret_token"] == stored.webhook_secret
    assert set_call.params["allowed_updates"] == list(ALLOWED_UPDATES)
    assert [c.method for c in fake_telegram.calls if c.token == TOKEN_A] == ["getMe", "setWebhook"]

    again = await live.http.post(
        "/api/v1/robot/accounts", json={"token": TOKEN_A}, headers=shop.headers
    )
    assert again.status_code == 409
    assert again.json()["code"] == "robot_registered"
    listed = await live.http.get("/api/v1/robot/accounts", headers=shop.headers)
    assert [a["id"] for a in listed.json()["items"]] == [account["id"]]


async def test_no_public_url_is_a_clear_409(
    db: Database, factory: Factory, fake_telegram: FakeTelegram
) -> None:
    _world(fake_telegram)
    shop = await factory.shop()
    async with _serve(db, fake_telegram, public_url=None) as live:
        registered = await live.http.post(
            "/api/v1/robot/accounts", json={"token": TOKEN_A}, headers=shop.headers
        )
        hooked = await live.http.post(
            f"/api/v1/robot/accounts/{registered.json()['id']}/webhook", headers=shop.headers
        )
    assert hooked.status_code == 409
    assert hooked.json()["code"] == "robot_no_public_url"
    assert "TRIBEKIT_PUBLIC_URL" in hooked.json()["detail"]
    assert fake_telegram.calls_to("setWebhook") == []


async def test_a_wrong_or_missing_secret_is_refused_and_nothing_is_recorded(
    live: Live, factory: Factory, fake_telegram: FakeTelegram, db: Database
) -> None:
    _world(fake_telegram)
    shop = await factory.shop()
    account = await _robot(live, shop, TOKEN_A, GROUP_A)
    path = f"/api/v1/robot/telegram/{account['id']}/webhook"
    update = {"update_id": 5, **fake_telegram.message(GROUP_A, MEI, "/help")}
    header = "X-Telegram-Bot-Api-Secret-Token"
    answers = [
        await live.http.post(path, json=update),
        await live.http.post(path, json=update, headers={header: "wrong"}),
        await live.http.post(path, content=b"not json", headers={header: "wrong"}),
        await live.http.post(
            "/api/v1/robot/telegram/0191a4c4-0000-7000-8000-000000000002/webhook",
            json=update,
            headers={header: "wrong"},
        ),
        await live.http.post("/api/v1/robot/telegram/not-an-id/webhook", json=update),
    ]
    assert [a.status_code for a in answers] == [403] * 5
    assert {a.json()["code"] for a in answers} == {"robot_webhook_forbidden"}
    assert len({a.json()["detail"] for a in answers}) == 1
    assert await count_rows(db, RobotEvent) == 0
    assert await count_rows(db, RobotAction) == 0


async def test_a_body_that_is_not_an_update_is_a_400(
    live: Live, factory: Factory, fake_telegram: FakeTelegram, db: Database
) -> None:
    _world(fake_telegram)
    shop = await factory.shop()
    account = await _robot(live, shop, TOKEN_A, GROUP_A)
    async with db.unit_of_work(read_only=True) as session:
        secret = await session.scalar(select(RobotAccount.webhook_secret))
    assert secret is not None
    path = f"/api/v1/robot/telegram/{account['id']}/webhook"
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret, "Content-Type": "application/json"}
    for body in (b"not json", b"[1, 2]", b'{"message": {}}', b'{"update_id": "7"}'):
        answer = await live.http.post(path, content=body, headers=headers)
        assert answer.status_code == 400, body
        assert answer.json()["code"] == "robot_update_invalid"
    edited = await live.http.post(
        path, json={"update_id": 8, "edited_message": {"text": "x"}}, headers=headers
    )
    assert (edited.status_code, edited.json()) == (200, {"outcomes": []})
    assert await count_rows(db, RobotEvent) == 0


async def test_one_update_delivered_ten_times_five_at_once_is_answered_once(
    live: Live, factory: Factory, fake_telegram: FakeTelegram, db: Database
) -> None:
    _world(fake_telegram)
    shop = await factory.shop()
    await _robot(live, shop, TOKEN_A, GROUP_A)
    update = {"update_id": 9001, **fake_telegram.message(GROUP_A, MEI, "/help")}

    async def deliver(_: int) -> Any:
        return await fake_telegram.push_webhook(update, token=TOKEN_A)

    deliveries = await fire(5, deliver)
    for i in range(5):
        deliveries.append(await deliver(i))
    assert [d.status for d in deliveries] == [200] * 10
    outcomes = sorted(
        o for d in deliveries for o in httpx.Response(200, text=d.body).json()["outcomes"]
    )
    assert outcomes == ["command: help"] + ["duplicate"] * 9
    assert await count_rows(db, RobotEvent) == 1
    await live.sweep()
    await live.sweep()
    [reply] = fake_telegram.calls_to("sendMessage", token=TOKEN_A)
    assert reply.params["chat_id"] == GROUP_A
    assert reply.params["reply_parameters"]["message_id"] == update["message"]["message_id"]
    assert [m.text for m in fake_telegram.sent(GROUP_A)] == [reply.params["text"]]


async def test_two_merchants_robots_each_see_only_their_own_groups(
    live: Live, factory: Factory, fake_telegram: FakeTelegram, db: Database
) -> None:
    _world(fake_telegram)
    fake_telegram.add_member(GROUP_B, fake_telegram.bots[TOKEN_A].user)  # A's bot sits in B's
    shop_a, shop_b = await factory.shop(), await factory.shop()
    robot_a = await _robot(live, shop_a, TOKEN_A, GROUP_A)
    robot_b = await _robot(live, shop_b, TOKEN_B, GROUP_B)
    for group, token in ((GROUP_A, TOKEN_A), (GROUP_B, TOKEN_B), (GROUP_B, TOKEN_A)):
        delivered = await fake_telegram.push_webhook(
            fake_telegram.message(group, MEI, "/help"), token=token
        )
        assert delivered.status == 200
    await live.sweep()
    async with db.unit_of_work(read_only=True) as session:
        events = (await session.execute(select(RobotEvent.merchant_id, RobotEvent.outcome))).all()
        groups = (await session.execute(select(Community.merchant_id, Community.external_id))).all()
    # A's bot saw B's chat: for shop A it is a new group, pending, and nothing is done there.
    assert sorted((str(m), o) for m, o in events) == sorted(
        [
            (str(shop_a.tenant.id), "command: help"),
            (str(shop_a.tenant.id), "group pending"),
            (str(shop_b.tenant.id), "command: help"),
        ]
    )
    assert sorted((str(m), e) for m, e in groups) == sorted(
        [
            (str(shop_a.tenant.id), str(GROUP_A)),
            (str(shop_a.tenant.id), str(GROUP_B)),
            (str(shop_b.tenant.id), str(GROUP_B)),
        ]
    )
    assert [c.params["chat_id"] for c in fake_telegram.calls_to("sendMessage", token=TOKEN_A)] == [
        GROUP_A
    ]
    assert [c.params["chat_id"] for c in fake_telegram.calls_to("sendMessage", token=TOKEN_B)] == [
        GROUP_B
    ]
    other = await live.http.get(f"/api/v1/robot/accounts/{robot_a['id']}", headers=shop_b.headers)
    assert other.status_code == 404
    mine = await live.http.get("/api/v1/robot/accounts", headers=shop_b.headers)
    assert [a["id"] for a in mine.json()["items"]] == [robot_b["id"]]


async def test_a_removed_robot_is_refused_and_comes_back_when_registered_again(
    live: Live, factory: Factory, fake_telegram: FakeTelegram, db: Database
) -> None:
    _world(fake_telegram)
    shop = await factory.shop()
    account = await _robot(live, shop, TOKEN_A, GROUP_A)
    first = await fake_telegram.push_webhook(fake_telegram.message(GROUP_A, MEI, "hi"))
    assert first.status == 200
    renamed = await live.http.patch(
        f"/api/v1/robot/accounts/{account['id']}", json={"name": "Shop robot"}, headers=shop.headers
    )
    assert renamed.json()["name"] == "Shop robot"
    async with db.unit_of_work(read_only=True) as session:
        old_secret = await session.scalar(select(RobotAccount.webhook_secret))
    assert old_secret is not None
    removed = await live.http.delete(
        f"/api/v1/robot/accounts/{account['id']}", headers=shop.headers
    )
    assert removed.status_code == 204
    assert fake_telegram.calls_to("deleteWebhook", token=TOKEN_A)[0].status == 200
    path = f"/api/v1/robot/telegram/{account['id']}/webhook"
    update = fake_telegram.message(GROUP_A, MEI, "/help")
    refused = await live.http.post(
        path,
        json={"update_id": 99, **update},
        headers={"X-Telegram-Bot-Api-Secret-Token": old_secret},
    )
    assert refused.status_code == 403
    assert await count_rows(db, RobotEvent) == 1
    assert await count_rows(db, Community) == 1  # its group stays
    async with db.unit_of_work(read_only=True) as session:
        stored = await session.scalar(select(RobotAccount))
    assert stored is not None
    assert (stored.active, stored.token) == (False, None)

    back = await live.http.post(
        "/api/v1/robot/accounts", json={"token": TOKEN_A, "mode": "poll"}, headers=shop.headers
    )
    assert back.status_code == 201, back.text
    assert (back.json()["id"], back.json()["active"], back.json()["mode"]) == (
        account["id"],
        True,
        "poll",
    )
    polls = await live.http.post(
        f"/api/v1/robot/accounts/{account['id']}/webhook", headers=shop.headers
    )
    assert (polls.status_code, polls.json()["code"]) == (409, "robot_polls")
