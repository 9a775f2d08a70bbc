"""Who is in a group: joins and leaves as the robot reports them, the live member count (exact
under concurrency), the members page, and what erasure and merges do to memberships."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select, update

from tests.concurrency import fire
from tests.factories import Factory, Shop, count_rows
from tribekit.communities import service
from tribekit.communities.schemas import CommunityCreate
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.kit.errors import NotFound
from tribekit.models import Community, CommunityMember
from tribekit.models.enums import Channel

API = "/api/v1/communities"


async def _community(db: Database, shop: Shop, name: str = "Fruit") -> uuid.UUID:
    async with db.unit_of_work() as session:
        view = await service.create_community(
            session, shop.tenant, CommunityCreate(name=name, channel=Channel.WEB)
        )
        return view.community.id


async def _members(factory: Factory, shop: Shop, n: int) -> list[uuid.UUID]:
    return [(await factory.member(shop, display_name=f"M{i}")).member.id for i in range(n)]


async def _count(db: Database, community_id: uuid.UUID) -> int:
    async with db.unit_of_work() as session:
        found = await session.get(Community, community_id)
        assert found is not None
        return found.member_count


async def _present(db: Database, community_id: uuid.UUID) -> int:
    return await count_rows(
        db,
        CommunityMember,
        CommunityMember.community_id == community_id,
        CommunityMember.left_at.is_(None),
    )


async def _join(
    db: Database, shop: Shop, group: uuid.UUID, member: uuid.UUID, source: str = "link", **kw: Any
) -> bool:
    async def work(session: Any) -> bool:
        return await service.member_joined(session, shop.tenant, group, member, source=source, **kw)

    return await db.run(work)


async def _leave(db: Database, shop: Shop, group: uuid.UUID, member: uuid.UUID, **kw: Any) -> bool:
    async def work(session: Any) -> bool:
        return await service.member_left(session, shop.tenant, group, member, **kw)

    return await db.run(work)


async def test_a_second_join_or_a_leave_of_someone_absent_changes_nothing(
    factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    group = await _community(db, shop)
    (lin,) = await _members(factory, shop, 1)
    start = clock.now().replace(microsecond=0)

    assert await _leave(db, shop, group, lin) is False
    assert await count_rows(db, CommunityMember) == 0
    assert await _join(db, shop, group, lin, source="qr", at=start) is True
    assert await _join(db, shop, group, lin, source="other", at=start + timedelta(1)) is False
    assert await _count(db, group) == 1
    async with db.unit_of_work() as session:
        row = await session.get(CommunityMember, (group, lin))
        assert row is not None
        assert (row.joined_at, row.join_source, row.left_at) == (start, "qr", None)

    left_at = start + timedelta(hours=2)
    assert await _leave(db, shop, group, lin, at=left_at) is True
    assert await _leave(db, shop, group, lin, at=left_at + timedelta(1)) is False
    assert await _count(db, group) == 0
    async with db.unit_of_work() as session:
        row = await session.get(CommunityMember, (group, lin))
        assert row is not None
        assert row.left_at == left_at
        row.messages, row.last_active_at = 7, start + timedelta(hours=1)

    # Coming back: this stay's join time and source; the activity is kept.
    back = start + timedelta(days=3)
    assert await _join(db, shop, group, lin, source="invite", at=back) is True
    assert await _count(db, group) == 1
    async with db.unit_of_work() as session:
        row = await session.get(CommunityMember, (group, lin))
        assert row is not None
        assert (row.joined_at, row.join_source, row.left_at) == (back, "invite", None)
        assert (row.messages, row.last_active_at) == (7, start + timedelta(hours=1))


async def test_joins_of_another_merchants_member_or_group_are_404_and_change_nothing(
    factory: Factory, db: Database
) -> None:
    shop, other = await factory.shop(), await factory.shop()
    group, theirs = await _community(db, shop), await _community(db, other)
    (mine,) = await _members(factory, shop, 1)
    (foreign,) = await _members(factory, other, 1)
    for community_id, member_id in ((group, foreign), (theirs, mine)):
        with pytest.raises(NotFound):
            await _join(db, shop, community_id, member_id)
    with pytest.raises(NotFound):
        await _leave(db, shop, theirs, mine)
    # Another merchant's member is never in this merchant's group: leaving changes nothing.
    assert await _leave(db, shop, group, foreign) is False
    assert await count_rows(db, CommunityMember) == 0
    assert (await _count(db, group), await _count(db, theirs)) == (0, 0)


async def test_concurrent_joins_and_leaves_keep_the_count_exact(
    factory: Factory, db: Database
) -> None:
    """From a barrier: each of six members joins three times and leaves twice, all at once,
    in two groups; the counts end equal to the members present, and never went negative."""
    shop = await factory.shop()
    fruit, tea = await _community(db, shop, "Fruit"), await _community(db, shop, "Tea")
    members = await _members(factory, shop, 6)
    # Two of them are in Fruit already: their leaves can win before any join.
    for member in members[:2]:
        await _join(db, shop, fruit, member)
    calls = [
        (group, member, kind)
        for member in members
        for group in (fruit, tea)
        for kind in ("join", "join", "leave", "join", "leave")
    ]

    async def one(i: int) -> bool:
        group, member, kind = calls[i]
        if kind == "join":
            return await _join(db, shop, group, member)
        return await _leave(db, shop, group, member)

    results = await fire(len(calls), one)
    for group, already in ((fruit, 2), (tea, 0)):
        present = await _present(db, group)
        assert await _count(db, group) == present
        # Each call that changed something moved the count by exactly one.
        changed = [kind for (g, _, kind), r in zip(calls, results, strict=True) if g == group and r]
        assert already + changed.count("join") - changed.count("leave") == present
    # One membership row per member and group, however many joins raced for it.
    assert await count_rows(db, CommunityMember) == 12


async def test_erasing_or_merging_members_keeps_counts_exact(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    fruit, tea = await _community(db, shop, "Fruit"), await _community(db, shop, "Tea")
    erased, source, target, left = await _members(factory, shop, 4)
    for group, member in (
        (fruit, erased),
        (tea, erased),
        (fruit, source),
        (tea, source),
        (fruit, target),
        (tea, left),
    ):
        await _join(db, shop, group, member)
    await _leave(db, shop, tea, left)
    await _leave(db, shop, tea, erased)
    assert (await _count(db, fruit), await _count(db, tea)) == (3, 1)

    response = await client.delete(f"/api/v1/members/{erased}", headers=shop.headers)
    assert response.status_code == 204
    assert (await _count(db, fruit), await _count(db, tea)) == (2, 1)
    assert await count_rows(db, CommunityMember, CommunityMember.member_id == erased) == 0

    async with db.unit_of_work() as session:
        await session.execute(
            update(CommunityMember)
            .where(CommunityMember.member_id == source, CommunityMember.community_id == fruit)
            .values(messages=3)
        )
        await session.execute(
            update(CommunityMember)
            .where(CommunityMember.member_id == target, CommunityMember.community_id == fruit)
            .values(messages=4)
        )
    merged = await client.post(
        f"/api/v1/members/{target}/merge",
        json={"source_member_id": str(source)},
        headers=shop.headers,
    )
    assert merged.status_code == 200, merged.text
    # Fruit: both were in it, one person now. Tea: the source's membership moved over.
    assert (await _count(db, fruit), await _count(db, tea)) == (1, 1)
    assert set(merged.json()["community_ids"]) == {str(fruit), str(tea)}
    async with db.unit_of_work() as session:
        rows = (
            await session.execute(
                select(
                    CommunityMember.community_id,
                    CommunityMember.member_id,
                    CommunityMember.messages,
                    CommunityMember.left_at.is_(None),
                )
            )
        ).all()
    assert sorted((str(c), str(m), n, here) for c, m, n, here in rows) == sorted(
        [
            (str(fruit), str(target), 7, True),
            (str(tea), str(target), 0, True),
            (str(tea), str(left), 0, False),
        ]
    )
    for group in (fruit, tea):
        assert await _count(db, group) == await _present(db, group)


async def test_the_members_page(client: AsyncClient, factory: Factory, db: Database) -> None:
    shop = await factory.shop()
    group = await _community(db, shop)
    a, b, c = await _members(factory, shop, 3)
    start = clock.now().replace(microsecond=0)
    for i, member in enumerate((a, b, c)):
        await _join(db, shop, group, member, source=f"s{i}", at=start + timedelta(minutes=i))
    await _leave(db, shop, group, b, at=start + timedelta(hours=1))
    async with db.unit_of_work() as session:
        row = await session.get(CommunityMember, (group, c))
        assert row is not None
        row.messages, row.last_active_at = 12, start + timedelta(hours=2)

    def iso(at: Any) -> str:
        return str(at.isoformat().replace("+00:00", "Z"))

    response = await client.get(f"{API}/{group}/members", headers=shop.headers)
    assert response.status_code == 200
    assert response.json() == {
        "items": [
            {
                "member_id": str(c),
                "display_name": "M2",
                "joined_at": iso(start + timedelta(minutes=2)),
                "left_at": None,
                "join_source": "s2",
                "last_active_at": iso(start + timedelta(hours=2)),
                "messages": 12,
            },
            {
                "member_id": str(a),
                "display_name": "M0",
                "joined_at": iso(start),
                "left_at": None,
                "join_source": "s0",
                "last_active_at": None,
                "messages": 0,
            },
        ],
        "next_cursor": None,
    }
    first = await client.get(
        f"{API}/{group}/members", params={"include_left": "true", "limit": 2}, headers=shop.headers
    )
    assert [m["member_id"] for m in first.json()["items"]] == [str(c), str(b)]
    assert first.json()["items"][1]["left_at"] == iso(start + timedelta(hours=1))
    rest = await client.get(
        f"{API}/{group}/members",
        params={"include_left": "true", "limit": 2, "cursor": first.json()["next_cursor"]},
        headers=shop.headers,
    )
    assert [m["member_id"] for m in rest.json()["items"]] == [str(a)]
    assert rest.json()["next_cursor"] is None
    missing = uuid.uuid4()
    gone = await client.get(f"{API}/{missing}/members", headers=shop.headers)
    assert gone.status_code == 404
    assert gone.json()["detail"] == f"no community with id {missing} at this merchant"
