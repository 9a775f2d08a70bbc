"""Creating merchants (platform admins) and reading/changing the caller's merchant."""

from __future__ import annotations

from httpx import AsyncClient

from tests.conftest import serve, test_settings
from tests.factories import Factory, bearer, count_rows
from tribekit.api.app import create_app
from tribekit.kit.db import Database
from tribekit.models import Merchant, StaffUser

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
