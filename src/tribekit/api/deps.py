"""FastAPI dependencies: the request's unit of work, the caller, permissions, rate limits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.encoders import jsonable_encoder
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.routing import BaseRoute

from tribekit.kit.errors import FieldProblem, RateLimited, Unauthenticated, ValidationFailed
from tribekit.kit.idempotency import MAX_KEY_LENGTH
from tribekit.kit.pagination import MAX_LIMIT
from tribekit.kit.ratelimit import RateLimiter
from tribekit.kit.schemas import NUL_MESSAGE, has_nul
from tribekit.members import access
from tribekit.members.access import MemberPrincipal
from tribekit.tenancy import auth
from tribekit.tenancy.permissions import Permission
from tribekit.tenancy.principal import Principal, Tenant

from .state import AppState

API_PREFIX = "/api/v1"


async def app_state(request: Request) -> AppState:
    # async: FastAPI runs a plain ``def`` dependency in its thread pool, a hop per request.
    state: AppState = request.app.state.tribekit
    return state


State = Annotated[AppState, Depends(app_state)]

#: Methods that read: their unit of work opens no transaction (``Database.unit_of_work``).
READ_METHODS = frozenset({"GET", "HEAD"})


async def _unit_of_work(request: Request) -> AsyncIterator[AsyncSession]:
    db = request.app.state.tribekit.db  # not through ``State``: one dependency less to solve
    async with db.unit_of_work(read_only=request.method in READ_METHODS) as session:
        yield session


# scope="function": commit (or roll back) before the response is sent, so a client never sees a
# success for work that failed to commit.
DbSession = Annotated[AsyncSession, Depends(_unit_of_work, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer tkt_...`")
_cookie = APIKeyCookie(name=auth.SESSION_COOKIE, auto_error=False, description="Web UI session")


async def limit(
    state: AppState,
    key: str,
    per_minute: int,
    what: str,
    *,
    record: bool = True,
    limiter: RateLimiter | None = None,
) -> None:
    decision = await (limiter or state.limiter).hit(key, limit=per_minute, period=60, record=record)
    if not decision.allowed:
        raise RateLimited(
            f"too many {what}; try again in {decision.retry_after} s",
            retry_after=decision.retry_after,
        )


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _credentials(request: Request) -> tuple[str | None, str | None]:
    """The bearer token and the session cookie sent, as ``_bearer`` and ``_cookie`` read them.

    Read here rather than solved as two security dependencies on every request (a tenth of a
    member read's CPU); ``staff_security`` puts both schemes into OpenAPI as they would have
    been."""
    bearer = None
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and credentials:
            bearer = credentials
    return bearer, request.cookies.get(auth.SESSION_COOKIE) or None


async def current_principal(request: Request, session: DbSession) -> Principal:
    """The caller, from a bearer token or a session cookie. Failed attempts are rate limited per
    client address; token use is rate limited per token.

    A credential this process checked in the last few seconds (``PrincipalCache``) is known
    good and costs no database work, so the failed-attempt limit is not asked for it; any other
    credential is refused before any look-up while its address is over that limit, and its
    failure is counted."""
    bearer, cookie = _credentials(request)
    if bearer is None and cookie is None:
        raise Unauthenticated(
            "sign in or send an API token: 'Authorization: Bearer tkt_...'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return await _principal_of(request, session, bearer, cookie)


async def _principal_of(
    request: Request, session: AsyncSession, bearer: str | None, cookie: str | None
) -> Principal:
    state: AppState = request.app.state.tribekit  # not through ``State``: one solve less
    secret = bearer if bearer is not None else cookie
    assert secret is not None
    principal = auth.cached_principal(
        state.principals, state.secret_key, secret, bearer=bearer is not None
    )
    if principal is None:
        ip = client_ip(request)
        failures_per_minute = state.settings.failed_auth_rate_limit
        await limit(state, f"authfail:{ip}", failures_per_minute, "failed sign-ins", record=False)
        try:
            if bearer is not None:
                principal = await auth.authenticate_token(
                    session, state.secret_key, secret, state.principals
                )
            else:
                principal = await auth.authenticate_session(
                    session, state.secret_key, secret, state.principals
                )
        except Unauthenticated:
            await limit(state, f"authfail:{ip}", failures_per_minute, "failed sign-ins")
            raise
    if bearer is not None:
        per_minute = state.settings.token_rate_limit
        key = f"token:{principal.credential_id}"
        await limit(state, key, per_minute, "requests", limiter=state.token_limiter)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def optional_principal(request: Request, session: DbSession) -> Principal | None:
    """The caller if it sent a credential (which must then be valid), else None: for the few
    routes anyone may call that act differently for a signed-in caller."""
    bearer, cookie = _credentials(request)
    if bearer is None and cookie is None:
        return None
    return await _principal_of(request, session, bearer, cookie)


OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]


def staff_security(spec: dict[str, Any], routes: Sequence[BaseRoute]) -> dict[str, Any]:
    """``spec`` with the staff credentials (``_bearer``, ``_cookie``) documented on every
    operation that takes ``current_principal`` or ``optional_principal``, as FastAPI documents
    security dependencies: the schemes under ``components.securitySchemes``, and each such
    operation's ``security`` listing them. Idempotent."""
    schemes = {
        scheme.scheme_name: jsonable_encoder(scheme.model, by_alias=True, exclude_none=True)
        for scheme in (_bearer, _cookie)
    }
    requirement: list[dict[str, list[str]]] = [{name: []} for name in schemes]
    used = False
    for route in iter_route_contexts(routes):  # included routers' routes too, as OpenAPI does
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        if not _takes_staff_principal(route.dependant):
            continue
        for method in route.methods or ():
            operation = spec["paths"][route.path_format][method.lower()]
            security = operation.setdefault("security", [])
            security[:0] = [r for r in requirement if r not in security]
            used = True
    if used:
        documented = spec.setdefault("components", {}).setdefault("securitySchemes", {})
        for name, scheme in schemes.items():
            # The member routes' cookie has the same default scheme name, APIKeyCookie: where
            # FastAPI documented theirs, it stays, as it did when both were dependencies.
            documented.setdefault(name, scheme)
    return spec


def _takes_staff_principal(dependant: Dependant) -> bool:
    return any(
        sub.call in (current_principal, optional_principal) or _takes_staff_principal(sub)
        for sub in dependant.dependencies
    )


_member_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="MemberToken",
    description="A member link or session token: `Authorization: Bearer tkm_...`",
)
_member_cookie = APIKeyCookie(
    name=access.MEMBER_COOKIE, auto_error=False, description="Member session"
)


async def current_member(
    request: Request,
    state: State,
    session: DbSession,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_member_bearer)],
    cookie: Annotated[str | None, Depends(_member_cookie)],
) -> MemberPrincipal:
    """The member acting for themselves, from a signed link token or a member session."""
    token = bearer.credentials if bearer is not None else cookie
    if token is None:
        raise Unauthenticated(
            "open the link the shop sent you, or send 'Authorization: Bearer tkm_...'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    ip = client_ip(request)
    failures_per_minute = state.settings.failed_auth_rate_limit
    await limit(state, f"authfail:{ip}", failures_per_minute, "failed sign-ins", record=False)
    try:
        return await access.authenticate(session, state.secret_key, token)
    except Unauthenticated:
        await limit(state, f"authfail:{ip}", failures_per_minute, "failed sign-ins")
        raise


CurrentMember = Annotated[MemberPrincipal, Depends(current_member)]


def authorized(permission: Permission) -> Any:
    """A dependency giving the caller's merchant, once the caller's role allows ``permission``."""

    async def dependency(principal: CurrentPrincipal) -> Tenant:
        return principal.require(permission)

    return Depends(dependency)


async def reject_nul_in_query(request: Request) -> None:
    """Applied to every route: a NUL character can never be a meaningful query value."""
    for name, value in request.query_params.multi_items():
        if has_nul(name) or has_nul(value):
            raise ValidationFailed(
                f"query parameter {name!r}: {NUL_MESSAGE}",
                errors=[FieldProblem(("query", name), NUL_MESSAGE, "nul")],
            )


PageLimit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page")]
Cursor = Annotated[
    str | None, Query(max_length=64, description="`next_cursor` of the previous page")
]

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        pattern=r"^[\x21-\x7e]+$",
        description="A key you choose per business event (e.g. a UUID). The same key with the "
        "same request returns the first result; with a different request it is refused (422).",
    ),
]


IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", description='The version read (the ETag of a GET, e.g. "3")'),
]


def version_of(if_match: str | None) -> int | None:
    """The version an ``If-Match`` header names (``"3"``, ``W/"3"``), None without one; a 422
    for anything else."""
    if if_match is None:
        return None
    raw = if_match.strip().removeprefix("W/").strip('"')
    if not raw.isdigit() or len(raw) > 9:
        message = f'{if_match!r} is not a version such as "3"'
        raise ValidationFailed(
            f"If-Match: {message}", errors=[FieldProblem(("header", "If-Match"), message)]
        )
    return int(raw)
