"""Fixtures for the payment providers: one fake Stripe server per session, reset per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from tests.conftest import test_settings
from tribekit.api.app import create_app
from tribekit.kit.db import Database
from tribekit.orders.payments import StripeCheckoutProvider

from .fake_stripe import FakeStripe

API_KEY = "sk_test_tribekit_fake_key_0123456789"
WEBHOOK_SECRET = "whsec_tribekit_fake_secret"
NOW = 1_760_000_000  # the provider's clock in these tests (unix seconds)
SUCCESS_URL = "https://shop.example/m/orders/{order_id}?paid=1&session={CHECKOUT_SESSION_ID}"
CANCEL_URL = "https://shop.example/m/orders/{order_id}"


@pytest.fixture(scope="session")
def stripe_server() -> Iterator[FakeStripe]:
    with FakeStripe(api_key=API_KEY) as fake:
        yield fake


@pytest.fixture
def fake_stripe(stripe_server: FakeStripe) -> Iterator[FakeStripe]:
    stripe_server.reset()
    yield stripe_server
    stripe_server.reset()


def make_provider(api_base: str, **overrides: object) -> StripeCheckoutProvider:
    values: dict[str, object] = {
        "secret_key": API_KEY,
        "webhook_secret": WEBHOOK_SECRET,
        "success_url": SUCCESS_URL,
        "cancel_url": CANCEL_URL,
        "api_base": api_base,
        "now": lambda: NOW,
    }
    values.update(overrides)
    return StripeCheckoutProvider(**values)  # type: ignore[arg-type]  # loose to allow overrides


@pytest.fixture
async def stripe_provider(fake_stripe: FakeStripe) -> AsyncIterator[StripeCheckoutProvider]:
    provider = make_provider(fake_stripe.base_url)
    yield provider
    await provider.aclose()


@pytest.fixture
async def stripe_app(db: Database, fake_stripe: FakeStripe) -> AsyncIterator[FastAPI]:
    """The app with Stripe configured against the fake server, its lifespan started."""
    settings = test_settings(
        db,
        stripe_secret_key=API_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=fake_stripe.base_url,
    )
    app: FastAPI = create_app(settings, db=db)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def stripe_client(stripe_app: FastAPI) -> AsyncIterator[AsyncClient]:
    """A client of the app with Stripe configured against the fake server."""
    transport = ASGITransport(app=stripe_app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://tribekit.test") as http:
        yield http
