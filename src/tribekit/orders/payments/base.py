"""The payment-provider interface. Orders talk to providers only through this Protocol; each
provider is registered by name in ``providers.py``.

A provider starts a payment for an order (``start``), refunds part or all of a captured payment
(``refund``), and, if it tells us about payments by webhook, turns a webhook request into a
verified ``WebhookEvent`` (``parse_webhook``) or refuses it with ``InvalidWebhook``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from tribekit.kit.errors import TribekitError


class InvalidWebhook(TribekitError):
    status = 400
    code = "invalid_webhook"
    title = "The webhook could not be verified"


class ProviderUnavailable(TribekitError):
    status = 502
    code = "payment_provider_unavailable"
    title = "The payment provider could not be reached"

    def __init__(self, detail: str, *, kept_under_key: bool = False, **data: Any) -> None:
        super().__init__(detail, **data)
        #: The provider answered and keeps this failure under the request's idempotency key
        #: (Stripe keeps a server error for a day): a retry with the same key repeats it.
        self.kept_under_key = kept_under_key


class ProviderNotConfigured(TribekitError):
    status = 422
    code = "payment_provider_not_configured"
    title = "This payment provider is not configured"


@dataclass(frozen=True)
class PaymentRequest:
    """What a provider needs to start collecting ``amount`` for one order."""

    payment_id: uuid.UUID  # our payments row; providers echo it back (metadata / reference)
    order_id: uuid.UUID
    order_number: str
    merchant_id: uuid.UUID
    amount: int  # minor units
    currency: str
    description: str  # e.g. "Order 2026-000123 at Greenwood Fruit"
    customer_email: str | None
    idempotency_key: str  # stable per payment: a retried start never creates two sessions
    expires_at: datetime | None = None  # when the payer's chance to pay ends (the stock hold)


@dataclass(frozen=True)
class PaymentStarted:
    provider_ref: str  # the provider's id for this payment (Stripe: the Checkout Session id)
    redirect_url: str | None  # where the payer goes to pay; None for manual payments
    instructions: str | None = None  # what the payer is told (manual: how to pay staff)


@dataclass(frozen=True)
class RefundRequest:
    provider_ref: str  # the payment's provider_ref
    captured_ref: str | None  # the provider's id of the captured charge (Stripe: PaymentIntent)
    amount: int
    currency: str
    reason: str
    idempotency_key: str  # stable per refund row: ``refund:<refund id>``


@dataclass(frozen=True)
class RefundDone:
    provider_ref: str | None  # the provider's refund id (None for manual refunds)


class WebhookEventKind(StrEnum):
    PAYMENT_SUCCEEDED = "payment_succeeded"
    PAYMENT_FAILED = "payment_failed"
    PAYMENT_EXPIRED = "payment_expired"
    IGNORED = "ignored"  # verified, but not an event Tribekit acts on


@dataclass(frozen=True)
class WebhookEvent:
    event_id: str  # the provider's event id: replays of one event are posted once
    kind: WebhookEventKind
    provider_ref: str | None  # the payment's provider_ref (Stripe: Checkout Session id)
    payment_id: uuid.UUID | None  # our payment id, echoed from the metadata we sent
    captured_ref: str | None  # Stripe: PaymentIntent id, needed later for refunds
    amount: int | None  # minor units actually paid
    currency: str | None  # upper-case ISO 4217


class PaymentProvider(Protocol):
    name: str
    #: True when the provider's calls leave the process (Stripe). Such calls never run inside a
    #: database transaction: a refund is then a durable request that the worker performs after
    #: commit (``orders/tasks.py``). False (manual): ``refund`` only records, with no I/O.
    external: bool

    async def start(self, request: PaymentRequest) -> PaymentStarted: ...

    async def refund(self, request: RefundRequest) -> RefundDone: ...

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent: ...
