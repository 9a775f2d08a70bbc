"""Staff invitations: a person joins a merchant only by accepting one. Inviting attaches nobody
and answers alike whether or not the email has a login; accepting needs the secret, and for an
existing login, proof that it is theirs."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from httpx import AsyncClient, Response
from sqlalchemy import func, select

from tests.concurrency import fire
from tests.factories import PASSWORD, Factory, Shop, bearer, count_rows
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.kit.errors import Conflict
from tribekit.models import StaffInvitation, StaffRole, StaffUser
from tribekit.models.enums import Role
from tribekit.tenancy import service
from tribekit.tenancy.schemas import StaffCreate

NEW_PASSWORD = "a brand new password"
INVITATIONS = "/api/v1/staff/invitations"
ACCEPT = "/api/v1/staff/invitations/accept"


async def invite(client: AsyncClient, shop: Shop, email: str, role: str = "analyst") -> Response:
    return await client.post(INVITATIONS, json={"email": email, "role": role}, headers=shop.headers)


async def _me(client: AsyncClient, token: str) -> dict[str, Any]:
    me: dict[str, Any] = (await client.get("/api/v1/auth/me", headers=bearer(token))).json()
    return me


async def _people(db: Database) -> dict[str, Any]:
    """Every login and every role, with password hashes: what a denied call must not change."""
    async with db.unit_of_work() as session:
        users = (
            await session.execute(
                select(StaffUser.email, StaffUser.name, StaffUser.password_hash).order_by(
                    StaffUser.email
                )
            )
        ).all()
        roles = (
            await session.execute(
                select(StaffRole.merchant_id, StaffRole.user_id, StaffRole.role).order_by(
                    StaffRole.id
                )
            )
        ).all()
    return {"users": [tuple(u) for u in users], "roles": [tuple(r) for r in roles]}


async def _invitation_row(db: Database, invitation_id: str) -> tuple[Any, ...]:
    async with db.unit_of_work() as session:
        row = await session.get(StaffInvitation, uuid.UUID(invitation_id))
        assert row is not None
        return (row.accepted_at, row.accepted_by, row.revoked_at)


async def _login(client: AsyncClient, email: str, password: str, merchant: str | None) -> Response:
    body: dict[str, Any] = {"email": email, "password": password}
    if merchant is not None:
        body["merchant"] = merchant
    client.cookies.clear()
    response = await client.post("/api/v1/auth/login", json=body)
    client.cookies.clear()
    return response


# -- the cross-tenant takeover is gone -----------------------------------------------------------


async def test_b_cannot_attach_a_analyst(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    a, b = await factory.shop("shop-a"), await factory.shop("shop-b")
    analyst_token = await factory.staff_token(a, Role.ANALYST)
    analyst = await _me(client, analyst_token)
    before = await _people(db)

    invited = await invite(client, b, analyst["email"], "leader")
    assert invited.status_code == 201
    assert analyst["user_id"] not in invited.text
    assert "analyst " not in invited.text  # the factory names the user "analyst <n>"
    assert await _people(db) == before  # nobody was attached to anything

    token = invited.json()["token"]
    for attempt in (
        {"token": token},
        {"token": token, "password": "a guessed password"},
        {"token": token, "name": "Mallory", "password": "mallory's password"},
    ):
        refused = await client.post(ACCEPT, json=attempt)
        assert refused.status_code == 401, refused.text
        assert refused.json()["code"] == "unauthenticated"
    assert await _people(db) == before
    assert await _invitation_row(db, invited.json()["id"]) == (None, None, None)
    # With B's owner's own credential it is not theirs to accept either.
    as_b = await client.post(ACCEPT, json={"token": token}, headers=b.headers)
    assert as_b.status_code == 403
    assert await _people(db) == before

    # A's analyst still signs in to A without naming it, and their token still works at A.
    login = await _login(client, analyst["email"], PASSWORD, None)
    assert login.status_code == 200
    assert (login.json()["merchant"]["slug"], login.json()["role"]) == ("shop-a", "analyst")
    assert (await _me(client, analyst_token))["merchant"]["slug"] == "shop-a"


async def test_answers_for_known_and_unknown_emails_are_identical(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    a, b = await factory.shop("shop-a"), await factory.shop("shop-b")
    known = (await _me(client, await factory.staff_token(a, Role.ANALYST)))["email"]
    before = await _people(db)
    answers = [await invite(client, b, email) for email in (known, "stranger@else.example")]
    assert [r.status_code for r in answers] == [201, 201]
    own = {"id", "email", "prefix", "token", "created_at", "expires_at"}  # the invitation's own
    bodies = [{k: v for k, v in r.json().items() if k not in own} for r in answers]
    assert bodies[0] == bodies[1]
    assert bodies[0] == {
        "role": "analyst",
        "invited_by": (await _me(client, b.owner_token))["user_id"],
        "status": "pending",
        "accepted_at": None,
        "revoked_at": None,
    }
    assert set(answers[0].json()) == set(answers[1].json())
    varying = {"content-length", "x-request-id", "date"}
    headers = [{k: v for k, v in r.headers.items() if k not in varying} for r in answers]
    assert headers[0] == headers[1]
    assert await _people(db) == before


# -- accepting -----------------------------------------------------------------------------------


async def test_a_new_person_sets_name_and_password(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop("shop-a")
    invited = (await invite(client, shop, "New.Person@Shop.example", "operator")).json()
    assert invited["email"] == "new.person@shop.example"
    assert invited["token"].startswith(f"tki_{invited['prefix']}_")
    missing = await client.post(ACCEPT, json={"token": invited["token"]})
    assert missing.status_code == 422
    assert [e["loc"] for e in missing.json()["errors"]] == [["body", "name"], ["body", "password"]]
    short = await client.post(
        ACCEPT, json={"token": invited["token"], "name": "New", "password": "short"}
    )
    assert short.status_code == 422
    assert await count_rows(db, StaffUser) == 1  # the owner only

    joined = await client.post(
        ACCEPT, json={"token": invited["token"], "name": "New Person", "password": NEW_PASSWORD}
    )
    assert joined.status_code == 200, joined.text
    body = joined.json()
    assert body["merchant"]["slug"] == "shop-a"
    assert (body["staff"]["email"], body["staff"]["name"], body["staff"]["role"]) == (
        "new.person@shop.example",
        "New Person",
        "operator",
    )
    login = await _login(client, "new.person@shop.example", NEW_PASSWORD, None)
    assert (login.status_code, login.json()["role"]) == (200, "operator")
    listed = (await client.get(INVITATIONS, headers=shop.headers)).json()["items"]
    assert [(i["status"], i["accepted_at"] is not None) for i in listed] == [("accepted", True)]
    assert all("token" not in i for i in listed)


async def test_an_existing_person_proves_it_is_them(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    a, b = await factory.shop("shop-a"), await factory.shop("shop-b")
    analyst_token = await factory.staff_token(a, Role.ANALYST)
    analyst = await _me(client, analyst_token)
    by_password = (await invite(client, b, analyst["email"], "leader")).json()
    joined = await client.post(ACCEPT, json={"token": by_password["token"], "password": PASSWORD})
    assert joined.status_code == 200, joined.text
    assert joined.json()["staff"]["user_id"] == analyst["user_id"]
    assert joined.json()["staff"]["name"].startswith("analyst ")  # their own name is kept

    ambiguous = await _login(client, analyst["email"], PASSWORD, None)
    assert ambiguous.status_code == 422
    assert ambiguous.json()["merchants"] == ["shop-a", "shop-b"]
    assert ambiguous.json()["errors"][0]["loc"] == ["body", "merchant"]
    assert "shop-a, shop-b" in ambiguous.json()["detail"]
    for slug, role in (("shop-a", "analyst"), ("shop-b", "leader")):
        chosen = await _login(client, analyst["email"], PASSWORD, slug)
        assert chosen.status_code == 200
        assert (chosen.json()["merchant"]["slug"], chosen.json()["role"]) == (slug, role)
    assert (await _me(client, analyst_token))["merchant"]["slug"] == "shop-a"

    # A third merchant's invitation, accepted with the person's own token (no password sent).
    c = await factory.shop("shop-c")
    by_token = (await invite(client, c, analyst["email"], "operator")).json()
    accepted = await client.post(
        ACCEPT, json={"token": by_token["token"]}, headers=bearer(analyst_token)
    )
    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["merchant"]["slug"], accepted.json()["staff"]["role"]) == (
        "shop-c",
        "operator",
    )


async def _refused(
    client: AsyncClient, db: Database, body: dict[str, Any], status: int, code: str
) -> dict[str, Any]:
    before = await _people(db)
    response = await client.post(ACCEPT, json=body)
    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    assert await _people(db) == before
    problem: dict[str, Any] = response.json()
    return problem


async def test_wrong_expired_revoked_and_reused_tokens_change_nothing(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop("shop-a")
    login = {"name": "Someone", "password": NEW_PASSWORD}
    await _refused(client, db, {"token": "tki_deadbeef_nope", **login}, 404, "invitation_not_found")
    await _refused(client, db, {"token": "tkt_deadbeef_nope", **login}, 404, "invitation_not_found")

    expiring = (await invite(client, shop, "late@x.example")).json()
    with clock.frozen_at(clock.now() + timedelta(days=7, seconds=1)):
        late = await _refused(
            client, db, {"token": expiring["token"], **login}, 409, "invitation_closed"
        )
    assert late["state"] == "expired"

    revoked = (await invite(client, shop, "withdrawn@x.example")).json()
    withdrawn = await client.delete(f"{INVITATIONS}/{revoked['id']}", headers=shop.headers)
    assert (withdrawn.status_code, withdrawn.json()["status"]) == (200, "revoked")
    gone = await _refused(
        client, db, {"token": revoked["token"], **login}, 409, "invitation_closed"
    )
    assert gone["state"] == "revoked"

    used = (await invite(client, shop, "once@x.example")).json()
    first = await client.post(ACCEPT, json={"token": used["token"], **login})
    assert first.status_code == 200
    again = await _refused(client, db, {"token": used["token"], **login}, 409, "invitation_closed")
    assert again["state"] == "accepted"
    assert await _invitation_row(db, expiring["id"]) == (None, None, None)


async def test_concurrent_accepts_of_one_invitation_let_exactly_one_in(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop("shop-a")
    invited = (await invite(client, shop, "racer@x.example", "operator")).json()

    async def accept(i: int) -> int:
        body = {"token": invited["token"], "name": f"Racer {i}", "password": f"{NEW_PASSWORD} {i}"}
        return (await client.post(ACCEPT, json=body)).status_code

    statuses = sorted(await fire(4, accept))
    assert statuses == [200, 409, 409, 409]
    assert await count_rows(db, StaffUser, StaffUser.email == "racer@x.example") == 1
    async with db.unit_of_work() as session:
        roles = await session.scalar(
            select(func.count())
            .select_from(StaffRole)
            .where(StaffRole.merchant_id == shop.tenant.id)
        )
    assert roles == 2  # the owner and the one racer who won


# -- inviting, listing, revoking -----------------------------------------------------------------


async def test_a_new_invitation_replaces_the_pending_one(
    client: AsyncClient, factory: Factory
) -> None:
    shop = await factory.shop("shop-a")
    first = (await invite(client, shop, "twice@x.example", "analyst")).json()
    second = (await invite(client, shop, "twice@x.example", "operator")).json()
    listed = (await client.get(INVITATIONS, headers=shop.headers)).json()["items"]
    assert [(i["id"], i["status"], i["role"]) for i in listed] == [
        (second["id"], "pending", "operator"),
        (first["id"], "revoked", "analyst"),
    ]
    stale = await client.post(
        ACCEPT, json={"token": first["token"], "name": "T", "password": NEW_PASSWORD}
    )
    assert stale.status_code == 409


async def test_inviting_someone_already_on_the_staff_is_409(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop("shop-a")
    again = await invite(client, shop, shop.owner_email.upper())
    assert again.status_code == 409
    assert again.json()["detail"] == f"{shop.owner_email} already works for this merchant"
    assert await count_rows(db, StaffInvitation) == 0


async def test_admins_invite_and_withdraw_only_roles_they_may_give(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop("shop-a")
    admin = await factory.staff_token(shop, Role.ADMIN)
    denied = await client.post(
        INVITATIONS, json={"email": "boss@x.example", "role": "owner"}, headers=bearer(admin)
    )
    assert denied.status_code == 403
    owner_invite = (await invite(client, shop, "boss@x.example", "owner")).json()
    withdraw = await client.delete(f"{INVITATIONS}/{owner_invite['id']}", headers=bearer(admin))
    assert withdraw.status_code == 403
    assert await _invitation_row(db, owner_invite["id"]) == (None, None, None)
    mine = await client.post(
        INVITATIONS, json={"email": "op@x.example", "role": "operator"}, headers=bearer(admin)
    )
    assert mine.status_code == 201
    ok = await client.delete(f"{INVITATIONS}/{mine.json()['id']}", headers=bearer(admin))
    assert (ok.status_code, ok.json()["status"]) == (200, "revoked")


async def test_an_accepted_invitation_cannot_be_withdrawn(
    client: AsyncClient, factory: Factory
) -> None:
    shop = await factory.shop("shop-a")
    invited = (await invite(client, shop, "kept@x.example")).json()
    await client.post(
        ACCEPT, json={"token": invited["token"], "name": "K", "password": NEW_PASSWORD}
    )
    refused = await client.delete(f"{INVITATIONS}/{invited['id']}", headers=shop.headers)
    assert refused.status_code == 409
    assert (
        refused.json()["detail"] == "this invitation was accepted; remove the staff member instead"
    )
    staff = (await client.get("/api/v1/staff", headers=shop.headers)).json()
    assert sorted(s["email"] for s in staff) == sorted([shop.owner_email, "kept@x.example"])


@pytest.mark.parametrize("days", [0, 31])
async def test_an_invitation_lives_1_to_30_days(
    client: AsyncClient, factory: Factory, days: int
) -> None:
    shop = await factory.shop("shop-a")
    response = await client.post(
        INVITATIONS,
        json={"email": "x@x.example", "role": "analyst", "expires_in_days": days},
        headers=shop.headers,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "expires_in_days"]


async def test_adding_staff_directly_never_touches_an_existing_login(
    factory: Factory, db: Database
) -> None:
    """The CLI and demo path: a new login with a password, never someone else's."""
    a, b = await factory.shop("shop-a"), await factory.shop("shop-b")
    before = await _people(db)
    data = StaffCreate(email=a.owner_email, name="X", role=Role.LEADER, password=NEW_PASSWORD)
    async with db.unit_of_work() as session:
        owner = await factory.principal(session, b)
        with pytest.raises(Conflict, match="already has a login; invite it instead"):
            await service.add_staff(session, owner, data)
    assert await _people(db) == before


async def test_invitations_sent_at_once_to_one_email_leave_exactly_one_open(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    n = 8 if db.dialect == "postgresql" else 4
    shop = await factory.shop("shop-a")
    answers = await fire(n, lambda i: invite(client, shop, "rush@x.example", "analyst"))
    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {201, 409}
    assert statuses.count(201) >= 1
    for refused in (a for a in answers if a.status_code == 409):
        assert refused.json()["code"] == "conflict"
    async with db.unit_of_work(read_only=True) as session:
        open_ones = await session.scalar(
            select(func.count())
            .select_from(StaffInvitation)
            .where(
                StaffInvitation.email == "rush@x.example",
                StaffInvitation.accepted_at.is_(None),
                StaffInvitation.revoked_at.is_(None),
            )
        )
    assert open_ones == 1
    assert await count_rows(db, StaffInvitation) == statuses.count(201)
