"""Query budgets: listing members costs the same number of statements for 5 or 50 members; one
member costs two statements of its own, whatever hangs off it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from httpx import AsyncClient
from sqlalchemy import event

from tests.factories import Factory, Shop
from tribekit.kit.db import Database
from tribekit.models.enums import Channel

# BEGIN (SQLite) + auth: token, user, merchant, role, last-used update + the page + 4 batched
# relations (tags, addresses, identities, communities).
LIST_BUDGET = 11
# GET /members/{id}, the principal already cached and no write transaction: the member row + one
# UNION ALL for its tags, addresses, identities and communities (it was five ORM queries).
READ_BUDGET = 2


@contextmanager
def counted(db: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


async def _members(factory: Factory, shop: Shop, n: int) -> None:
    for i in range(n):
        await factory.member(
            shop,
            tags=["vip", "office"],
            identities=[{"channel": Channel.TELEGRAM, "external_id": f"{shop.tenant.slug}-{i}"}],
            addresses=[{"recipient": "R", "line1": "1 Road", "city": "Shanghai", "country": "CN"}],
        )


async def test_member_list_costs_the_same_for_any_page_size(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    small, large = await factory.shop(), await factory.shop()
    await _members(factory, small, 5)
    await _members(factory, large, 50)
    with counted(db) as few:
        page = await client.get("/api/v1/members?limit=50", headers=small.headers)
    assert len(page.json()["items"]) == 5
    with counted(db) as many:
        page = await client.get("/api/v1/members?limit=50", headers=large.headers)
    assert len(page.json()["items"]) == 50
    assert len(many) == len(few)
    assert len(many) <= LIST_BUDGET, many


async def test_member_read_is_two_statements_and_shows_what_the_list_shows(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    view = await factory.member(
        shop,
        tags=["vip", "office", "alpha"],
        identities=[
            {"channel": Channel.TELEGRAM, "external_id": "731928374", "username": "lin"},
            {"channel": Channel.MATRIX, "external_id": "@lin:example.org"},
        ],
        addresses=[
            {"recipient": "R", "line1": "1 Road", "city": "Shanghai", "country": "CN"},
            {
                "label": "office",
                "recipient": "Lin Wei",
                "phone": "+8613800138000",
                "line1": "2 Street",
                "line2": "Floor 3",
                "city": "Beijing",
                "region": "BJ",
                "postal_code": "100000",
                "country": "CN",
                "is_default": True,
            },
        ],
    )
    await _members(factory, shop, 2)  # rows of other members stay out of the read
    url = f"/api/v1/members/{view.member.id}"
    assert (await client.get(url, headers=shop.headers)).status_code == 200  # caches the token
    with counted(db) as statements:
        response = await client.get(url, headers=shop.headers)
    assert response.status_code == 200, response.text
    assert len(statements) == READ_BUDGET, statements
    assert statements[0].startswith("SELECT members.id, members.display_name")
    assert "UNION ALL" in statements[1]
    listed = (await client.get("/api/v1/members?limit=50", headers=shop.headers)).json()["items"]
    body = response.json()
    assert body == next(item for item in listed if item["id"] == str(view.member.id))
    assert body["tags"] == ["alpha", "office", "vip"]
    assert [a["id"] for a in body["addresses"]] == sorted(str(a.id) for a in view.addresses)
    assert [i["id"] for i in body["identities"]] == sorted(str(i.id) for i in view.identities)
    assert {(i["channel"], i["external_id"], i["username"]) for i in body["identities"]} == {
        ("telegram", "731928374", "lin"),
        ("matrix", "@lin:example.org", None),
    }


async def test_member_read_of_a_missing_member_is_404_after_one_statement(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    url = "/api/v1/members/00000000-0000-4000-8000-000000000000"
    assert (await client.get(url, headers=shop.headers)).status_code == 404
    with counted(db) as statements:
        response = await client.get(url, headers=shop.headers)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert len(statements) == 1, statements  # the member row only
