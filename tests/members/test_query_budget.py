"""Query budgets: listing members costs the same number of statements for 5 or 50 members."""

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
