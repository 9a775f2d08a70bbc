"""Stripe Checkout: the payer pays on a Stripe-hosted page; Stripe tells us by signed webhook.

``start`` creates a Checkout Session (one line item for the whole order) and sends the payer to
its URL; ``refund`` refunds the session's PaymentIntent; ``parse_webhook`` verifies the
``Stripe-Signature`` header on the raw body and maps the ``checkout.session.*`` events.

Every call that creates something at Stripe carries the request's idempotency key, so a retried
start or refund never creates a second session or refund. The secret key only ever goes to
Stripe: error messages name the setting to fix, never its value.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import stripe

from tribekit.kit import clock
from tribekit.kit.errors import TribekitError

from .base import (
    InvalidWebhook,
    PaymentRequest,
    PaymentStarted,
    ProviderUnavailable,
    RefundDone,
    RefundRequest,
    WebhookEvent,
    WebhookEventKind,
)

if TYPE_CHECKING:
    from stripe.params import RefundCreateParams
    from stripe.params.checkout import SessionCreateParams

DEFAULT_API_BASE = "https://api.stripe.com"
DEFAULT_WEBHOOK_TOLERANCE = 300  # seconds; Stripe's own default
# Stripe accepts a Checkout Session expiry between 30 minutes and 24 hours after creation; keep a
# minute of margin on both ends for the time the request takes.
SESSION_MIN_SECONDS = 31 * 60
SESSION_MAX_SECONDS = 24 * 60 * 60 - 60
METADATA_VALUE_MAX = 500  # Stripe's limit on one metadata value


class RefundRefused(TribekitError):
    status = 422
    code = "refund_refused"
    title = "The payment provider refused the refund"


def unix_now() -> int:
    """The current time in unix seconds, from the Tribekit clock (tests can freeze it)."""
    return int(clock.now().timestamp())


class StripeCheckoutProvider:
    """Payments through Stripe Checkout, with the official ``stripe`` package (async calls).

    ``success_url`` and ``cancel_url`` are templates: ``{order_id}`` and ``{order_number}`` are
    replaced; Stripe's own ``{CHECKOUT_SESSION_ID}`` is left for Stripe to fill in. ``now`` gives
    unix seconds and decides how old a webhook signature may be.
    """

    name = "stripe"
    external = True  # refunds are performed by the worker after commit (orders/tasks.py)

    def __init__(
        self,
        *,
        secret_key: str,
        webhook_secret: str,
        success_url: str,
        cancel_url: str,
        api_base: str = DEFAULT_API_BASE,
        webhook_tolerance: int = DEFAULT_WEBHOOK_TOLERANCE,
        max_network_retries: int = 2,
        timeout: float = 30.0,
        now: Callable[[], int] = unix_now,
    ) -> None:
        if not secret_key or not webhook_secret:
            raise ValueError("Stripe needs both a secret key and a webhook signing secret")
        self.success_url = success_url
        self.cancel_url = cancel_url
        self.webhook_tolerance = webhook_tolerance
        self._webhook_secret = webhook_secret
        self._now = now
        self._http = stripe.HTTPXClient(timeout=timeout)
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base.rstrip("/")},
            max_network_retries=max_network_retries,  # safe: every write has an idempotency key
            http_client=self._http,
        )

    def __repr__(self) -> str:
        return f"<StripeCheckoutProvider {self.name}>"  # never the keys

    async def aclose(self) -> None:
        """Close the HTTP connection pool (call once, at shutdown)."""
        await self._http.close_async()  # type: ignore[no-untyped-call]  # stripe leaves it unannotated

    # -- start ------------------------------------------------------------------------------------

    async def start(self, request: PaymentRequest) -> PaymentStarted:
        metadata = {
            "payment_id": str(request.payment_id),
            "order_id": str(request.order_id),
            "order_number": request.order_number,
            "merchant_id": str(request.merchant_id),
        }
        params: SessionCreateParams = {
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": request.currency.lower(),
                        "unit_amount": request.amount,
                        "product_data": {"name": request.description},
                    },
                    "quantity": 1,
                }
            ],
            "client_reference_id": str(request.order_id),
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "success_url": _fill(self.success_url, request),
            "cancel_url": _fill(self.cancel_url, request),
        }
        if request.customer_email:
            params["customer_email"] = request.customer_email
        if request.expires_at is not None:
            params["expires_at"] = self._session_expiry(request.expires_at)
        try:
            session = await self._client.v1.checkout.sessions.create_async(
                params, {"idempotency_key": request.idempotency_key}
            )
        except stripe.StripeError as exc:
            raise _unavailable("start the payment", exc) from exc
        if not session.url:
            raise ProviderUnavailable(
                f"Stripe created Checkout Session {session.id} without a payment page URL"
            )
        return PaymentStarted(provider_ref=session.id, redirect_url=session.url)

    def _session_expiry(self, expires_at: datetime) -> int:
        """``expires_at`` moved into the window Stripe accepts (30 minutes to 24 hours)."""
        now = self._now()
        wanted = int(expires_at.timestamp())
        return min(max(wanted, now + SESSION_MIN_SECONDS), now + SESSION_MAX_SECONDS)

    # -- refund -----------------------------------------------------------------------------------

    async def refund(self, request: RefundRequest) -> RefundDone:
        payment_intent = request.captured_ref or await self._payment_intent_of(request.provider_ref)
        params: RefundCreateParams = {
            "payment_intent": payment_intent,
            "amount": request.amount,
            "metadata": {"reason": request.reason[:METADATA_VALUE_MAX]},
        }
        try:
            refund = await self._client.v1.refunds.create_async(
                params, {"idempotency_key": request.idempotency_key}
            )
        except stripe.InvalidRequestError as exc:
            raise RefundRefused(
                f"Stripe refused the refund: {_message(exc)}", stripe_code=exc.code
            ) from exc
        except stripe.StripeError as exc:
            raise _unavailable("refund the payment", exc) from exc
        return RefundDone(provider_ref=refund.id)

    async def _payment_intent_of(self, session_id: str) -> str:
        try:
            session = await self._client.v1.checkout.sessions.retrieve_async(session_id)
        except stripe.InvalidRequestError as exc:
            raise RefundRefused(
                f"Stripe could not find Checkout Session {session_id}: {_message(exc)}",
                stripe_code=exc.code,
            ) from exc
        except stripe.StripeError as exc:
            raise _unavailable("look up the payment to refund", exc) from exc
        payment_intent = session.payment_intent
        if payment_intent is None:
            raise RefundRefused(f"Checkout Session {session_id} has no payment to refund")
        return payment_intent if isinstance(payment_intent, str) else payment_intent.id

    # -- webhooks ---------------------------------------------------------------------------------

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        header = _header(headers, "stripe-signature")
        if not header:
            raise InvalidWebhook("the Stripe-Signature header is missing")
        signed_at, signatures = _signature_parts(header)
        try:
            payload = body.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidWebhook("the webhook body is not UTF-8 text") from None
        # The header is parsed once, strictly (above), and the library checks the HMAC over a
        # header rebuilt from that parse: the time it verifies is the time whose age is checked
        # below. (Handing it the raw header let it read another ``t`` than ours.) The age is
        # checked on the Tribekit clock, which tests can freeze, not on the library's.
        canonical = ",".join([f"t={signed_at}", *(f"v1={s}" for s in signatures)])
        try:
            stripe.WebhookSignature.verify_header(payload, canonical, self._webhook_secret, None)
        except stripe.SignatureVerificationError as exc:
            raise InvalidWebhook(
                "the Stripe-Signature header does not match the body (signed with another "
                f"webhook secret, or the body was changed): {_message(exc)}"
            ) from None
        age = self._now() - signed_at
        if age > self.webhook_tolerance:
            raise InvalidWebhook(
                f"the webhook was signed {age} seconds ago; events signed more than "
                f"{self.webhook_tolerance} seconds ago are refused"
            )
        try:
            event = json.loads(payload)
        except ValueError:
            raise InvalidWebhook("the webhook body is not JSON") from None
        return event_from_json(event)


def event_from_json(event: Any) -> WebhookEvent:
    """Map a verified Stripe event (parsed JSON) to the event Tribekit acts on."""
    if not isinstance(event, dict):
        raise InvalidWebhook("the webhook body is not a Stripe event (expected a JSON object)")
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not isinstance(event_type, str):
        raise InvalidWebhook("the webhook body is not a Stripe event (no id or type)")
    if not event_type.startswith("checkout.session."):
        return _ignored(event_id)
    data = event.get("data")
    session = data.get("object") if isinstance(data, dict) else None
    if not isinstance(session, dict) or not isinstance(session.get("id"), str):
        raise InvalidWebhook(f"the {event_type} event carries no Checkout Session")

    paid = event_type == "checkout.session.async_payment_succeeded" or (
        event_type == "checkout.session.completed" and session.get("payment_status") == "paid"
    )
    kind = (
        WebhookEventKind.PAYMENT_SUCCEEDED
        if paid
        else {
            "checkout.session.async_payment_failed": WebhookEventKind.PAYMENT_FAILED,
            "checkout.session.expired": WebhookEventKind.PAYMENT_EXPIRED,
        }.get(event_type, WebhookEventKind.IGNORED)
    )
    metadata = session.get("metadata")
    currency = session.get("currency")
    amount = session.get("amount_total")
    return WebhookEvent(
        event_id=event_id,
        kind=kind,
        provider_ref=session["id"],
        payment_id=_uuid(metadata.get("payment_id") if isinstance(metadata, dict) else None),
        captured_ref=_object_id(session.get("payment_intent")) if paid else None,
        amount=amount if paid and isinstance(amount, int) else None,
        currency=currency.upper() if paid and isinstance(currency, str) else None,
    )


def _ignored(event_id: str) -> WebhookEvent:
    return WebhookEvent(
        event_id=event_id,
        kind=WebhookEventKind.IGNORED,
        provider_ref=None,
        payment_id=None,
        captured_ref=None,
        amount=None,
        currency=None,
    )


def _fill(template: str, request: PaymentRequest) -> str:
    return template.replace("{order_id}", str(request.order_id)).replace(
        "{order_number}", request.order_number
    )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name, whatever its case (plain dicts are case-sensitive, Starlette's not)."""
    value = headers.get(name)
    if value is not None:
        return value
    for key, candidate in headers.items():
        if key.lower() == name:
            return candidate
    return None


_SIGNATURE_PART = re.compile(r"([A-Za-z0-9_]+)=([^\s=,]+)")
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")


def _signature_parts(header: str) -> tuple[int, list[str]]:
    """The one ``t=`` timestamp and the ``v1=`` signatures of a ``Stripe-Signature`` header
    (``t=<unix seconds>,v1=<hex>[,v1=<hex>...][,v0=...]``). Anything ambiguous is refused: a part
    that is not ``key=value``, an empty part, a second ``t``."""
    timestamps: list[str] = []
    signatures: list[str] = []
    for raw in header.split(","):
        part = _SIGNATURE_PART.fullmatch(raw.strip())
        if part is None:
            raise InvalidWebhook(
                f"the Stripe-Signature header has a malformed part {raw.strip()[:40]!r}; Stripe "
                "sends t=<unix seconds>,v1=<signature>"
            )
        key, value = part.groups()
        if key == "t":
            timestamps.append(value)
        elif key == "v1":
            signatures.append(value)
    if len(timestamps) > 1:
        raise InvalidWebhook("the Stripe-Signature header has more than one t=<timestamp> part")
    if not timestamps or _UNIX_SECONDS.fullmatch(timestamps[0]) is None:
        raise InvalidWebhook("the Stripe-Signature header has no valid t=<timestamp> part")
    return int(timestamps[0]), signatures


def _uuid(value: object) -> uuid.UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _object_id(value: object) -> str | None:
    """A Stripe reference that is either an id or an expanded object."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


def _message(exc: stripe.StripeError) -> str:
    message = exc.user_message
    return str(message) if message else "no reason given"


def _unavailable(action: str, exc: stripe.StripeError) -> ProviderUnavailable:
    """A 502 for a Stripe failure, saying what to do about it and never echoing the key."""
    if isinstance(exc, stripe.APIConnectionError):
        detail = f"Stripe could not be reached to {action}; try again in a moment"
    elif isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        detail = (
            f"Stripe refused our API key when asked to {action}; check TRIBEKIT_STRIPE_SECRET_KEY"
        )
    elif isinstance(exc, stripe.RateLimitError):
        detail = f"Stripe is rate-limiting us and did not {action}; try again in a moment"
    else:
        detail = f"Stripe did not {action} (HTTP {exc.http_status}): {_message(exc)}"
    # Stripe keeps the answer of a request that started executing under its idempotency key,
    # an internal error (500) included; a connection failure, a rate limit or an outage in
    # front of the API (502, 503) leaves nothing there, so the same key may be tried again.
    kept = not isinstance(exc, stripe.APIConnectionError) and exc.http_status == 500
    return ProviderUnavailable(detail, kept_under_key=kept, stripe_request_id=exc.request_id)
