"""Fixtures of the web community's tests: a merchant with a web group and members holding
member sessions, a staff session, a real server on loopback (for the live stream and the
browser), and one Chromium for the whole session."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
import uvicorn
from fastapi import FastAPI
from httpx import AsyncClient
from playwright.async_api import Browser, Page, async_playwright

from tests.conftest import SECRET, test_settings
from tests.factories import PASSWORD, Factory, Shop
from tribekit.api.app import create_app
from tribekit.kit.db import Database
from tribekit.members import access
from tribekit.models.communities import Community
from tribekit.models.enums import Channel, CommunityStatus
from tribekit.tenancy import auth
from tribekit.web import WebConfig


@dataclass(frozen=True)
class Person:
    member_id: str
    name: str
    link: str  # the signed member link's token


@dataclass(frozen=True)
class Group:
    shop: Shop
    community_id: str
    alice: Person
    bob: Person

    @property
    def url(self) -> str:
        return f"/c/{self.community_id}"


async def make_group(
    factory: Factory, db: Database, *, language: str = "en", slug: str | None = None
) -> Group:
    shop = await factory.shop(slug)
    async with db.unit_of_work() as session:
        community = Community(
            merchant_id=shop.tenant.id,
            name="Fruit lovers",
            channel=Channel.WEB,
            external_id=None,
            status=CommunityStatus.ACTIVE,
            language=language,
            rules_text="Be kind.",
            member_count=0,
        )
        session.add(community)
        await session.flush()
        community_id = str(community.id)
    people = []
    for name in ("Alice", "Bob"):
        member = await factory.member(shop, display_name=name)
        link, _ = access.issue_link(SECRET, shop.tenant, member.member.id)
        people.append(Person(str(member.member.id), name, link))
    return Group(shop, community_id, people[0], people[1])


async def enter(client: AsyncClient, group: Group, person: Person) -> None:
    """Open the group from the person's signed link: the member session cookie is set."""
    response = await client.get(f"{group.url}?t={person.link}")
    assert response.status_code == 303, response.text
    assert response.headers["location"] == group.url
    assert client.cookies.get(access.MEMBER_COOKIE)


async def csrf_of(client: AsyncClient, group: Group) -> str:
    """The CSRF token of the client's session, from the group page (its cookie is set too)."""
    page = await client.get(group.url)
    assert page.status_code == 200, page.text
    marker = 'name="csrf" value="'
    start = page.text.index(marker) + len(marker)
    return page.text[start : page.text.index('"', start)]


async def staff_login(client: AsyncClient, shop: Shop) -> None:
    response = await client.post(
        "/api/v1/auth/login", json={"email": shop.owner_email, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    assert client.cookies.get(auth.SESSION_COOKIE)


def web_config(app: FastAPI) -> WebConfig:
    config: WebConfig = app.state.web
    return config


# ---- a real server on loopback -----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Live:
    url: str
    app: FastAPI


@asynccontextmanager
async def serve_live(app: FastAPI) -> AsyncIterator[Live]:
    """``app`` (started already) served by uvicorn on a free loopback port, in this event
    loop, so the live stream and a browser can talk to it."""
    port = _free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="warning",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    url = f"http://127.0.0.1:{port}"
    for _ in range(1000):  # up in milliseconds; ten seconds at most
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started, "the test server did not start"
    try:
        yield Live(url, app)
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def live(app: FastAPI) -> AsyncIterator[Live]:
    async with serve_live(app) as served:
        yield served


@pytest.fixture
async def worker_app(db: Database) -> AsyncIterator[FastAPI]:
    """The app with its worker loop running (the robot's actions carried out within half a
    second), as ``tribekit serve`` runs it."""
    settings = test_settings(db, worker_poll_seconds=0.05)
    application = create_app(settings, db=db, run_worker=True)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def live_worker(worker_app: FastAPI) -> AsyncIterator[Live]:
    async with serve_live(worker_app) as served:
        yield served


# ---- one Chromium for the whole session ---------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright (which downloads no browser)."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            await chromium.close()


#: An HTTP client's timeout (seconds) against the live server: generous, so that a loaded
#: machine slows a test down instead of failing it; the tests time what they promise themselves.
SLOW = 30.0


# ---- pages in the browser -------------------------------------------------------------------

SECOND = 1000  # Playwright's timeouts are in milliseconds


async def open_page(browser: Browser, live: Live, group: Group, link: str | None) -> Page:
    context = await browser.new_context(base_url=live.url, viewport={"width": 390, "height": 800})
    page = await context.new_page()
    if link is not None:
        await page.goto(f"{group.url}?t={link}")
        assert page.url == f"{live.url}{group.url}"  # the token left the address
        cookies = {c["name"] for c in await context.cookies()}
        assert access.MEMBER_COOKIE in cookies
    return page


async def connected(page: Page) -> None:
    """Wait until the page's event source is open."""
    await page.wait_for_function(
        "() => { const el = document.getElementById('messages');"
        " const s = el && htmx && el['htmx-internal-data'] &&"
        " el['htmx-internal-data'].sseEventSource;"
        " return !!s && s.readyState === 1; }",
        timeout=5 * SECOND,
    )


async def staff_login_in_browser(page: Page, live: Live, group: Group) -> None:
    """Sign staff in through the API from the page's own context (its cookies keep the
    session)."""
    response = await page.context.request.post(
        f"{live.url}/api/v1/auth/login",
        data={"email": group.shop.owner_email, "password": PASSWORD},
    )
    assert response.status == 200, await response.text()
    assert auth.SESSION_COOKIE in {c["name"] for c in await page.context.cookies()}
