"""Pure ASGI middleware: request ids and unexpected errors, body size limit, metrics, and the
retry of a request whose unit of work the database aborted."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Any

from prometheus_client import Counter, Histogram
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tribekit.kit.db import contention, is_retryable, retry_delay, sqlstate, unavailable
from tribekit.kit.errors import PayloadTooLarge, ServiceUnavailable, TribekitError
from tribekit.kit.logging import request_id_var

log = logging.getLogger("tribekit.api")
REDIS_UNAVAILABLE = "Redis is unavailable or all its connections are busy; retry in a moment"

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
    send: Send,
    status: int,
    code: str,
    title: str,
    detail: str,
    request_id: str,
    headers: dict[str, str] | None = None,
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
                *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _send_error(send: Send, error: TribekitError, request_id: str) -> None:
    await _send_problem(
        send, error.status, error.code, error.title, error.detail, request_id, error.headers
    )


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


class DatabaseErrorsMiddleware:
    """Runs a request again when PostgreSQL aborts its unit of work for a deadlock (40P01) or a
    serialization failure (40001), and answers 503 when no database connection could be had.

    A request is one unit of work, a function-scoped dependency that commits after the endpoint
    returns and before the response starts. So when the database aborts it (in a statement or
    in the commit), nothing was committed and nothing was sent: the whole request, routing,
    dependencies (a new session, a new transaction) and endpoint, runs again on the same body,
    after a short jittered pause, at most ``attempts`` times; then the answer is 503
    ``contention`` with ``Retry-After``. The outbox of an aborted run was dropped, so nothing
    that left the process is repeated. Pool timeouts, "too many clients" and lost connections
    become 503 ``unavailable`` with ``Retry-After``. Any other error goes on to
    ``RequestContextMiddleware`` (a 500).

    This is an ASGI middleware rather than a route class: FastAPI builds the ASGI app of an
    included route itself, and the commit happens outside the route handler."""

    def __init__(self, app: ASGIApp, attempts: int = 3) -> None:
        self.app = app
        self.attempts = attempts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = scope.get("state", {}).get("request_id", "")
        messages: list[Message] = []
        replay_from = 0
        started = False

        async def replay() -> Message:
            # Every run reads the same request body; the first run reads it from the client.
            nonlocal replay_from
            if replay_from < len(messages):
                replay_from += 1
                return messages[replay_from - 1]
            message = await receive()
            if message["type"] == "http.request":
                messages.append(message)
                replay_from += 1
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        attempt = 1
        while True:
            replay_from = 0
            try:
                await self.app(scope, replay, tracked_send)
                return
            except DBAPIError as exc:
                if started:
                    raise
                if is_retryable(exc):
                    if attempt >= self.attempts:
                        log.warning(
                            "unit of work aborted every time",
                            extra={"sqlstate": sqlstate(exc), "attempts": attempt},
                        )
                        await _send_error(send, contention(exc, attempt), request_id)
                        return
                    log.info(
                        "request retried", extra={"sqlstate": sqlstate(exc), "attempt": attempt}
                    )
                    await asyncio.sleep(retry_delay(attempt))
                    attempt += 1
                    continue
                if not await _unavailable(exc, send, request_id):
                    raise
                return
            except (SQLAlchemyError, ConnectionError, TimeoutError) as exc:
                if started or not await _unavailable(exc, send, request_id):
                    raise
                return
            except (RedisConnectionError, RedisTimeoutError) as exc:
                if started:
                    raise
                log.warning("no Redis connection", extra={"error": repr(exc)[:300]})
                await _send_error(send, ServiceUnavailable(REDIS_UNAVAILABLE), request_id)
                return


async def _unavailable(exc: BaseException, send: Send, request_id: str) -> bool:
    error = unavailable(exc)
    if error is None:
        return False
    log.warning("no database connection", extra={"error": repr(exc)[:300]})
    await _send_error(send, error, request_id)
    return True
