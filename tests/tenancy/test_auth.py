"""Sign-in, sessions, API tokens and rate limits."""

from __future__ import annotations

from datetime import timedelta

from httpx import AsyncClient
from redis.asyncio import Redis

from tests.conftest import serve, test_settings
from tests.factories import PASSWORD, Factory, bearer
from tribekit.api.app import create_app
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.models.enums import Role
from tribekit.tenancy.auth import SESSION_COOKIE


async def test_login_sets_a_session_cookie_that_authenticates(
    client: AsyncClient, factory: Factory
) -> None:
    shop = await factory.shop()
    response = await client.post(
        "/api/v1/auth/login", json={"email": shop.owner_email, "password": PASSWORD}
    )
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=tks_")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    me = await client.get("/api/v1/auth/me")
    assert me.status_code == 200
    assert me.json()["via"] == "session"
    assert me.json()["role"] == "owner"
    assert (await client.get("/api/v1/members")).status_code == 200

    assert (await client.post("/api/v1/auth/logout")).status_code == 204
    client.cookies.clear()
    assert (await client.get("/api/v1/auth/me")).status_code == 401


async def test_logged_out_session_cookie_is_dead(client: AsyncClient, factory: Factory) -> None:
    shop = await factory.shop()
    await client.post("/api/v1/auth/login", json={"email": shop.owner_email, "password": PASSWORD})
    secret = client.cookies[SESSION_COOKIE]
    await client.post("/api/v1/auth/logout")
    client.cookies.set(SESSION_COOKIE, secret)
    response = await client.get("/api/v1/auth/me")
    assert response.status_code == 401
    assert response.json()["detail"] == "your session has ended; sign in again"


async def test_wrong_password_and_unknown_email_look_the_same(
    client: AsyncClient, factory: Factory
) -> None:
    shop = await factory.shop()
    wrong = await client.post(
        "/api/v1/auth/login", json={"email": shop.owner_email, "password": "nope"}
    )
    unknown = await client.post(
        "/api/v1/auth/login", json={"email": "who@x.example", "password": "nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"] == "wrong email or password"


async def test_user_of_several_merchants_says_which(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    first = await factory.shop("first-shop")
    second = await factory.shop("second-shop")
    invited = await client.post(
        "/api/v1/staff/invitations",
        json={"email": first.owner_email, "role": "analyst"},
        headers=second.headers,
    )
    assert invited.status_code == 201
    accepted = await client.post(
        "/api/v1/staff/invitations/accept",
        json={"token": invited.json()["token"], "password": PASSWORD},
    )
    assert accepted.status_code == 200
    ambiguous = await client.post(
        "/api/v1/auth/login", json={"email": first.owner_email, "password": PASSWORD}
    )
    assert ambiguous.status_code == 422
    assert ambiguous.json()["errors"][0]["loc"] == ["body", "merchant"]
    assert ambiguous.json()["merchants"] == ["first-shop", "second-shop"]
    assert ambiguous.json()["detail"] == (
        "merchant: you work for several merchants (first-shop, second-shop): send one slug as "
        "'merchant'"
    )
    chosen = await client.post(
        "/api/v1/auth/login",
        json={"email": first.owner_email, "password": PASSWORD, "merchant": "second-shop"},
    )
    assert chosen.status_code == 200
    assert (chosen.json()["merchant"]["slug"], chosen.json()["role"]) == ("second-shop", "analyst")


async def test_login_is_rate_limited_with_retry_after(db: Database, factory: Factory) -> None:
    shop = await factory.shop()
    app = create_app(test_settings(db, login_rate_limit=3), db=db)
    async with serve(app) as http:
        statuses = [
            (
                await http.post(
                    "/api/v1/auth/login", json={"email": shop.owner_email, "password": "x"}
                )
            ).status_code
            for _ in range(3)
        ]
        blocked = await http.post(
            "/api/v1/auth/login", json={"email": shop.owner_email, "password": PASSWORD}
        )
    assert statuses == [401, 401, 401]
    assert blocked.status_code == 429
    assert blocked.json()["code"] == "rate_limited"
    assert int(blocked.headers["retry-after"]) >= 1


async def test_token_use_is_rate_limited_through_redis(
    db: Database, factory: Factory, redis: Redis
) -> None:
    shop = await factory.shop()
    app = create_app(test_settings(db, token_rate_limit=5), db=db, redis=redis)
    async with serve(app) as http:
        statuses = [
            (await http.get("/api/v1/merchant", headers=shop.headers)).status_code for _ in range(6)
        ]
    assert statuses == [200] * 5 + [429]
    assert await redis.keys("tribekit:rl:token:*")


async def test_failed_tokens_are_rate_limited_per_address(client: AsyncClient) -> None:
    statuses = [
        (await client.get("/api/v1/merchant", headers=bearer(f"tkt_deadbeef_guess{i}"))).status_code
        for i in range(31)
    ]
    assert statuses == [401] * 30 + [429]


async def test_tokens_are_shown_once_listed_by_prefix_and_revocable(
    client: AsyncClient, factory: Factory
) -> None:
    shop = await factory.shop()
    created = await client.post(
        "/api/v1/tokens", json={"name": "till", "expires_in_days": 30}, headers=shop.headers
    )
    assert created.status_code == 201
    secret = created.json()["token"]
    prefix = created.json()["prefix"]
    assert secret.startswith(f"tkt_{prefix}_")
    listed = (await client.get("/api/v1/tokens", headers=shop.headers)).json()["items"]
    assert {t["name"] for t in listed} == {"owner", "till"}
    assert all("token" not in t for t in listed)
    assert (await client.get("/api/v1/auth/me", headers=bearer(secret))).status_code == 200
    used = (await client.get("/api/v1/tokens", headers=shop.headers)).json()["items"]
    assert next(t for t in used if t["name"] == "till")["last_used_at"] is not None

    revoked = await client.delete(f"/api/v1/tokens/{created.json()['id']}", headers=shop.headers)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    response = await client.get("/api/v1/auth/me", headers=bearer(secret))
    assert response.status_code == 401
    assert response.json()["detail"] == "this API token was revoked"


async def test_expired_token_is_401(client: AsyncClient, factory: Factory) -> None:
    shop = await factory.shop()
    created = (
        await client.post(
            "/api/v1/tokens", json={"name": "short", "expires_in_days": 1}, headers=shop.headers
        )
    ).json()
    with clock.frozen_at(clock.now() + timedelta(days=1, seconds=1)):
        response = await client.get("/api/v1/auth/me", headers=bearer(created["token"]))
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


async def test_operator_sees_and_revokes_only_own_tokens(
    client: AsyncClient, factory: Factory
) -> None:
    shop = await factory.shop()
    operator = await factory.staff_token(shop, Role.OPERATOR)
    mine = (await client.get("/api/v1/tokens", headers=bearer(operator))).json()["items"]
    assert [t["name"] for t in mine] == ["operator"]
    owners = (await client.get("/api/v1/tokens", headers=shop.headers)).json()["items"]
    owner_token = next(t for t in owners if t["name"] == "owner")
    denied = await client.delete(f"/api/v1/tokens/{owner_token['id']}", headers=bearer(operator))
    assert denied.status_code == 403
    assert (await client.get("/api/v1/auth/me", headers=shop.headers)).status_code == 200


async def test_removed_staff_member_token_stops_working(
    client: AsyncClient, factory: Factory
) -> None:
    shop = await factory.shop()
    operator = await factory.staff_token(shop, Role.OPERATOR)
    me = (await client.get("/api/v1/auth/me", headers=bearer(operator))).json()
    assert (
        await client.delete(f"/api/v1/staff/{me['user_id']}", headers=shop.headers)
    ).status_code == 204
    response = await client.get("/api/v1/auth/me", headers=bearer(operator))
    assert response.status_code == 401


async def test_malformed_bearer_is_401_with_hint(client: AsyncClient) -> None:
    response = await client.get("/api/v1/merchant", headers=bearer("hello"))
    assert response.status_code == 401
    assert "tkt_" in response.json()["detail"]
    anonymous = await client.get("/api/v1/merchant")
    assert anonymous.headers["www-authenticate"] == "Bearer"


async def test_failed_logins_across_emails_are_limited_per_address(
    db: Database, factory: Factory
) -> None:
    shop = await factory.shop()
    app = create_app(test_settings(db, failed_auth_rate_limit=3), db=db)
    async with serve(app) as http:
        statuses = [
            (
                await http.post(
                    "/api/v1/auth/login", json={"email": f"guess{i}@x.example", "password": "x"}
                )
            ).status_code
            for i in range(4)
        ]
        blocked = await http.post(
            "/api/v1/auth/login", json={"email": shop.owner_email, "password": PASSWORD}
        )
    assert statuses == [401, 401, 401, 429]
    assert blocked.status_code == 429
