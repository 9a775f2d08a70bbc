"""Staff and roles: who may give which role; a merchant always keeps an owner."""

from __future__ import annotations

from httpx import AsyncClient
from sqlalchemy import select

from tests.concurrency import fire
from tests.factories import Factory, bearer
from tribekit.kit.db import Database
from tribekit.models import StaffRole
from tribekit.models.enums import Role


async def _roles(db: Database, shop_id: object) -> list[str]:
    async with db.unit_of_work() as session:
        rows = await session.scalars(select(StaffRole.role).where(StaffRole.merchant_id == shop_id))
        return sorted(rows.all())


async def test_owner_adds_lists_changes_and_removes_staff(
    client: AsyncClient, factory: Factory
) -> None:
    shop = await factory.shop()
    invited = await client.post(
        "/api/v1/staff/invitations",
        json={"email": "Op@Shop.example", "role": "operator"},
        headers=shop.headers,
    )
    assert invited.status_code == 201
    added = await client.post(
        "/api/v1/staff/invitations/accept",
        json={"token": invited.json()["token"], "name": "Op", "password": "a long password"},
    )
    assert added.status_code == 200
    user_id = added.json()["staff"]["user_id"]
    listed = (await client.get("/api/v1/staff", headers=shop.headers)).json()
    assert [(s["email"], s["role"]) for s in listed] == [
        (shop.owner_email, "owner"),
        ("op@shop.example", "operator"),
    ]
    changed = await client.patch(
        f"/api/v1/staff/{user_id}", json={"role": "admin"}, headers=shop.headers
    )
    assert changed.json()["role"] == "admin"
    assert (
        await client.delete(f"/api/v1/staff/{user_id}", headers=shop.headers)
    ).status_code == 204
    assert len((await client.get("/api/v1/staff", headers=shop.headers)).json()) == 1


async def test_inviting_the_same_person_twice_is_409(client: AsyncClient, factory: Factory) -> None:
    shop = await factory.shop()
    body = {"email": "twice@shop.example", "role": "analyst"}
    invited = await client.post("/api/v1/staff/invitations", json=body, headers=shop.headers)
    assert invited.status_code == 201
    accept = {"token": invited.json()["token"], "name": "T", "password": "a long password"}
    assert (await client.post("/api/v1/staff/invitations/accept", json=accept)).status_code == 200
    again = await client.post("/api/v1/staff/invitations", json=body, headers=shop.headers)
    assert again.status_code == 409


async def test_admin_cannot_make_owners_or_touch_them(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    admin = await factory.staff_token(shop, Role.ADMIN)
    before = await _roles(db, shop.tenant.id)
    make_owner = await client.post(
        "/api/v1/staff/invitations",
        json={"email": "o2@shop.example", "role": "owner"},
        headers=bearer(admin),
    )
    assert make_owner.status_code == 403
    owner_id = (await client.get("/api/v1/auth/me", headers=shop.headers)).json()["user_id"]
    demote = await client.patch(
        f"/api/v1/staff/{owner_id}", json={"role": "analyst"}, headers=bearer(admin)
    )
    assert demote.status_code == 403
    assert await _roles(db, shop.tenant.id) == before


async def test_the_last_owner_cannot_leave(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    owner_id = (await client.get("/api/v1/auth/me", headers=shop.headers)).json()["user_id"]
    demote = await client.patch(
        f"/api/v1/staff/{owner_id}", json={"role": "admin"}, headers=shop.headers
    )
    assert demote.status_code == 409
    remove = await client.delete(f"/api/v1/staff/{owner_id}", headers=shop.headers)
    assert remove.status_code == 409
    assert await _roles(db, shop.tenant.id) == ["owner"]


async def test_two_owners_demoting_each_other_at_once_leave_one_owner(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    second = await factory.staff_token(shop, Role.OWNER)
    tokens = [shop.owner_token, second]
    ids = [
        (await client.get("/api/v1/auth/me", headers=bearer(t))).json()["user_id"] for t in tokens
    ]

    async def demote_the_other(i: int) -> int:
        other = ids[1 - i]
        response = await client.patch(
            f"/api/v1/staff/{other}", json={"role": "admin"}, headers=bearer(tokens[i])
        )
        return response.status_code

    statuses = sorted(await fire(2, demote_the_other))
    # The loser is refused either by the owner rule (409) or, when it authenticated after the
    # winner committed, because it is no longer an owner itself (403). Never both succeed.
    assert statuses in ([200, 403], [200, 409])
    assert await _roles(db, shop.tenant.id) == ["admin", "owner"]
