"""Pure ASGI middleware: request ids and unexpected errors, body size limit, metrics."""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tribekit.kit.errors import PayloadTooLarge, TribekitError
from tribekit.kit.logging import request_id_var

log = logging.getLogger("tribekit.api")

REQUESTS = Counter("tribekit_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "tribekit_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def _problem_bytes(status: int, code: str, title: str, detail: str, request_id: str) -> bytes:
    return json.dumps(
        {
            "type": f"urn:tribekit:problem:{code}",
            "title": title,
            "status": status,
            "detail": detail,
            "code": code,
            "errors": [],
            "request_id": request_id,
        }
    ).encode()


async def _send_problem(
    send: Send, status: int, code: str, title: str, detail: str, request_id: str
) -> None:
    body = _problem_bytes(status, code, title, detail, request_id)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _send_error(send: Send, error: TribekitError, request_id: str) -> None:
    await _send_problem(send, error.status, error.code, error.title, error.detail, request_id)


class RequestContextMiddleware:
    """Gives every request an id (``X-Request-ID``, taken from the caller if sane), puts it in the
    logs and the response, records metrics, and turns an unexpected exception into a 500 envelope
    that shows the id but no internals."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if 0 < len(given) <= 64 and given.isprintable() else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = list(message.get("headers", []))
                if all(name.lower() != b"x-request-id" for name, _ in headers):
                    headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error", extra={"path": scope.get("path")})
            if response_started:
                raise
            status = 500
            await _send_problem(
                send,
                500,
                "internal_error",
                "Internal server error",
                f"something went wrong on our side; quote request id {request_id} to report it",
                request_id,
            )
        finally:
            route = _route_template(scope)
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(scope["method"], route).observe(time.perf_counter() - started)


def _route_template(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


class BodyLimitMiddleware:
    """Refuses bodies over ``max_bytes`` with a 413 envelope, before any handler reads them.

    Bodies are read here in full (they are small by policy) and replayed to the application."""

    #: Routes that take files (product images, CSV imports) get ``upload_max_bytes`` instead.
    UPLOAD_SUFFIXES = ("/images", "/import")

    def __init__(self, app: ASGIApp, max_bytes: int, upload_max_bytes: int | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_max_bytes = max_bytes if upload_max_bytes is None else upload_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        request_id = scope.get("state", {}).get("request_id", "")
        path: str = scope.get("path", "")
        limit = self.upload_max_bytes if path.endswith(self.UPLOAD_SUFFIXES) else self.max_bytes
        too_large = f"the request body is larger than {limit} bytes; send less data per request"
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _send_error(send, PayloadTooLarge(too_large), request_id)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _send_error(send, PayloadTooLarge(too_large), request_id)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
