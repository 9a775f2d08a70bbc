"""A fake Stripe API on loopback, for tests that drive the real ``stripe`` client over HTTP.

It speaks the small part of the API that Tribekit uses (Checkout Sessions and refunds), with
Stripe's form encoding, ``Idempotency-Key`` replay and error bodies::

    with FakeStripe(api_key="sk_test_fake") as fake:
        provider = StripeCheckoutProvider(secret_key="sk_test_fake", api_base=fake.base_url, ...)
        started = await provider.start(request)
        session = fake.pay(started.provider_ref)      # the payer paid: session + PaymentIntent
        event = fake.event("checkout.session.completed", started.provider_ref)

The server runs in a background thread; the recorded state (``sessions``, ``payment_intents``,
``refunds``, ``requests``) is plain data that tests read and assert on.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.loopback_server import LoopbackServer

Json = dict[str, Any]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    form: dict[str, str]  # flat, as Stripe encodes it: {"line_items[0][quantity]": "1", ...}
    idempotency_key: str | None
    authorization: str | None


def _new_id(prefix: str) -> str:
    return f"{prefix}_test_{secrets.token_hex(12)}"


def _error(status: int, type_: str, message: str, **extra: str) -> JSONResponse:
    return JSONResponse({"error": {"type": type_, "message": message, **extra}}, status)


def _metadata(form: dict[str, str], prefix: str) -> dict[str, str]:
    start = f"{prefix}["
    return {k[len(start) : -1]: v for k, v in form.items() if k.startswith(start) and "][" not in k}


class FakeStripe(LoopbackServer):
    """The fake server. Use it as a context manager, or call ``start()`` and ``stop()``.

    * ``api_key``: when set, requests with another bearer key get Stripe's 401.
    * ``refund_limit``: when set, a refund of more than this amount gets a 400
      ``invalid_request_error`` (on top of the real rule: never more than is left unrefunded).
    * ``fail_with``: when set (e.g. 503), every request gets that status with an ``api_error``.
    * ``refund_delay``: seconds a refund's reply waits *after* the refund is made (a client
      that times out meanwhile has refunded without hearing it; its retry with the same key
      is answered by the replay).
    """

    def __init__(self, *, api_key: str | None = None, refund_limit: int | None = None) -> None:
        self.api_key = api_key
        self.refund_limit = refund_limit
        self.fail_with: int | None = None
        self.refund_delay = 0.0
        self.sessions: dict[str, Json] = {}
        self.payment_intents: dict[str, Json] = {}
        self.refunds: dict[str, Json] = {}
        self.requests: list[RecordedRequest] = []
        self._replies: dict[str, tuple[dict[str, str], int, Json]] = {}
        self._lock = threading.Lock()
        super().__init__()
        self.app = Starlette(
            routes=[
                Route("/v1/checkout/sessions", self._create_session, methods=["POST"]),
                Route("/v1/checkout/sessions/{id}", self._get_session, methods=["GET"]),
                Route("/v1/refunds", self._create_refund, methods=["POST"]),
            ]
        )

    name = "fake Stripe server"

    def reset(self) -> None:
        """Forget everything (between tests that share one server)."""
        with self._lock:
            self.refund_limit = None
            self.fail_with = None
            self.refund_delay = 0.0
            self.sessions.clear()
            self.payment_intents.clear()
            self.refunds.clear()
            self.requests.clear()
            self._replies.clear()

    # -- what a test does on Stripe's side --------------------------------------------------------

    def pay(self, session_id: str) -> Json:
        """The payer paid: the session completes and gets a succeeded PaymentIntent."""
        with self._lock:
            session = self.sessions[session_id]
            intent_id = _new_id("pi")
            self.payment_intents[intent_id] = {
                "id": intent_id,
                "object": "payment_intent",
                "amount": session["amount_total"],
                "amount_refunded": 0,
                "currency": session["currency"],
                "status": "succeeded",
                "metadata": dict(session["metadata"]),
            }
            session.update(status="complete", payment_status="paid", payment_intent=intent_id)
            return dict(session)

    def event(self, event_type: str, session_id: str, *, event_id: str | None = None) -> Json:
        """A Stripe event about one session, as Stripe would post it to the webhook."""
        return {
            "id": event_id or _new_id("evt"),
            "object": "event",
            "api_version": "2025-01-27.acacia",
            "created": int(time.time()),
            "livemode": False,
            "type": event_type,
            "data": {"object": dict(self.sessions[session_id])},
        }

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path == path]

    # -- the API ----------------------------------------------------------------------------------

    async def _record(self, request: Request) -> tuple[RecordedRequest, JSONResponse | None]:
        body = (await request.body()).decode()
        form = dict(parse_qsl(body, keep_blank_values=True))
        if request.method == "GET":
            form = dict(request.query_params)
        recorded = RecordedRequest(
            method=request.method,
            path=request.url.path,
            form=form,
            idempotency_key=request.headers.get("idempotency-key"),
            authorization=request.headers.get("authorization"),
        )
        with self._lock:
            self.requests.append(recorded)
        if self.fail_with is not None:
            return recorded, _error(self.fail_with, "api_error", "fake outage")
        if self.api_key is not None and recorded.authorization != f"Bearer {self.api_key}":
            return recorded, _error(401, "invalid_request_error", "Invalid API Key provided")
        return recorded, None

    def _replay(self, recorded: RecordedRequest) -> JSONResponse | None:
        """Stripe's idempotency: the same key answers the first reply, other params are an error."""
        key = recorded.idempotency_key
        if key is None or key not in self._replies:
            return None
        form, status, body = self._replies[key]
        if form != recorded.form:
            return _error(
                400,
                "idempotency_error",
                "Keys for idempotent requests can only be used with the same parameters they "
                "were first used with.",
            )
        return JSONResponse(body, status, headers={"Idempotent-Replayed": "true"})

    def _remember(self, recorded: RecordedRequest, status: int, body: Json) -> JSONResponse:
        if recorded.idempotency_key is not None:
            self._replies[recorded.idempotency_key] = (recorded.form, status, body)
        return JSONResponse(body, status)

    async def _create_session(self, request: Request) -> JSONResponse:
        recorded, refused = await self._record(request)
        if refused is not None:
            return refused
        form = recorded.form
        with self._lock:
            replay = self._replay(recorded)
            if replay is not None:
                return replay
            session_id = _new_id("cs")
            unit_amount = int(form.get("line_items[0][price_data][unit_amount]", "0"))
            quantity = int(form.get("line_items[0][quantity]", "1"))
            session: Json = {
                "id": session_id,
                "object": "checkout.session",
                "mode": form.get("mode"),
                "status": "open",
                "payment_status": "unpaid",
                "amount_total": unit_amount * quantity,
                "currency": form.get("line_items[0][price_data][currency]"),
                "client_reference_id": form.get("client_reference_id"),
                "customer_email": form.get("customer_email"),
                "metadata": _metadata(form, "metadata"),
                "payment_intent": None,
                "success_url": form.get("success_url"),
                "cancel_url": form.get("cancel_url"),
                "expires_at": int(form.get("expires_at", int(time.time()) + 24 * 3600)),
                "url": f"https://checkout.example/c/pay/{session_id}",
                "livemode": False,
            }
            self.sessions[session_id] = session
            return self._remember(recorded, 200, dict(session))

    async def _get_session(self, request: Request) -> JSONResponse:
        _, refused = await self._record(request)
        if refused is not None:
            return refused
        session = self.sessions.get(request.path_params["id"])
        if session is None:
            return _error(
                404,
                "invalid_request_error",
                f"No such checkout.session: '{request.path_params['id']}'",
                code="resource_missing",
                param="session",
            )
        return JSONResponse(session)

    async def _create_refund(self, request: Request) -> JSONResponse:
        recorded, refused = await self._record(request)
        if refused is not None:
            return refused
        form = recorded.form
        with self._lock:
            replay = self._replay(recorded)
            if replay is not None:
                return replay
            intent = self.payment_intents.get(form.get("payment_intent", ""))
            if intent is None:
                return _error(
                    400,
                    "invalid_request_error",
                    f"No such payment_intent: '{form.get('payment_intent')}'",
                    code="resource_missing",
                    param="payment_intent",
                )
            left = intent["amount"] - intent["amount_refunded"]
            allowed = left if self.refund_limit is None else min(left, self.refund_limit)
            amount = int(form.get("amount", left))
            if amount > allowed:
                return _error(
                    400,
                    "invalid_request_error",
                    f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                    f"({allowed})",
                    param="amount",
                )
            intent["amount_refunded"] += amount
            refund_id = _new_id("re")
            refund: Json = {
                "id": refund_id,
                "object": "refund",
                "status": "succeeded",
                "amount": amount,
                "currency": intent["currency"],
                "payment_intent": intent["id"],
                "metadata": _metadata(form, "metadata"),
            }
            self.refunds[refund_id] = refund
            reply = self._remember(recorded, 200, dict(refund))
        if self.refund_delay:
            await asyncio.sleep(self.refund_delay)
        return reply
