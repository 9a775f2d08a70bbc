"""The web community's pages: the group page, its history, posting, the live stream, and the
moderation controls. Server-rendered (Jinja2); HTMX swaps fragments and listens to the stream.

Who is calling comes from a cookie: the staff session (``tribekit_session``) or the member
session (``tribekit_member``), which a member gets by opening their signed link
(``/c/<id>?t=tkm_...``: traded for the cookie, then redirected without the token). Every form
carries a CSRF token (``csrf.py``). A page that fails answers an HTML page (or, to HTMX, a
fragment) with the error's status and message; these routes are pages, not API operations,
so they stay out of the OpenAPI document.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession
from sse_starlette import EventSourceResponse, ServerSentEvent

from tribekit.api.deps import DbSession, State, client_ip, limit
from tribekit.api.state import AppState
from tribekit.kit.errors import TribekitError, Unauthenticated
from tribekit.members import access
from tribekit.models.communities import Community
from tribekit.models.web import WebMessage
from tribekit.robot.channels.web import CHANGES, MAX_TEXT, WebChannel
from tribekit.tenancy import auth
from tribekit.tenancy.principal import Tenant

from . import csrf, service
from .i18n import html_lang, translations
from .service import PostHook, Standing, Viewer

PACKAGE = Path(__file__).parent
STATIC_DIR = PACKAGE / "static"
templates = Environment(
    loader=FileSystemLoader(PACKAGE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _local(moment: datetime, timezone: str, pattern: str) -> str:
    """A stored UTC time in the merchant's timezone."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return moment.astimezone(zone).strftime(pattern)


templates.filters["local"] = _local

router = APIRouter(prefix="/c", include_in_schema=False)


@dataclass
class WebConfig:
    """What the app gives the web community (``app.state.web``): the robot pipeline's hook for
    each post (None: posts are stored and recorded, nothing more), the posts a member may send
    per minute, how often the live stream looks for changes, and how often at least it reads a
    member's standing (a ban or mute decided in another group, a mute that ran out)."""

    on_post: PostHook | None = None
    posts_per_minute: int = 20
    poll_seconds: float = 0.3
    standing_seconds: float = 1.0
    ping_seconds: int = 15


def _config(request: Request) -> WebConfig:
    config: WebConfig = request.app.state.web
    return config


def _channel(state: AppState) -> WebChannel:
    found = state.channels.get("web")
    if not isinstance(found, WebChannel):
        raise TribekitError("the web channel is not set up in this process")
    return found


# ---- who is calling ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    viewer: Viewer
    community: Community
    secret: str  # the session cookie the CSRF token is tied to


async def _caller(
    request: Request, session: AsyncSession, state: AppState, community_id: uuid.UUID
) -> Caller:
    """The staff user or member calling about this group; 404 if it is not theirs to see."""
    staff_secret = request.cookies.get(auth.SESSION_COOKIE)
    if staff_secret:
        try:
            principal = await auth.authenticate_session(
                session, state.secret_key, staff_secret, state.principals
            )
        except Unauthenticated:
            principal = None  # an old staff session: the member cookie may still do
        if principal is not None and principal.tenant is not None:
            community = await service.group(session, principal.tenant, community_id)
            viewer = await service.staff_viewer(session, principal, community)
            return Caller(viewer, community, staff_secret)
    member_secret = request.cookies.get(access.MEMBER_COOKIE)
    if not member_secret:
        raise Unauthenticated("open the link the shop sent you to join this group")
    member = await _member(request, session, state, member_secret)
    community = await service.group(session, member.tenant, community_id)
    viewer = await service.member_viewer(session, member.tenant, community, member.member_id)
    return Caller(viewer, community, member_secret)


async def _member(
    request: Request, session: AsyncSession, state: AppState, token: str
) -> access.MemberPrincipal:
    """The member of a link or session token; failures are rate limited per address."""
    ip = client_ip(request)
    per_minute = state.settings.failed_auth_rate_limit
    await limit(state, f"authfail:{ip}", per_minute, "failed sign-ins", record=False)
    try:
        return await access.authenticate(session, state.secret_key, token)
    except Unauthenticated:
        await limit(state, f"authfail:{ip}", per_minute, "failed sign-ins")
        raise


# ---- rendering -----------------------------------------------------------------------------------


def _htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _context(state: AppState, caller: Caller, **extra: Any) -> dict[str, Any]:
    language = caller.community.language
    gettext = translations(language).gettext
    return {
        "_": gettext,
        "lang": html_lang(language),
        "community": caller.community,
        "viewer": caller.viewer,
        "csrf": csrf.token(state.secret_key, caller.secret),
        "max_text": MAX_TEXT,
        **extra,
    }


def _render(name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    return HTMLResponse(templates.get_template(name).render(context), status_code=status)


def _error(request: Request, exc: TribekitError, language: str = "en") -> HTMLResponse:
    context = {"_": translations(language).gettext, "lang": html_lang(language), "error": exc}
    name = "_error.html" if _htmx(request) else "error.html"
    response = _render(name, context, exc.status)
    for header, value in (exc.headers or {}).items():
        response.headers[header] = value
    return response


def _with_csrf_cookie(response: Response, state: AppState, caller: Caller) -> Response:
    response.set_cookie(
        csrf.COOKIE,
        csrf.token(state.secret_key, caller.secret),
        httponly=True,
        samesite="strict",
        secure=state.settings.is_production,
        path="/c",
    )
    return response


# ---- pages ---------------------------------------------------------------------------------------


@router.get("/{community_id}", response_class=HTMLResponse)
async def group_page(
    community_id: uuid.UUID,
    request: Request,
    session: DbSession,
    state: State,
    t: Annotated[str | None, Query(max_length=1000)] = None,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """The group: its history (newest page, or the page before ``before``), the post form and
    the live stream. ``?t=tkm_...`` trades a member link for the member session first."""
    try:
        if t is not None:
            return await _trade_link(request, session, state, community_id, t)
        caller = await _caller(request, session, state, community_id)
        context = _context(state, caller)
        if caller.viewer.standing.reads:
            messages, older = await service.history(
                session, caller.viewer.tenant, caller.community, before_seq=before
            )
            cursor = await service.last_change(session, caller.viewer.tenant, caller.community)
            context.update(messages=messages, older=older, cursor=cursor)
        return _with_csrf_cookie(_render("group.html", context), state, caller)
    except TribekitError as exc:
        return _error(request, exc)


async def _trade_link(
    request: Request, session: AsyncSession, state: AppState, community_id: uuid.UUID, token: str
) -> Response:
    member = await _member(request, session, state, token)
    community = await service.group(session, member.tenant, community_id)
    await service.came_back(session, member.tenant, community, member.member_id)
    return signed_in(state, member, f"/c/{community.id}")


def signed_in(state: AppState, member: access.MemberPrincipal, back_to: str) -> Response:
    """The member's session cookie, set on the way back to ``back_to`` (without the token)."""
    secret, expires_at = access.start_session(state.secret_key, member)
    response = RedirectResponse(back_to, status_code=303)
    response.set_cookie(
        access.MEMBER_COOKIE,
        secret,
        expires=expires_at,
        httponly=True,
        samesite="lax",
        secure=state.settings.is_production,
    )
    response.headers["Referrer-Policy"] = "no-referrer"  # the link's token stays out of logs
    return response


@router.get("/{community_id}/messages", response_class=HTMLResponse)
async def older_messages(
    community_id: uuid.UUID,
    request: Request,
    session: DbSession,
    state: State,
    before: Annotated[int, Query(ge=1)],
) -> Response:
    """A page of older messages as a fragment (the "older" link's target)."""
    try:
        caller = await _caller(request, session, state, community_id)
        service.check_may_read(caller.viewer)
        messages, older = await service.history(
            session, caller.viewer.tenant, caller.community, before_seq=before
        )
        context = _context(state, caller, messages=messages, older=older)
        return _render("_older.html", context)
    except TribekitError as exc:
        return _error(request, exc)


async def _form(request: Request) -> tuple[str | None, dict[str, str]]:
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    return values.get(csrf.FIELD), values


@router.post("/{community_id}/messages", response_class=HTMLResponse)
async def post_message(
    community_id: uuid.UUID,
    request: Request,
    session: DbSession,
    state: State,
    text: Annotated[str, Form(max_length=MAX_TEXT * 4)] = "",
    csrf_token: Annotated[str | None, Form(alias="csrf", max_length=100)] = None,
    reply_to: Annotated[uuid.UUID | None, Form()] = None,
) -> Response:
    """Post a message; HTMX gets a fresh form back (the message arrives on the stream)."""
    language = "en"
    try:
        caller = await _caller(request, session, state, community_id)
        language = caller.community.language
        csrf.check(state.secret_key, caller.secret, csrf_token, request.cookies.get(csrf.COOKIE))
        service.check_may_post(caller.viewer)
        config = _config(request)
        await limit(
            state, f"web-post:{caller.viewer.member_id}", config.posts_per_minute, "messages"
        )
        await service.post(
            session,
            caller.viewer,
            caller.community,
            text,
            channel=_channel(state),
            on_post=config.on_post,
            reply_to=reply_to,
        )
    except TribekitError as exc:
        if _htmx(request) and exc.status < 500:
            await session.rollback()
            return _form_fragment(request, state, community_id, language, text, exc)
        raise_or = _error(request, exc, language)
        await session.rollback()
        return raise_or
    if _htmx(request):
        return _render("_form.html", _context(state, caller, text="", error=None))
    return RedirectResponse(f"/c/{community_id}", status_code=303)


def _form_fragment(
    request: Request,
    state: AppState,
    community_id: uuid.UUID,
    language: str,
    text: str,
    exc: TribekitError,
) -> HTMLResponse:
    """The post form again, with what was typed and why it was refused."""
    secret = request.cookies.get(access.MEMBER_COOKIE) or ""
    context = {
        "_": translations(language).gettext,
        "community": {"id": community_id},
        "csrf": csrf.token(state.secret_key, secret) if secret else "",
        "max_text": MAX_TEXT,
        "text": text[: MAX_TEXT * 2],
        "error": exc,
    }
    response = _render("_form.html", context, exc.status)
    for header, value in (exc.headers or {}).items():
        response.headers[header] = value
    return response


async def _moderate(
    request: Request,
    session: AsyncSession,
    state: AppState,
    community_id: uuid.UUID,
    message_id: uuid.UUID,
    csrf_token: str | None,
    act: Callable[..., Any],
) -> Response:
    language = "en"
    try:
        caller = await _caller(request, session, state, community_id)
        language = caller.community.language
        csrf.check(state.secret_key, caller.secret, csrf_token, request.cookies.get(csrf.COOKIE))
        await act(session, caller.viewer, caller.community, message_id)
    except TribekitError as exc:
        await session.rollback()
        return _error(request, exc, language)
    if _htmx(request):
        label = translations(language).gettext("Removing…")
        return HTMLResponse(f'<span class="pending">{label}</span>', 202)
    return RedirectResponse(f"/c/{community_id}", status_code=303)


@router.post("/{community_id}/messages/{message_id}/delete", response_class=HTMLResponse)
async def delete_message(
    community_id: uuid.UUID,
    message_id: uuid.UUID,
    request: Request,
    session: DbSession,
    state: State,
    csrf_token: Annotated[str | None, Form(alias="csrf", max_length=100)] = None,
) -> Response:
    """Staff or a leader removes a message: the robot owes the removal (the worker does it)."""
    return await _moderate(
        request, session, state, community_id, message_id, csrf_token, service.owe_delete
    )


@router.post("/{community_id}/messages/{message_id}/ban", response_class=HTMLResponse)
async def ban_author(
    community_id: uuid.UUID,
    message_id: uuid.UUID,
    request: Request,
    session: DbSession,
    state: State,
    csrf_token: Annotated[str | None, Form(alias="csrf", max_length=100)] = None,
) -> Response:
    """Staff or a leader bans the message's author from the group and removes the message."""
    return await _moderate(
        request, session, state, community_id, message_id, csrf_token, service.owe_ban_author
    )


# ---- the live stream -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Look:
    changed: Sequence[WebMessage]
    standing: Standing | None  # None: not read this time


async def _look(
    session: AsyncSession,
    *,
    tenant: Tenant,
    community: uuid.UUID,
    after: int,
    member_id: uuid.UUID | None,
    standing_due: bool,
) -> _Look:
    """The group's changes after ``after``, and the member's standing when it is due or when
    something changed (a strike's ban commits with the post that earned it)."""
    changed = await service.changes(session, tenant, community, after)
    standing = None
    if member_id is not None and (changed or standing_due):
        standing = await service.standing_of(session, tenant, community, member_id)
    return _Look(changed, standing)


@router.get("/{community_id}/stream")
async def stream(
    community_id: uuid.UUID,
    request: Request,
    state: State,
    after: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """Server-sent events (event ``message``): each new or removed message as an HTML fragment
    (its id is the change number, so a reconnecting browser resumes after it), and a member's
    change of standing as an out-of-band swap: a mute swaps the post form for the notice (and
    back when it ends); a ban or a removal swaps the page for the notice, and the stream ends
    (the event source goes with the page it was on)."""
    db = state.db

    async def who(session: AsyncSession) -> Caller:
        return await _caller(request, session, state, community_id)

    try:
        caller = await db.run(who, read_only=True)
        service.check_may_read(caller.viewer)
    except TribekitError as exc:
        return _error(request, exc)
    resume = request.headers.get("last-event-id", "")
    cursor = int(resume) if resume.isdigit() else after
    config = _config(request)
    context = _context(state, caller)
    fragment = templates.get_template("_message.html")
    tenant, member_id = caller.viewer.tenant, caller.viewer.member_id
    loop = asyncio.get_running_loop()
    # A member's standing is read at least every ``standing_seconds``: no wait is longer.
    wait = config.poll_seconds
    if member_id is not None:
        wait = min(wait, config.standing_seconds)

    async def events() -> AsyncIterator[ServerSentEvent]:
        with CHANGES.reading(community_id) as woken:
            after, viewer = cursor, caller.viewer
            standing_read = loop.time()
            while True:
                woken.clear()  # a change committed from here on wakes the wait below
                # One short read unit of work per look: no connection is held between looks.
                due = loop.time() - standing_read >= config.standing_seconds
                look = await db.run(
                    partial(
                        _look,
                        tenant=tenant,
                        community=community_id,
                        after=after,
                        member_id=member_id,
                        standing_due=due,
                    ),
                    read_only=True,
                )
                if look.standing is not None:
                    standing_read = loop.time()
                    if look.standing != viewer.standing:
                        viewer = replace(viewer, standing=look.standing)
                        live = {**context, "viewer": viewer, "live": True}
                        if not look.standing.reads:
                            html = templates.get_template("_barred.html").render(live)
                            yield ServerSentEvent(data=html, event="message")
                            return
                        html = templates.get_template("_compose.html").render(live)
                        yield ServerSentEvent(data=html, event="message")
                if look.changed:
                    # A removal replaces the message where the reader has it (out of band); one
                    # posted after the reader's cursor was never seen: it is added, as removed.
                    html = "".join(
                        fragment.render({**context, "message": m, "live": m.seq <= after})
                        for m in look.changed
                    )
                    after = look.changed[-1].rev
                    yield ServerSentEvent(data=html, event="message", id=str(after))
                    continue
                # Woken by a change made in this process, else the next poll.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), wait)

    return EventSourceResponse(
        events(), ping=config.ping_seconds, headers={"Cache-Control": "no-store"}
    )
