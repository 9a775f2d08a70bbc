"""Communities (chat groups) through the HTTP API, and which members are in them."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

from httpx import AsyncClient

from tests.factories import Factory, Shop, bearer, count_rows
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.models import Community, CommunityMember
from tribekit.models.enums import Role

API = "/api/v1/communities"


async def _create(
    client: AsyncClient, shop: Shop, name: str, channel: str = "telegram", **fields: Any
) -> dict[str, Any]:
    response = await client.post(
        API, json={"name": name, "channel": channel, **fields}, headers=shop.headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _get(client: AsyncClient, shop: Shop, community_id: str) -> dict[str, Any]:
    response = await client.get(f"{API}/{community_id}", headers=shop.headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def _member(factory: Factory, shop: Shop, name: str) -> str:
    return str((await factory.member(shop, display_name=name)).member.id)


async def _join(client: AsyncClient, shop: Shop, community_id: str, member_id: str) -> Any:
    return await client.post(
        f"{API}/{community_id}/members", json={"member_id": member_id}, headers=shop.headers
    )


async def _member_ids(client: AsyncClient, shop: Shop, community_id: str) -> set[str]:
    response = await client.get(
        "/api/v1/members", params={"community_id": community_id}, headers=shop.headers
    )
    assert response.status_code == 200, response.text
    return {m["id"] for m in response.json()["items"]}


async def test_create_a_community(client: AsyncClient, factory: Factory) -> None:
    shop = await factory.shop()
    now = clock.now().replace(microsecond=0)
    with clock.frozen_at(now):
        created = await _create(client, shop, "Greenwood Fruit Lovers", external_id="-1001234")
    assert uuid.UUID(created["id"]).version == 7
    assert datetime.fromisoformat(created["created_at"]) == now
    assert {k: v for k, v in created.items() if k not in ("id", "created_at")} == {
        "name": "Greenwood Fruit Lovers",
        "channel": "telegram",
        "external_id": "-1001234",
        "status": "active",
        "robot_account_id": None,
        "timezone": None,
        "language": "en",
        "welcome_text": None,
        "rules_text": None,
        "member_count": 0,
        "leaders": [],
        "confirmed_at": now.isoformat().replace("+00:00", "Z"),
        "archived_at": None,
    }
    assert await _get(client, shop, created["id"]) == created

    web = await _create(client, shop, "Own forum", "web")
    assert (web["channel"], web["external_id"]) == ("web", None)


async def test_a_duplicate_channel_and_chat_id_is_409_and_creates_nothing(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    first = await _create(client, shop, "Fruit", external_id="-100")
    response = await client.post(
        API,
        json={"name": "Fruit again", "channel": "telegram", "external_id": "-100"},
        headers=shop.headers,
    )
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    assert response.json()["detail"] == "a telegram community with chat id '-100' already exists"
    assert await count_rows(db, Community) == 1
    listing = await client.get(API, headers=shop.headers)
    assert [c["id"] for c in listing.json()["items"]] == [first["id"]]

    # The same chat id on another channel, or at another merchant, is another community.
    await _create(client, shop, "Fruit on Matrix", "matrix", external_id="-100")
    other = await factory.shop()
    await _create(client, other, "Their fruit", external_id="-100")
    assert await count_rows(db, Community) == 3


async def test_bad_input_is_422(client: AsyncClient, factory: Factory, db: Database) -> None:
    shop = await factory.shop()
    response = await client.post(
        API, json={"name": "", "channel": "whatsapp", "colour": "red"}, headers=shop.headers
    )
    assert response.status_code == 422
    assert {tuple(e["loc"]): e["type"] for e in response.json()["errors"]} == {
        ("body", "name"): "string_too_short",
        ("body", "channel"): "enum",
        ("body", "colour"): "extra_forbidden",
    }
    assert await count_rows(db, Community) == 0


async def test_the_list_shows_member_counts_newest_first(
    client: AsyncClient, factory: Factory
) -> None:
    shop = await factory.shop()
    fruit = await _create(client, shop, "Fruit", external_id="-1")
    await asyncio.sleep(0.003)  # ids are UUIDv7 with millisecond resolution
    tea = await _create(client, shop, "Tea", external_id="-2")
    await asyncio.sleep(0.003)
    empty = await _create(client, shop, "Empty", external_id="-3")
    a, b, c = [await _member(factory, shop, name) for name in "ABC"]
    for member_id in (a, b, c):
        assert (await _join(client, shop, fruit["id"], member_id)).status_code == 200
    assert (await _join(client, shop, tea["id"], a)).status_code == 200

    response = await client.get(API, headers=shop.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["next_cursor"] is None
    assert [(c["name"], c["member_count"]) for c in body["items"]] == [
        ("Empty", 0),
        ("Tea", 1),
        ("Fruit", 3),
    ]
    assert body["items"][0] == empty

    first = await client.get(API, params={"limit": 2}, headers=shop.headers)
    assert [c["name"] for c in first.json()["items"]] == ["Empty", "Tea"]
    rest = await client.get(
        API, params={"limit": 2, "cursor": first.json()["next_cursor"]}, headers=shop.headers
    )
    assert [(c["name"], c["member_count"]) for c in rest.json()["items"]] == [("Fruit", 3)]
    assert rest.json()["next_cursor"] is None

    other = await factory.shop()
    assert (await client.get(API, headers=other.headers)).json()["items"] == []


async def test_get_an_unknown_or_foreign_community_is_404(
    client: AsyncClient, factory: Factory
) -> None:
    shop, other = await factory.shop(), await factory.shop()
    theirs = await _create(client, other, "Theirs", external_id="-9")
    missing = uuid.uuid4()
    response = await client.get(f"{API}/{missing}", headers=shop.headers)
    assert response.status_code == 404
    assert response.json()["detail"] == f"no community with id {missing} at this merchant"
    assert (await client.get(f"{API}/{theirs['id']}", headers=shop.headers)).status_code == 404


async def test_adding_a_member_twice_keeps_them_in_once(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    group = await _create(client, shop, "Fruit", external_id="-1")
    member_id = await _member(factory, shop, "Lin")
    for _ in range(2):
        response = await _join(client, shop, group["id"], member_id)
        assert response.status_code == 200
        assert response.json() == {**group, "member_count": 1}
    assert (await _get(client, shop, group["id"]))["member_count"] == 1
    assert await count_rows(db, CommunityMember) == 1
    member = await client.get(f"/api/v1/members/{member_id}", headers=shop.headers)
    assert member.json()["community_ids"] == [group["id"]]


async def test_removing_a_member(client: AsyncClient, factory: Factory, db: Database) -> None:
    shop = await factory.shop()
    group = await _create(client, shop, "Fruit", external_id="-1")
    stays, leaves = await _member(factory, shop, "Stays"), await _member(factory, shop, "Leaves")
    await _join(client, shop, group["id"], stays)
    await _join(client, shop, group["id"], leaves)

    response = await client.delete(f"{API}/{group['id']}/members/{leaves}", headers=shop.headers)
    assert response.status_code == 204
    assert (await _get(client, shop, group["id"]))["member_count"] == 1
    assert await _member_ids(client, shop, group["id"]) == {stays}
    left = await client.get(f"/api/v1/members/{leaves}", headers=shop.headers)
    assert left.json()["community_ids"] == []

    again = await client.delete(f"{API}/{group['id']}/members/{leaves}", headers=shop.headers)
    assert again.status_code == 404
    assert again.json()["detail"] == f"member {leaves} is not in community {group['id']}"
    # The one who left keeps their membership, marked left: their activity stays theirs.
    assert await count_rows(db, CommunityMember) == 2
    assert await count_rows(db, CommunityMember, CommunityMember.left_at.is_(None)) == 1
    assert (await _get(client, shop, group["id"]))["member_count"] == 1


async def test_an_unknown_member_or_community_is_404_and_changes_nothing(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop, other = await factory.shop(), await factory.shop()
    group = await _create(client, shop, "Fruit", external_id="-1")
    member_id = await _member(factory, shop, "Lin")
    foreign = await _member(factory, other, "Not yours")
    missing = str(uuid.uuid4())

    unknown = await _join(client, shop, group["id"], missing)
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == f"no member with id {missing} at this merchant"
    assert (await _join(client, shop, group["id"], foreign)).status_code == 404
    no_group = await _join(client, shop, missing, member_id)
    assert no_group.status_code == 404
    assert no_group.json()["detail"] == f"no community with id {missing} at this merchant"
    gone = await client.delete(f"{API}/{missing}/members/{member_id}", headers=shop.headers)
    assert gone.status_code == 404

    assert (await _get(client, shop, group["id"]))["member_count"] == 0
    assert await count_rows(db, CommunityMember) == 0


async def test_members_are_filtered_by_community(client: AsyncClient, factory: Factory) -> None:
    shop = await factory.shop()
    fruit = await _create(client, shop, "Fruit", external_id="-1")
    tea = await _create(client, shop, "Tea", external_id="-2")
    a, b, c = [await _member(factory, shop, name) for name in "ABC"]
    await _join(client, shop, fruit["id"], a)
    await _join(client, shop, fruit["id"], b)
    await _join(client, shop, tea["id"], b)

    assert await _member_ids(client, shop, fruit["id"]) == {a, b}
    assert await _member_ids(client, shop, tea["id"]) == {b}
    everyone = await client.get("/api/v1/members", headers=shop.headers)
    assert {m["id"] for m in everyone.json()["items"]} == {a, b, c}
    bad = await client.get(
        "/api/v1/members", params={"community_id": "not-a-uuid"}, headers=shop.headers
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["loc"] == ["query", "community_id"]


async def test_an_erased_member_no_longer_counts_in_the_community(
    client: AsyncClient, factory: Factory
) -> None:
    """The count and the member list of a community agree after a member is erased."""
    shop = await factory.shop()
    group = await _create(client, shop, "Fruit", external_id="-1")
    stays, erased = await _member(factory, shop, "Stays"), await _member(factory, shop, "Erased")
    await _join(client, shop, group["id"], stays)
    await _join(client, shop, group["id"], erased)
    response = await client.delete(f"/api/v1/members/{erased}", headers=shop.headers)
    assert response.status_code == 204
    assert await _member_ids(client, shop, group["id"]) == {stays}
    assert (await _get(client, shop, group["id"]))["member_count"] == 1


async def test_an_analyst_reads_communities_but_cannot_change_them(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    group = await _create(client, shop, "Fruit", external_id="-1")
    member_id = await _member(factory, shop, "Lin")
    analyst = bearer(await factory.staff_token(shop, Role.ANALYST))
    assert (await client.get(f"{API}/{group['id']}", headers=analyst)).status_code == 200
    denied = await client.post(API, json={"name": "Mine", "channel": "telegram"}, headers=analyst)
    assert denied.status_code == 403
    join = await client.post(
        f"{API}/{group['id']}/members", json={"member_id": member_id}, headers=analyst
    )
    assert join.status_code == 403
    assert await count_rows(db, Community) == 1
    assert await count_rows(db, CommunityMember) == 0
