"""Keyword auto-replies through the API: create, list, change, remove; a regex that does not
compile or nests repeats is refused with nothing written; robot:read reads, robot:configure
writes; another merchant's community cannot be named."""

from __future__ import annotations

import uuid

from httpx import AsyncClient

from tests.factories import Factory, bearer, count_rows
from tribekit.kit.db import Database
from tribekit.models.enums import Role
from tribekit.models.moderation import AutoReply

API = "/api/v1/robot/replies"


async def test_replies_are_made_listed_changed_and_removed(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    group = (
        await client.post(
            "/api/v1/communities", json={"name": "G", "channel": "web"}, headers=shop.headers
        )
    ).json()["id"]
    wide = await client.post(
        API,
        json={"match": "contains", "pattern": "opening hours", "reply": "9 to 5"},
        headers=shop.headers,
    )
    assert wide.status_code == 201, wide.text
    assert (wide.json()["community_id"], wide.json()["active"]) == (None, True)
    own = await client.post(
        API,
        json={
            "match": "regex",
            "pattern": r"deliver(y|ies)\s+fee",
            "reply": "Free",
            "community_id": group,
        },
        headers=shop.headers,
    )
    assert own.status_code == 201, own.text

    listed = await client.get(API, headers=shop.headers)
    assert [r["id"] for r in listed.json()["items"]] == [own.json()["id"], wide.json()["id"]]
    only_group = await client.get(API, params={"community_id": group}, headers=shop.headers)
    assert [r["id"] for r in only_group.json()["items"]] == [own.json()["id"]]
    only_wide = await client.get(API, params={"merchant_wide": "true"}, headers=shop.headers)
    assert [r["id"] for r in only_wide.json()["items"]] == [wide.json()["id"]]

    path = f"{API}/{wide.json()['id']}"
    changed = await client.patch(
        path, json={"reply": "9 to 6", "active": False, "community_id": group}, headers=shop.headers
    )
    assert changed.status_code == 200
    assert (changed.json()["reply"], changed.json()["active"], changed.json()["community_id"]) == (
        "9 to 6",
        False,
        group,
    )
    null = await client.patch(path, json={"pattern": None}, headers=shop.headers)
    assert null.status_code == 422
    assert (await client.delete(path, headers=shop.headers)).status_code == 204
    assert (await client.delete(path, headers=shop.headers)).status_code == 404
    assert await count_rows(db, AutoReply) == 1


async def test_a_bad_regex_is_422_and_nothing_is_written(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    for pattern, kind in (
        ("(unclosed", "invalid"),
        ("a{99999999999}", "invalid"),
        ("(a+)+$", "catastrophic_regex"),
        (r"(\w+\s?)*end", "catastrophic_regex"),
        ("(?:x|y*)+", "catastrophic_regex"),
    ):
        response = await client.post(
            API, json={"match": "regex", "pattern": pattern, "reply": "x"}, headers=shop.headers
        )
        assert response.status_code == 422, pattern
        assert [(e["loc"][-1], e["type"]) for e in response.json()["errors"]] == [
            ("pattern", kind)
        ], pattern
    # The same text as a contains pattern is plain text: fine.
    plain = await client.post(
        API, json={"match": "contains", "pattern": "(a+)+", "reply": "x"}, headers=shop.headers
    )
    assert plain.status_code == 201
    # Switching it to regex checks the pattern it keeps.
    switched = await client.patch(
        f"{API}/{plain.json()['id']}", json={"match": "regex"}, headers=shop.headers
    )
    assert switched.status_code == 422
    for body in (
        {"match": "fuzzy", "pattern": "x", "reply": "x"},
        {"match": "exact", "pattern": "", "reply": "x"},
        {"match": "exact", "pattern": "x" * 301, "reply": "x"},
        {"match": "exact", "pattern": "x", "reply": "x", "extra": 1},
    ):
        assert (await client.post(API, json=body, headers=shop.headers)).status_code == 422
    async with db.unit_of_work(read_only=True) as session:
        row = await session.get(AutoReply, uuid.UUID(plain.json()["id"]))
        assert row is not None
        assert row.match == "contains"
    assert await count_rows(db, AutoReply) == 1


async def test_reading_and_writing_need_their_permissions_and_own_communities(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop, other = await factory.shop(), await factory.shop()
    theirs = (
        await client.post(
            "/api/v1/communities", json={"name": "T", "channel": "web"}, headers=other.headers
        )
    ).json()["id"]
    body = {"match": "exact", "pattern": "hi", "reply": "hello", "community_id": theirs}
    assert (await client.post(API, json=body, headers=shop.headers)).status_code == 404
    analyst = bearer(await factory.staff_token(shop, Role.ANALYST))
    assert (await client.get(API, headers=analyst)).status_code == 200
    body.pop("community_id")
    denied = await client.post(API, json=body, headers=analyst)
    assert denied.status_code == 403
    assert await count_rows(db, AutoReply) == 0
