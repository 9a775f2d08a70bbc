"""Payment providers behind one Protocol (``base``), registered by name (``providers``)."""

from .base import (
    InvalidWebhook,
    PaymentProvider,
    PaymentRequest,
    PaymentStarted,
    ProviderNotConfigured,
    ProviderUnavailable,
    RefundDone,
    RefundRequest,
    WebhookEvent,
    WebhookEventKind,
)
from .manual import ManualProvider
from .providers import aclose, build_providers, provider
from .stripe_checkout import RefundRefused, StripeCheckoutProvider

__all__ = [
    "InvalidWebhook",
    "ManualProvider",
    "PaymentProvider",
    "PaymentRequest",
    "PaymentStarted",
    "ProviderNotConfigured",
    "ProviderUnavailable",
    "RefundDone",
    "RefundRefused",
    "RefundRequest",
    "StripeCheckoutProvider",
    "WebhookEvent",
    "WebhookEventKind",
    "aclose",
    "build_providers",
    "provider",
]
