"""Every error becomes one RFC 9457 problem+json envelope with a stable ``code``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from tribekit.kit.errors import (
    FieldProblem,
    MalformedBody,
    MethodNotAllowed,
    NotFound,
    TribekitError,
    ValidationFailed,
)
from tribekit.kit.schemas import Problem

PROBLEM_MEDIA_TYPE = "application/problem+json"


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    errors: list[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
    request_id: str | None = None,
    extensions: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        **(extensions or {}),
        "type": f"urn:tribekit:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "errors": [error.as_dict() for error in errors or []],
    }
    if request_id:
        body["request_id"] = request_id
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def render(error: TribekitError, request: Request) -> JSONResponse:
    return problem_response(
        error.status,
        error.code,
        error.title,
        error.detail,
        errors=error.errors,
        headers=error.headers,
        request_id=_request_id(request),
        extensions=error.data,
    )


def _validation_problem(exc: RequestValidationError) -> TribekitError:
    problems: list[FieldProblem] = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        if err.get("type") == "json_invalid":
            position = err.get("ctx", {}).get("error", "invalid JSON")
            return MalformedBody(f"the body is not valid JSON ({position}); send a JSON object")
        message = str(err.get("msg", "invalid"))
        kind = str(err.get("type", "invalid"))
        if kind == "extra_forbidden":
            message = "unknown field; remove it (check its spelling against the API docs)"
        elif kind == "missing":
            message = "this field is required"
        problems.append(FieldProblem(loc, message, kind))
    summary = "; ".join(
        f"{'.'.join(str(part) for part in p.loc[1:]) or p.loc[0]}: {p.message}"
        for p in problems[:5]
    )
    return ValidationFailed(f"the request is not valid: {summary}", errors=problems)


_HTTP_STATUS_ERRORS: dict[int, type[TribekitError]] = {404: NotFound, 405: MethodNotAllowed}
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path. The router's own 405 names only the first
    route whose path matched, and FastAPI makes one route per method."""
    allowed = []
    for method in _METHODS:
        probe = {**request.scope, "method": method}
        probe.pop("fastapi", None)  # FastAPI keeps routing state here; probe on a clean scope
        if any(route.matches(probe)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


def install(app: FastAPI) -> None:
    @app.exception_handler(TribekitError)
    async def _tribekit_error(request: Request, exc: TribekitError) -> JSONResponse:
        return render(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return render(_validation_problem(exc), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error_class = _HTTP_STATUS_ERRORS.get(exc.status_code)
        if error_class is NotFound:
            detail = f"no such endpoint: {request.method} {request.url.path}"
        elif error_class is MethodNotAllowed:
            allow = allowed_methods(request)
            detail = (
                f"{request.method} is not allowed on {request.url.path}; use {' or '.join(allow)}"
            )
            return render(MethodNotAllowed(detail, headers={"Allow": ", ".join(allow)}), request)
        else:
            detail = str(exc.detail)
        if error_class is not None:
            return render(error_class(detail, headers=dict(exc.headers or {})), request)
        return problem_response(
            exc.status_code,
            "http_error",
            "HTTP error",
            detail,
            headers=dict(exc.headers or {}),
            request_id=_request_id(request),
        )


def problem_doc(description: str) -> dict[str, Any]:
    """A documented error response: the problem envelope, with the codes it may carry."""
    return {"model": Problem, "description": description, "content": {PROBLEM_MEDIA_TYPE: {}}}


def openapi_with_problems(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, with error responses typed ``application/problem+json`` only.

    FastAPI files a response ``model`` under ``application/json``; our errors are never sent
    as that, so the schema is moved to the media type that is really sent."""
    if app.openapi_schema is None:
        spec = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        for path in spec.get("paths", {}).values():
            for operation in path.values():
                for response in operation.get("responses", {}).values():
                    content = response.get("content", {})
                    if PROBLEM_MEDIA_TYPE in content and "application/json" in content:
                        content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
        app.openapi_schema = spec
    return app.openapi_schema


#: Documented on every API route, so that clients see the one envelope in OpenAPI.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: problem_doc("Malformed request (for example a body that is not JSON)"),
    401: problem_doc("Missing, unknown, expired or revoked credential"),
    403: problem_doc("The caller's role does not allow this"),
    404: problem_doc("No such object at the caller's merchant"),
    409: problem_doc("Conflicts with the current state (duplicate, concurrent change)"),
    413: problem_doc("Request body larger than the configured limit"),
    422: problem_doc("Field-level validation problems, listed in `errors`"),
    429: problem_doc("Rate limited; retry after the `Retry-After` header's seconds"),
    500: problem_doc("Unexpected error; quote `request_id` when reporting it"),
    503: problem_doc(
        "No database or Redis connection could be had in time (`unavailable`), or the database "
        "aborted the work for concurrent changes every time it was retried (`contention`); "
        "retry after the `Retry-After` header's seconds"
    ),
}
