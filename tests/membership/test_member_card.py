"""A member reads their own card under /api/v1/me: profile, level and the next one, points,
benefits, plans."""

from __future__ import annotations

import uuid
from datetime import date

from httpx import AsyncClient

from tests.factories import Factory, Shop, bearer
from tests.members.test_query_budget import counted
from tests.membership.ladder import scenario_7
from tests.orders.store import key
from tribekit.kit.db import Database
from tribekit.membership import service as membership
from tribekit.membership.ledger import Source


async def _me(client: AsyncClient, shop: Shop, member_id: uuid.UUID) -> dict[str, str]:
    link = await client.post(f"/api/v1/members/{member_id}/access-links", headers=shop.headers)
    assert link.status_code == 201, link.text
    return bearer(link.json()["token"])


async def _earn(db: Database, shop: Shop, member_id: uuid.UUID, points: int) -> None:
    async with db.unit_of_work() as session:
        await membership.earn_points(
            session, shop.tenant, member_id, points, source=Source.MANUAL, key=key()
        )


async def test_the_card_shows_the_level_and_how_far_the_next_one_is(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    ladder = await scenario_7(db, shop)
    member = (await factory.member(shop, display_name="Mei", email="mei@example.org")).member
    await _earn(db, shop, member.id, 400)
    me = await _me(client, shop, member.id)

    response = await client.get("/api/v1/me", headers=me)
    assert response.status_code == 200, response.text
    card = response.json()
    assert card["member_id"] == str(member.id)
    assert card["currency"] == "CNY"
    assert {k: card["profile"][k] for k in ("display_name", "email", "birthday")} == {
        "display_name": "Mei",
        "email": "mei@example.org",
        "birthday": None,
    }
    level = card["level"]
    assert level["level"] == {"id": str(ladder.member.id), "name": "Member", "rank": 0}
    assert level["why"] == "the base level: every member starts here"
    assert level["next"] == {
        "level": {"id": str(ladder.silver.id), "name": "Silver", "rank": 1},
        "rule": "400 points earned in the last 12 months (needs 1,000)",
        "progress_bps": 4000,
        "steps": [
            {
                "metric": "points_earned",
                "window": "in the last 12 months",
                "have": 400,
                "need": 1000,
                "remaining": 600,
                "met": False,
                "progress_bps": 4000,
                "text": "400 points earned in the last 12 months (needs 1,000)",
            }
        ],
    }
    assert card["points"]["balance"] == 400
    assert [e["points"] for e in card["points"]["expiring"]] == [400]
    assert card["plans"] == []
    benefits = {b["benefit"]: b["applies"] for b in card["benefits"]}
    assert benefits == {
        "discount": False,
        "points_multiplier": False,
        "level_prices": False,
        "level_only_access": False,
        "free_shipping": False,
        "birthday_gift": False,
        "event_discount": False,
    }

    await _earn(db, shop, member.id, 700)
    card = (await client.get("/api/v1/me", headers=me)).json()
    assert card["level"]["level"]["name"] == "Silver"
    assert card["level"]["next"]["level"]["name"] == "Gold"
    assert card["level"]["next"]["progress_bps"] == 2200  # 1,100 of 5,000
    assert card["level"]["next"]["steps"][0]["remaining"] == 3900
    benefits = {b["benefit"]: b for b in card["benefits"]}
    assert benefits["discount"]["applies"] is True
    assert benefits["discount"]["value"] == 500


async def test_my_points_are_paged_newest_first(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    await scenario_7(db, shop)
    member = (await factory.member(shop)).member
    other = (await factory.member(shop, display_name="Other")).member
    for points in (10, 20, 30):
        await _earn(db, shop, member.id, points)
    await _earn(db, shop, other.id, 99)
    me = await _me(client, shop, member.id)

    first = (await client.get("/api/v1/me/points", params={"limit": 2}, headers=me)).json()
    assert first["balance"] == 60
    assert [e["points"] for e in first["items"]] == [30, 20]
    assert first["next_cursor"] is not None
    rest = (
        await client.get(
            "/api/v1/me/points", params={"limit": 2, "cursor": first["next_cursor"]}, headers=me
        )
    ).json()
    assert [e["points"] for e in rest["items"]] == [10]
    assert rest["next_cursor"] is None
    assert {e["member_id"] for e in first["items"] + rest["items"]} == {str(member.id)}

    staff = await client.get("/api/v1/me", headers=shop.headers)
    assert staff.status_code == 401
    member_on_staff_route = await client.get("/api/v1/members", headers=me)
    assert member_on_staff_route.status_code == 401
    assert member_on_staff_route.json()["detail"] == (
        "this is a member token (a member link or session), which opens the member's own pages "
        "under /api/v1/me only; staff routes need a staff API token "
        "'Authorization: Bearer tkt_...'"
    )
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_the_birthday_gift_does_not_apply_without_a_birthday(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    ladder = await scenario_7(db, shop)
    changed = await client.patch(
        f"/api/v1/membership/levels/{ladder.member.id}",
        json={"birthday_points": 88},
        headers=shop.headers,
    )
    assert changed.status_code == 200, changed.text
    unknown = (await factory.member(shop)).member
    known = (await factory.member(shop, birthday=date(1990, 3, 2))).member

    async def gift(member_id: uuid.UUID) -> dict[str, object]:
        response = await client.get(f"/api/v1/members/{member_id}/benefits", headers=shop.headers)
        assert response.status_code == 200, response.text
        found: dict[str, object] = next(
            b for b in response.json()["benefits"] if b["benefit"] == "birthday_gift"
        )
        return found

    assert await gift(unknown.id) == {
        "benefit": "birthday_gift",
        "applies": False,
        "value": "88 points",
        "why": "88 points on a birthday at Member, but the member's birthday is not known; "
        "add it to receive the gift",
    }
    assert await gift(known.id) == {
        "benefit": "birthday_gift",
        "applies": True,
        "value": "88 points",
        "why": "88 points on the member's birthday: Member level "
        "(the base level: every member starts here)",
    }


async def test_the_card_costs_the_same_statements_however_long_the_history(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    await scenario_7(db, shop)
    short = (await factory.member(shop)).member
    long = (await factory.member(shop)).member
    await _earn(db, shop, short.id, 10)
    for _ in range(30):
        await _earn(db, shop, long.id, 10)
    me_short, me_long = await _me(client, shop, short.id), await _me(client, shop, long.id)
    with counted(db) as few:
        assert (await client.get("/api/v1/me", headers=me_short)).status_code == 200
    with counted(db) as many:
        assert (await client.get("/api/v1/me", headers=me_long)).status_code == 200
    assert len(many) == len(few)
    assert len(many) <= CARD_BUDGET, many


# The member token check (merchant, member) + the profile + points (member, account, expiries)
# + the level, read once (member, ladder and the names of the plans its rules name, account,
# facts) and shared by the benefits (level prices, settings, birthday) and the next level's
# progress + plans held + plans on sale: 19 on both databases.
CARD_BUDGET = 19
