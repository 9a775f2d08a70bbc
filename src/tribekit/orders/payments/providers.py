"""The explicit registry of payment providers: built once from the settings, looked up by name.

The manual provider is always there; Stripe is there when both its secret key and its webhook
signing secret are set.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from pydantic import SecretStr

from tribekit.kit.settings import Settings

from .base import PaymentProvider, ProviderNotConfigured
from .manual import ManualProvider
from .stripe_checkout import StripeCheckoutProvider

log = logging.getLogger(__name__)

SETUP_HINTS: Mapping[str, str] = {
    "stripe": "set TRIBEKIT_STRIPE_SECRET_KEY and TRIBEKIT_STRIPE_WEBHOOK_SECRET",
}


def build_providers(settings: Settings) -> dict[str, PaymentProvider]:
    """Every configured provider by name. Build once per process and close with ``aclose``."""
    providers: dict[str, PaymentProvider] = {
        "manual": ManualProvider(settings.manual_payment_instructions),
    }
    secret_key = _secret(settings.stripe_secret_key)
    webhook_secret = _secret(settings.stripe_webhook_secret)
    if secret_key and webhook_secret:
        providers["stripe"] = StripeCheckoutProvider(
            secret_key=secret_key,
            webhook_secret=webhook_secret,
            success_url=settings.stripe_success_url,
            cancel_url=settings.stripe_cancel_url,
            api_base=settings.stripe_api_base,
            webhook_tolerance=settings.stripe_webhook_tolerance,
        )
    elif secret_key or webhook_secret:
        missing = "WEBHOOK_SECRET" if secret_key else "SECRET_KEY"
        log.warning("Stripe payments are off: TRIBEKIT_STRIPE_%s is not set", missing)
    return providers


def provider(providers: Mapping[str, PaymentProvider], name: str) -> PaymentProvider:
    """The provider called ``name``, or a 422 that says how to configure it."""
    found = providers.get(name)
    if found is not None:
        return found
    hint = SETUP_HINTS.get(name)
    if hint is not None:
        detail = f"payment provider {name!r} is not configured; {hint}"
    else:
        known = ", ".join(repr(n) for n in sorted(providers))
        detail = f"unknown payment provider {name!r}; configured providers: {known}"
    raise ProviderNotConfigured(detail, provider=name)


def _secret(value: SecretStr | None) -> str | None:
    """The secret's text; an empty or blank setting counts as not set."""
    text = value.get_secret_value().strip() if value is not None else ""
    return text or None


async def aclose(providers: Mapping[str, PaymentProvider]) -> None:
    """Release the providers' network connections (at shutdown)."""
    for item in providers.values():
        if isinstance(item, StripeCheckoutProvider):
            await item.aclose()
