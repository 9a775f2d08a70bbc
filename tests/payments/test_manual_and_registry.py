"""The manual provider and the registry that picks providers by name."""

from __future__ import annotations

import pytest

from tribekit.kit.settings import Settings
from tribekit.orders.payments import (
    InvalidWebhook,
    ManualProvider,
    PaymentStarted,
    ProviderNotConfigured,
    RefundDone,
    StripeCheckoutProvider,
    aclose,
    build_providers,
    provider,
)

from .test_stripe_api import PAYMENT_ID, payment_request, refund_request


async def test_manual_start_tells_the_payer_how_to_pay() -> None:
    started = await ManualProvider().start(payment_request())

    assert started == PaymentStarted(
        provider_ref=f"manual:{PAYMENT_ID}",
        redirect_url=None,
        instructions=(
            "Pay at the shop, or by bank transfer quoting order number 2026-000123 as the "
            "reference. Your order is confirmed as soon as staff have received the payment."
        ),
    )


async def test_manual_instructions_are_the_merchants_text() -> None:
    manual = ManualProvider("IBAN DE00 1234 {x}: reference {order_number}, or cash at the stall")

    started = await manual.start(payment_request())

    assert started.instructions == (
        "IBAN DE00 1234 {x}: reference 2026-000123, or cash at the stall"
    )


async def test_manual_refund_is_done_by_staff() -> None:
    done = await ManualProvider().refund(refund_request(None, f"manual:{PAYMENT_ID}"))

    assert done == RefundDone(provider_ref=None)


def test_manual_takes_no_webhooks() -> None:
    with pytest.raises(InvalidWebhook) as caught:
        ManualProvider().parse_webhook(b"{}", {})

    assert caught.value.detail == "the manual provider takes no webhooks"


async def test_without_stripe_settings_only_manual_is_there() -> None:
    providers = build_providers(Settings())

    assert list(providers) == ["manual"]
    assert provider(providers, "manual") is providers["manual"]
    with pytest.raises(ProviderNotConfigured) as caught:
        provider(providers, "stripe")
    assert (caught.value.status, caught.value.code) == (422, "payment_provider_not_configured")
    assert caught.value.detail == (
        "payment provider 'stripe' is not configured; set TRIBEKIT_STRIPE_SECRET_KEY and "
        "TRIBEKIT_STRIPE_WEBHOOK_SECRET"
    )
    await aclose(providers)


def test_half_the_stripe_settings_is_not_configured(caplog: pytest.LogCaptureFixture) -> None:
    providers = build_providers(Settings(stripe_secret_key="sk_test_only_the_key"))

    assert list(providers) == ["manual"]
    with pytest.raises(ProviderNotConfigured, match="TRIBEKIT_STRIPE_WEBHOOK_SECRET"):
        provider(providers, "stripe")
    assert caplog.messages == ["Stripe payments are off: TRIBEKIT_STRIPE_WEBHOOK_SECRET is not set"]


def test_empty_stripe_settings_are_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIBEKIT_STRIPE_SECRET_KEY", "")
    monkeypatch.setenv("TRIBEKIT_STRIPE_WEBHOOK_SECRET", " ")

    assert list(build_providers(Settings())) == ["manual"]


def test_an_unknown_provider_lists_the_configured_ones() -> None:
    with pytest.raises(ProviderNotConfigured) as caught:
        provider(build_providers(Settings()), "paypal")

    assert (
        caught.value.detail == "unknown payment provider 'paypal'; configured providers: 'manual'"
    )


async def test_stripe_settings_from_the_environment_register_stripe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRIBEKIT_STRIPE_SECRET_KEY", "sk_test_from_env")
    monkeypatch.setenv("TRIBEKIT_STRIPE_WEBHOOK_SECRET", "whsec_from_env")
    monkeypatch.setenv("TRIBEKIT_STRIPE_SUCCESS_URL", "https://shop.example/paid/{order_id}")
    monkeypatch.setenv("TRIBEKIT_MANUAL_PAYMENT_INSTRUCTIONS", "Cash only, order {order_number}")

    providers = build_providers(Settings())

    assert sorted(providers) == ["manual", "stripe"]
    stripe_provider = provider(providers, "stripe")
    assert isinstance(stripe_provider, StripeCheckoutProvider)
    assert stripe_provider.success_url == "https://shop.example/paid/{order_id}"
    assert stripe_provider.cancel_url == "http://127.0.0.1:8000/m/orders/{order_id}"
    assert stripe_provider.webhook_tolerance == 300
    assert "sk_test_from_env" not in repr(stripe_provider)
    manual = provider(providers, "manual")
    assert isinstance(manual, ManualProvider)
    assert manual.instructions == "Cash only, order {order_number}"
    await aclose(providers)
