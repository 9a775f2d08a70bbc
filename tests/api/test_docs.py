"""``/docs`` works offline: Swagger UI's files are served by Tribekit from the package."""

from __future__ import annotations

from httpx import AsyncClient


async def test_the_docs_page_and_its_assets_come_from_tribekit(client: AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert 'src="/docs/assets/swagger-ui-bundle.js"' in html
    assert 'href="/docs/assets/swagger-ui.css"' in html
    assert "'/openapi.json'" in html or '"/openapi.json"' in html
    assert "cdn" not in html.lower()
    assert "https://" not in html.replace("https://fastapi.tiangolo.com", "")
    script = await client.get("/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert "SwaggerUIBundle" in script.text
    css = await client.get("/docs/assets/swagger-ui.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    redirect = await client.get("/docs/oauth2-redirect")
    assert redirect.status_code == 200
    assert (await client.get("/redoc")).status_code == 404
    assert (await client.get("/docs/assets/nothing.js")).status_code == 404


async def test_staff_routes_document_the_bearer_token_and_the_session_cookie(
    client: AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    staff: list[dict[str, list[str]]] = [{"HTTPBearer": []}, {"APIKeyCookie": []}]
    assert spec["paths"]["/api/v1/members/{member_id}"]["get"]["security"] == staff
    assert spec["paths"]["/api/v1/orders"]["post"]["security"] == staff
    assert spec["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http",
        "description": "An API token: `Authorization: Bearer tkt_...`",
        "scheme": "bearer",
    }
    assert "security" not in spec["paths"]["/healthz"]["get"]
    assert spec["paths"]["/api/v1/me/orders"]["get"]["security"] == [
        {"MemberToken": []},
        {"APIKeyCookie": []},
    ]


async def test_a_credential_in_another_authorization_scheme_is_not_a_bearer_token(
    client: AsyncClient,
) -> None:
    response = await client.get("/api/v1/merchant", headers={"Authorization": "Basic dXNlcg=="})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    empty = await client.get("/api/v1/merchant", headers={"Authorization": "Bearer "})
    assert empty.status_code == 401
