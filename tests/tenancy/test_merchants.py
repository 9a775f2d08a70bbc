"""Creating merchants and inviting their owners (platform admins), and reading/changing the
caller's merchant."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from httpx import AsyncClient
from sqlalchemy import func, select

from tests.conftest import serve, test_settings
from tests.factories import PASSWORD, Factory, bearer, count_rows
from tribekit.api.app import create_app
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.models import (
    ApiToken,
    Merchant,
    StaffInvitation,
    StaffRole,
    StaffSession,
    StaffUser,
)

ACCEPT = "/api/v1/staff/invitations/accept"

BODY = {
    "slug": "greenwood",
    "name": "Greenwood Fruit",
    "timezone": "Asia/Shanghai",
    "currency": "cny",
    "country": "cn",
    "locale": "zh-CN",
    "owner": {"email": "Lin@Greenwood.example", "name": "Lin Wei", "password": "a long password"},
}


async def test_platform_admin_creates_a_merchant_and_its_owner(
    client: AsyncClient, factory: Factory
) -> None:
    token = await factory.platform_token()
    response = await client.post("/api/v1/platform/merchants", json=BODY, headers=bearer(token))
    assert response.status_code == 201
    body = response.json()
    assert {
        k: body["merchant"][k] for k in ("slug", "currency", "country", "locale", "timezone")
    } == {
        "slug": "greenwood",
        "currency": "CNY",
        "country": "CN",
        "locale": "zh_Hans_CN",
        "timezone": "Asia/Shanghai",
    }
    assert body["owner"]["email"] == "lin@greenwood.example"
    assert body["owner"]["role"] == "owner"

    login = await client.post(
        "/api/v1/auth/login", json={"email": "lin@greenwood.example", "password": "a long password"}
    )
    assert login.status_code == 200
    assert login.json()["merchant"]["slug"] == "greenwood"


async def test_duplicate_slug_is_409_and_creates_nothing(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    token = await factory.platform_token()
    assert (
        await client.post("/api/v1/platform/merchants", json=BODY, headers=bearer(token))
    ).status_code == 201
    merchants, users = await count_rows(db, Merchant), await count_rows(db, StaffUser)
    other_owner = {**BODY, "owner": {**BODY["owner"], "email": "new@x.example"}}  # type: ignore[dict-item]  # BODY is a loose test dict
    response = await client.post(
        "/api/v1/platform/merchants", json=other_owner, headers=bearer(token)
    )
    assert response.status_code == 409
    assert response.json()["detail"] == "the slug 'greenwood' is taken; choose another"
    assert (await count_rows(db, Merchant), await count_rows(db, StaffUser)) == (merchants, users)


async def test_bad_merchant_fields_are_422_with_each_field(
    client: AsyncClient, factory: Factory
) -> None:
    token = await factory.platform_token()
    bad = {
        **BODY,
        "slug": "No Spaces",
        "currency": "XXQ",
        "timezone": "Mars/Olympus",
        "country": "ZZ",
    }
    response = await client.post("/api/v1/platform/merchants", json=bad, headers=bearer(token))
    assert response.status_code == 422
    fields = {e["loc"][-1] for e in response.json()["errors"]}
    assert fields == {"slug", "currency", "timezone", "country"}


async def test_new_owner_needs_a_password(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    token = await factory.platform_token()
    body = {**BODY, "owner": {"email": "nopw@x.example", "name": "N"}}
    merchants = await count_rows(db, Merchant)
    response = await client.post("/api/v1/platform/merchants", json=body, headers=bearer(token))
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "owner.password"]
    assert await count_rows(db, Merchant) == merchants


async def test_merchant_staff_cannot_create_merchants(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    merchants = await count_rows(db, Merchant)
    response = await client.post("/api/v1/platform/merchants", json=BODY, headers=shop.headers)
    assert response.status_code == 403
    assert await count_rows(db, Merchant) == merchants


async def test_platform_token_is_not_a_merchant_token(
    client: AsyncClient, factory: Factory
) -> None:
    token = await factory.platform_token()
    response = await client.get("/api/v1/members", headers=bearer(token))
    assert response.status_code == 403
    assert "not bound to a merchant" in response.json()["detail"]


async def test_owner_reads_and_changes_the_merchant(client: AsyncClient, factory: Factory) -> None:
    shop = await factory.shop("fruit-shop")
    response = await client.patch(
        "/api/v1/merchant",
        json={"name": "Fruit Shop", "timezone": "Europe/Berlin"},
        headers=shop.headers,
    )
    assert response.status_code == 200
    got = (await client.get("/api/v1/merchant", headers=shop.headers)).json()
    assert (got["name"], got["timezone"], got["currency"]) == ("Fruit Shop", "Europe/Berlin", "CNY")
    nulled = await client.patch("/api/v1/merchant", json={"name": None}, headers=shop.headers)
    assert nulled.status_code == 422
    currency = await client.patch(
        "/api/v1/merchant", json={"currency": "EUR"}, headers=shop.headers
    )
    assert currency.status_code == 422
    assert currency.json()["errors"][0]["type"] == "extra_forbidden"


async def test_merchant_without_timezone_gets_the_server_default(
    db: Database, factory: Factory
) -> None:
    token = await factory.platform_token()
    app = create_app(test_settings(db, default_timezone="Asia/Shanghai"), db=db)
    body = {k: v for k, v in BODY.items() if k != "timezone"}
    async with serve(app) as http:
        response = await http.post("/api/v1/platform/merchants", json=body, headers=bearer(token))
    assert response.status_code == 201
    assert response.json()["merchant"]["timezone"] == "Asia/Shanghai"


async def _login(db: Database, email: str) -> dict[str, Any]:
    """A login, its roles, tokens and sessions: what creating a merchant must not change."""
    async with db.unit_of_work(read_only=True) as session:
        user = await session.scalar(select(StaffUser).where(StaffUser.email == email))
        assert user is not None
        roles = await session.execute(
            select(StaffRole.merchant_id, StaffRole.role)
            .where(StaffRole.user_id == user.id)
            .order_by(StaffRole.id)
        )
        tokens = await session.scalar(
            select(func.count()).select_from(ApiToken).where(ApiToken.user_id == user.id)
        )
        sessions = await session.scalar(
            select(func.count()).select_from(StaffSession).where(StaffSession.user_id == user.id)
        )
    return {
        "user": (user.id, user.name, user.password_hash, user.is_platform_admin, user.is_active),
        "roles": [tuple(r) for r in roles.all()],
        "tokens": tokens,
        "sessions": sessions,
    }


async def test_an_email_with_a_login_is_invited_to_own_the_merchant_not_made_owner(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    token = await factory.platform_token()
    admin = (await client.get("/api/v1/auth/me", headers=bearer(token))).json()["user_id"]
    before = await _login(db, shop.owner_email)
    body = {
        **BODY,
        "owner": {"email": shop.owner_email.upper(), "name": "Impostor", "password": "not theirs!"},
    }
    response = await client.post("/api/v1/platform/merchants", json=body, headers=bearer(token))
    assert response.status_code == 201
    created = response.json()
    assert created["merchant"]["slug"] == "greenwood"
    assert created["owner"] is None
    invitation = created["invitation"]
    assert {k: invitation[k] for k in ("email", "role", "status", "invited_by")} == {
        "email": shop.owner_email,
        "role": "owner",
        "status": "pending",
        "invited_by": admin,
    }
    assert invitation["token"].startswith(f"tki_{invitation['prefix']}_")
    # Until they accept, nothing about the login changed and nobody works for the merchant.
    assert await _login(db, shop.owner_email) == before
    merchant_id = uuid.UUID(created["merchant"]["id"])
    assert await count_rows(db, StaffRole, StaffRole.merchant_id == merchant_id) == 0
    answers = {}
    for password in ("not theirs!", PASSWORD):
        login = await client.post(
            "/api/v1/auth/login",
            json={"email": shop.owner_email, "password": password, "merchant": "greenwood"},
        )
        answers[password] = (login.status_code, login.json()["detail"])
    assert answers == {
        "not theirs!": (401, "wrong email or password"),
        PASSWORD: (422, "merchant: you do not work for a merchant with this slug"),
    }
    assert await _login(db, shop.owner_email) == before

    # The password typed at creation is not theirs: accepting with it fails.
    wrong = await client.post(
        ACCEPT, json={"token": invitation["token"], "password": "not theirs!"}
    )
    assert wrong.status_code == 401
    assert await _login(db, shop.owner_email) == before

    accepted = await client.post(ACCEPT, json={"token": invitation["token"], "password": PASSWORD})
    assert accepted.status_code == 200
    assert (accepted.json()["merchant"]["slug"], accepted.json()["staff"]["role"]) == (
        "greenwood",
        "owner",
    )
    after = await _login(db, shop.owner_email)
    assert after["user"] == before["user"]  # name and password still theirs
    assert after["roles"] == [*before["roles"], (merchant_id, "owner")]
    login = await client.post(
        "/api/v1/auth/login",
        json={"email": shop.owner_email, "password": PASSWORD, "merchant": "greenwood"},
    )
    assert login.status_code == 200
    assert (login.json()["merchant"]["slug"], login.json()["role"]) == ("greenwood", "owner")


async def test_a_new_email_gets_a_new_owner_and_no_invitation(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    token = await factory.platform_token()
    response = await client.post("/api/v1/platform/merchants", json=BODY, headers=bearer(token))
    assert response.status_code == 201
    assert response.json()["invitation"] is None
    assert response.json()["owner"]["name"] == "Lin Wei"
    assert await count_rows(db, StaffInvitation) == 0


async def test_staff_are_refused_alike_whether_or_not_the_owner_email_has_a_login(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    """A merchant's owner learns nothing about other merchants' staff from this route."""
    shop, other = await factory.shop(), await factory.shop()
    before = await _login(db, other.owner_email)
    counts = (await count_rows(db, Merchant), await count_rows(db, StaffInvitation))
    answers = []
    for email in (other.owner_email, "nobody@nowhere.example"):
        body = {**BODY, "owner": {"email": email, "name": "X", "password": "a long password"}}
        response = await client.post("/api/v1/platform/merchants", json=body, headers=shop.headers)
        problem = response.json()
        del problem["request_id"]  # differs on every call
        answers.append((response.status_code, problem))
    assert answers[0] == answers[1]
    assert answers[0][0] == 403
    assert answers[0][1]["detail"] == "only platform admins create merchants"
    assert (await count_rows(db, Merchant), await count_rows(db, StaffInvitation)) == counts
    assert await _login(db, other.owner_email) == before


# -- inviting an owner again ---------------------------------------------------------------------


def _owner_invitations(merchant_id: object) -> str:
    return f"/api/v1/platform/merchants/{merchant_id}/owner-invitations"


async def _staffless_merchant(client: AsyncClient, platform: str, email: str) -> dict[str, Any]:
    """Greenwood, created for ``email`` (which has a login): no staff, one owner invitation."""
    body = {**BODY, "owner": {"email": email, "name": "X", "password": "a long password"}}
    response = await client.post("/api/v1/platform/merchants", json=body, headers=bearer(platform))
    assert response.status_code == 201
    created: dict[str, Any] = response.json()
    assert created["owner"] is None
    return created


async def _invitations_and_roles(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every invitation and every role: what a refused owner invitation must not change."""
    async with db.unit_of_work(read_only=True) as session:
        invitations = await session.execute(
            select(
                StaffInvitation.id,
                StaffInvitation.merchant_id,
                StaffInvitation.email,
                StaffInvitation.role,
                StaffInvitation.accepted_at,
                StaffInvitation.revoked_at,
            ).order_by(StaffInvitation.id)
        )
        roles = await session.execute(
            select(StaffRole.merchant_id, StaffRole.user_id, StaffRole.role).order_by(StaffRole.id)
        )
    return {"invitations": [tuple(i) for i in invitations], "roles": [tuple(r) for r in roles]}


async def test_an_expired_owner_invitation_is_issued_again_and_accepted(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    platform = await factory.platform_token()
    admin = (await client.get("/api/v1/auth/me", headers=bearer(platform))).json()["user_id"]
    created = await _staffless_merchant(client, platform, shop.owner_email)
    merchant_id = created["merchant"]["id"]
    before = await _login(db, shop.owner_email)

    with clock.frozen_at(clock.now() + timedelta(days=7, seconds=1)):
        late = await client.post(
            ACCEPT, json={"token": created["invitation"]["token"], "password": PASSWORD}
        )
        assert (late.status_code, late.json()["state"]) == (409, "expired")
        response = await client.post(
            _owner_invitations(merchant_id),
            json={"email": shop.owner_email.upper()},
            headers=bearer(platform),
        )
        assert response.status_code == 201
        invitation = response.json()
        assert sorted(invitation) == sorted(created["invitation"])  # POST /staff/invitations' shape
        assert {k: invitation[k] for k in ("email", "role", "status", "invited_by")} == {
            "email": shop.owner_email,
            "role": "owner",
            "status": "pending",
            "invited_by": admin,
        }
        assert invitation["token"].startswith(f"tki_{invitation['prefix']}_")
        lifetime = datetime.fromisoformat(invitation["expires_at"]) - datetime.fromisoformat(
            invitation["created_at"]
        )
        assert lifetime == timedelta(days=7)
        assert await _login(db, shop.owner_email) == before  # invited, not attached

        accepted = await client.post(
            ACCEPT, json={"token": invitation["token"], "password": PASSWORD}
        )
    assert accepted.status_code == 200
    assert (accepted.json()["merchant"]["id"], accepted.json()["staff"]["role"]) == (
        merchant_id,
        "owner",
    )
    after = await _login(db, shop.owner_email)
    assert after["user"] == before["user"]
    assert after["roles"] == [*before["roles"], (uuid.UUID(merchant_id), "owner")]
    login = await client.post(
        "/api/v1/auth/login",
        json={"email": shop.owner_email, "password": PASSWORD, "merchant": "greenwood"},
    )
    assert (login.status_code, login.json()["role"]) == (200, "owner")


async def test_a_new_person_invited_to_own_a_merchant_sets_a_password_and_owns_it(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    platform = await factory.platform_token()
    created = await _staffless_merchant(client, platform, shop.owner_email)
    path = _owner_invitations(created["merchant"]["id"])
    email = "new.owner@greenwood.example"
    first = (await client.post(path, json={"email": email}, headers=bearer(platform))).json()
    second = (await client.post(path, json={"email": email}, headers=bearer(platform))).json()
    async with db.unit_of_work(read_only=True) as session:
        rows = await session.execute(
            select(StaffInvitation.id, StaffInvitation.email, StaffInvitation.role)
            .where(StaffInvitation.merchant_id == uuid.UUID(created["merchant"]["id"]))
            .where(StaffInvitation.revoked_at.is_(None))
            .order_by(StaffInvitation.id)
        )
        pending = [tuple(r) for r in rows]
    # The newest link is the one that works; the first owner invitation (another email) too.
    assert pending == [
        (uuid.UUID(created["invitation"]["id"]), shop.owner_email, "owner"),
        (uuid.UUID(second["id"]), email, "owner"),
    ]
    stale = await client.post(
        ACCEPT, json={"token": first["token"], "name": "Mei", "password": "a long password"}
    )
    assert (stale.status_code, stale.json()["state"]) == (409, "revoked")
    assert await count_rows(db, StaffUser, StaffUser.email == email) == 0

    accepted = await client.post(
        ACCEPT, json={"token": second["token"], "name": "Mei", "password": "a long password"}
    )
    assert accepted.status_code == 200
    staff = accepted.json()["staff"]
    assert (staff["email"], staff["name"], staff["role"]) == (email, "Mei", "owner")
    login = await client.post(
        "/api/v1/auth/login", json={"email": email, "password": "a long password"}
    )
    assert login.status_code == 200
    assert (login.json()["merchant"]["slug"], login.json()["role"]) == ("greenwood", "owner")


async def test_only_platform_admins_invite_owners_and_nothing_changes_otherwise(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    before = await _invitations_and_roles(db)
    answers = []
    for merchant_id in (shop.tenant.id, uuid.uuid4()):  # its own merchant, and one that is not
        response = await client.post(
            _owner_invitations(merchant_id),
            json={"email": "takeover@x.example"},
            headers=shop.headers,
        )
        answers.append((response.status_code, response.json()["detail"]))
    assert answers == [(403, "only platform admins invite merchant owners")] * 2
    anonymous = await client.post(
        _owner_invitations(shop.tenant.id), json={"email": "takeover@x.example"}
    )
    assert anonymous.status_code == 401
    assert await _invitations_and_roles(db) == before


async def test_an_unknown_merchant_or_someone_already_on_the_staff_is_refused(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    platform = await factory.platform_token()
    before = await _invitations_and_roles(db)
    unknown = uuid.uuid4()
    missing = await client.post(
        _owner_invitations(unknown), json={"email": "x@x.example"}, headers=bearer(platform)
    )
    assert (missing.status_code, missing.json()["detail"]) == (
        404,
        f"no merchant with id {unknown}",
    )
    malformed = await client.post(
        _owner_invitations("not-an-id"), json={"email": "x@x.example"}, headers=bearer(platform)
    )
    assert malformed.status_code == 404
    staff = await client.post(
        _owner_invitations(shop.tenant.id),
        json={"email": shop.owner_email.upper()},
        headers=bearer(platform),
    )
    assert (staff.status_code, staff.json()["detail"]) == (
        409,
        f"{shop.owner_email} already works for this merchant",
    )
    bad = await client.post(
        _owner_invitations(shop.tenant.id), json={"email": "nope"}, headers=bearer(platform)
    )
    assert (bad.status_code, bad.json()["errors"][0]["loc"]) == (422, ["body", "email"])
    assert await _invitations_and_roles(db) == before
