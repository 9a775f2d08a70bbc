"""One error hierarchy. Each error has a stable ``code``, an HTTP status and structured data.

The API face renders every one of them as RFC 9457 problem+json; the CLI prints the message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class FieldProblem:
    """One problem with one input field: where (``loc``), what is wrong and what to do."""

    loc: tuple[str | int, ...]
    message: str
    type: str = "invalid"

    def as_dict(self) -> dict[str, Any]:
        return {"loc": list(self.loc), "message": self.message, "type": self.type}


class TribekitError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[FieldProblem] | None = None,
        headers: dict[str, str] | None = None,
        **data: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}
        self.data = data


class MalformedBody(TribekitError):
    code = "malformed_body"
    title = "The request body could not be read"


class Unauthenticated(TribekitError):
    status = 401
    code = "unauthenticated"
    title = "Authentication required"


class PermissionDenied(TribekitError):
    status = 403
    code = "permission_denied"
    title = "Permission denied"


class NotFound(TribekitError):
    status = 404
    code = "not_found"
    title = "Not found"


class MethodNotAllowed(TribekitError):
    status = 405
    code = "method_not_allowed"
    title = "Method not allowed"


class Conflict(TribekitError):
    status = 409
    code = "conflict"
    title = "Conflict"


class IdempotencyInProgress(Conflict):
    code = "idempotency_in_progress"
    title = "A request with this idempotency key is being handled"


class PayloadTooLarge(TribekitError):
    status = 413
    code = "payload_too_large"
    title = "Payload too large"


class ValidationFailed(TribekitError):
    status = 422
    code = "validation_failed"
    title = "Validation failed"


class IdempotencyKeyReused(ValidationFailed):
    code = "idempotency_key_reused"
    title = "The idempotency key was used with a different request"


class RateLimited(TribekitError):
    status = 429
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)}, retry_after=retry_after)


class ServiceUnavailable(TribekitError):
    """Not the caller's fault and not a bug: a database or Redis connection could not be had
    in time. The same request may succeed after ``Retry-After`` seconds."""

    status = 503
    code = "unavailable"
    title = "Service temporarily unavailable"

    def __init__(self, detail: str, *, retry_after: int = 1) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)}, retry_after=retry_after)


class Contention(ServiceUnavailable):
    """The database aborted the work for a deadlock or a serialization failure, every time it
    was retried."""

    code = "contention"
    title = "Too much concurrent work on the same data"


def field_error(field: str, message: str, type: str = "invalid") -> ValidationFailed:
    """A 422 about one field of the request body."""
    return ValidationFailed(
        f"{field}: {message}", errors=[FieldProblem(("body", field), message, type)]
    )
