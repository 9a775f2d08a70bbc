"""Members' campaign pages: a flash sale (countdown, units left, the buy button, paying the
reservation), a group-buy team (progress, the share link, joining) and a coupon's claim link.
Server-rendered like the web community; one small script (``campaigns.js``) buys, joins, claims
and pays through the API and follows a flash sale's live state by server-sent events.

Who is looking comes from the member session cookie, which a member gets by opening the link
the robot sent (``/m/...?t=tkm_...``: traded for the cookie, then redirected without the
token). Anyone may look; buying needs the session. These are pages, not API operations, so
they stay out of the OpenAPI document.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession
from sse_starlette import EventSourceResponse, ServerSentEvent

from tribekit.api.deps import DbSession, State
from tribekit.api.state import AppState
from tribekit.campaigns.coupons import grants as coupon_grants
from tribekit.campaigns.flash import service as flash
from tribekit.campaigns.flash.engine import SaleStatus
from tribekit.campaigns.flash.router import current_runtime
from tribekit.campaigns.flash.service import LiveState
from tribekit.campaigns.group_buys import joining, tiers
from tribekit.campaigns.group_buys.joining import TeamProgress
from tribekit.kit import clock
from tribekit.kit.errors import NotFound, TribekitError
from tribekit.kit.money import Money
from tribekit.members import access
from tribekit.models.campaigns import GroupBuy
from tribekit.models.coupons import Coupon
from tribekit.models.enums import CouponKind
from tribekit.models.members import Member
from tribekit.models.tenancy import Merchant
from tribekit.tenancy.principal import Tenant

from .i18n import html_lang, translations
from .router import _member, signed_in, templates

router = APIRouter(prefix="/m", include_in_schema=False)

#: How often a flash sale's page is told the units left and the status.
LIVE_EVERY_SECONDS = 1.0
#: Statuses after which a sale's stream has nothing more to say.
FINAL = (SaleStatus.ENDED, SaleStatus.CANCELLED)


def language_of(merchant: Merchant) -> str:
    """The page language of a shop's locale (``zh_CN``, ``zh-CN`` -> zh-CN; else en)."""
    return "zh-CN" if merchant.locale.replace("_", "-").lower().startswith("zh") else "en"


@dataclass(frozen=True)
class Visitor:
    """Who opened the page: a member of the shop (signed in) or anyone (``member_id`` None)."""

    merchant: Merchant
    member_id: uuid.UUID | None
    name: str | None

    @property
    def language(self) -> str:
        return language_of(self.merchant)


async def _visitor(
    request: Request, session: AsyncSession, state: AppState, merchant_id: uuid.UUID
) -> Visitor:
    merchant = await session.get(Merchant, merchant_id)
    if merchant is None:
        raise NotFound("this page does not exist")
    secret = request.cookies.get(access.MEMBER_COOKIE)
    if secret:
        try:
            member = await access.authenticate(session, state.secret_key, secret)
        except TribekitError:
            member = None  # an old or foreign session: the page is shown as to anyone
        if member is not None and member.tenant.id == merchant_id:
            row = await session.get(Member, member.member_id)
            return Visitor(merchant, member.member_id, row.display_name if row else None)
    return Visitor(merchant, None, None)


async def _trade_link(
    request: Request, session: AsyncSession, state: AppState, token: str, back_to: str
) -> Response:
    """A member's signed link becomes their member session; the token leaves the address."""
    return signed_in(state, await _member(request, session, state, token), back_to)


def _page(name: str, visitor: Visitor, status: int = 200, **extra: Any) -> HTMLResponse:
    gettext = translations(visitor.language).gettext
    context = {"_": gettext, "lang": html_lang(visitor.language), "visitor": visitor, **extra}
    html = templates.get_template(name).render(context)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def _error(exc: TribekitError, language: str = "en") -> HTMLResponse:
    context = {"_": translations(language).gettext, "lang": html_lang(language), "error": exc}
    return HTMLResponse(templates.get_template("error.html").render(context), exc.status)


def _money(amount: int, currency: str, language: str) -> str:
    return Money(amount, currency).format("zh_CN" if language == "zh-CN" else "en")


def live_json(live: LiveState) -> str:
    """What the page's script reads of a sale, every second."""
    return json.dumps(
        {
            "status": live.status.value,
            "left": live.left,
            "seconds_to_start": live.seconds_to_start,
            "seconds_to_end": live.seconds_to_end,
        }
    )


# ---- flash sales -------------------------------------------------------------------------------


@router.get("/flash/{sale_id}", response_class=HTMLResponse)
async def flash_page(
    sale_id: uuid.UUID,
    request: Request,
    session: DbSession,
    state: State,
    t: Annotated[str | None, Query(max_length=1000)] = None,
) -> Response:
    """A flash sale: price, countdown, units left and the buy button (for a signed-in member
    of the shop). ``?t=tkm_...`` trades a member link for the member session first."""
    try:
        if t is not None:
            return await _trade_link(request, session, state, t, f"/m/flash/{sale_id}")
        runtime = await current_runtime(request)
        sale = await runtime.live.get(sale_id)
        if sale is None:
            raise NotFound(f"no flash sale with id {sale_id}")
        live = await flash.live_state(runtime, sale_id)
        visitor = await _visitor(request, session, state, sale.merchant_id)
    except TribekitError as exc:
        return _error(exc)
    language = visitor.language
    return _page(
        "flash.html",
        visitor,
        sale=live,
        live=live_json(live),
        price=_money(live.price, live.currency, language),
        regular_price=_money(live.regular_price, live.currency, language),
        discounted=live.price < live.regular_price,
    )


@router.get("/flash/{sale_id}/stream")
async def flash_stream(sale_id: uuid.UUID, request: Request) -> Response:
    """Server-sent events (event ``state``): the sale's status, units left and countdown, once
    a second from this process's live view (no database read per look), until it ends."""
    runtime = await current_runtime(request)
    try:
        first = await flash.live_state(runtime, sale_id)
    except TribekitError as exc:
        return _error(exc)

    async def events() -> AsyncIterator[ServerSentEvent]:
        live = first
        while True:
            yield ServerSentEvent(data=live_json(live), event="state")
            if live.status in FINAL:
                return
            await asyncio.sleep(LIVE_EVERY_SECONDS)
            live = await flash.live_state(runtime, sale_id)

    return EventSourceResponse(events(), ping=15, headers={"Cache-Control": "no-store"})


# ---- group buys ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TierLine:
    """One tier as the page shows it: "5 people: ¥75.00 each", marked once the team reached it."""

    size: int
    price: str
    reached: bool


def _tier_lines(
    group_buy: GroupBuy, visitor: Visitor, progress: TeamProgress | None
) -> list[TierLine]:
    reached = progress.current.size if progress is not None and progress.current else 0
    currency, language = visitor.merchant.currency, visitor.language
    return [
        TierLine(t.size, _money(t.unit_price, currency, language), t.size == reached)
        for t in tiers.tiers_of(group_buy.tiers)
    ]


async def _my_progress(
    session: AsyncSession, visitor: Visitor, group_buy: GroupBuy
) -> TeamProgress | None:
    if visitor.member_id is None:
        return None
    tenant = Tenant.of(visitor.merchant)
    try:
        return await joining.my_team(session, tenant, visitor.member_id, group_buy.id)
    except NotFound:
        return None


def _group_buy_page(
    visitor: Visitor, group_buy: GroupBuy, progress: TeamProgress | None, *, mine: bool
) -> HTMLResponse:
    """The group buy, and the team shown (the member's own, or the one shared with them)."""
    share = None
    if progress is not None:
        share = progress.share_path
    return _page(
        "group_buy.html",
        visitor,
        group_buy=group_buy,
        tiers=_tier_lines(group_buy, visitor, progress),
        progress=progress,
        mine=mine,
        share=share,
        price=_money(progress.unit_price, visitor.merchant.currency, visitor.language)
        if progress is not None
        else None,
        open_now=group_buy.status == "open" and group_buy.deadline > clock.now(),
        seconds_left=max(int((group_buy.deadline - clock.now()).total_seconds()), 0),
    )


@router.get("/group-buys/{group_buy_id}", response_class=HTMLResponse)
async def group_buy_page(
    group_buy_id: uuid.UUID,
    request: Request,
    session: DbSession,
    state: State,
    t: Annotated[str | None, Query(max_length=1000)] = None,
) -> Response:
    """A group buy: its tiers and deadline, the member's team if they are in one, else the
    button that opens a team (or joins their address's team)."""
    try:
        if t is not None:
            return await _trade_link(request, session, state, t, f"/m/group-buys/{group_buy_id}")
        group_buy = await session.get(GroupBuy, group_buy_id)
        if group_buy is None:
            raise NotFound(f"no group buy with id {group_buy_id}")
        visitor = await _visitor(request, session, state, group_buy.merchant_id)
        progress = await _my_progress(session, visitor, group_buy)
    except TribekitError as exc:
        return _error(exc)
    return _group_buy_page(visitor, group_buy, progress, mine=progress is not None)


@router.get("/group-buys/teams/{code}", response_class=HTMLResponse)
async def team_page(
    code: str,
    request: Request,
    session: DbSession,
    state: State,
    t: Annotated[str | None, Query(max_length=1000)] = None,
) -> Response:
    """A team by its share code: who has paid, the tier reached and the price, the next tier
    and how many more it needs, time left, the share link, and the join button."""
    try:
        if t is not None:
            return await _trade_link(request, session, state, t, f"/m/group-buys/teams/{code}")
        progress = await joining.public_progress(session, code[:16])
        group_buy = progress.group_buy
        visitor = await _visitor(request, session, state, group_buy.merchant_id)
        mine = await _my_progress(session, visitor, group_buy)
    except TribekitError as exc:
        return _error(exc)
    in_it = mine is not None and mine.team.id == progress.team.id
    return _group_buy_page(visitor, group_buy, progress, mine=in_it)


# ---- coupons -------------------------------------------------------------------------------------


def coupon_value(coupon: Coupon, visitor: Visitor) -> str:
    """What the coupon takes off: "CN¥10.00" or "15%"."""
    if coupon.kind == CouponKind.PERCENT:
        return f"{coupon.value / 100:g}%"
    return _money(coupon.value, visitor.merchant.currency, visitor.language)


@router.get("/coupons/claim", response_class=HTMLResponse)
async def claim_page(
    request: Request,
    session: DbSession,
    state: State,
    c: Annotated[str, Query(max_length=1000)],
    t: Annotated[str | None, Query(max_length=1000)] = None,
) -> Response:
    """A claim coupon's link: what it takes off and until when, and the button that puts it
    in the member's coupons (once)."""
    try:
        if t is not None:
            back = f"/m/coupons/claim?{urlencode({'c': c})}"
            return await _trade_link(request, session, state, t, back)
        merchant_id, coupon_id = coupon_grants.read_claim(state.secret_key, c)
        coupon = await session.get(Coupon, coupon_id)
        if coupon is None or coupon.merchant_id != merchant_id or coupon.issue_mode != "claim":
            raise NotFound("this claim link is not valid at this shop; ask the shop for its link")
        visitor = await _visitor(request, session, state, merchant_id)
    except TribekitError as exc:
        return _error(exc)
    minimum = coupon.min_subtotal
    return _page(
        "coupon_claim.html",
        visitor,
        coupon=coupon,
        token=c,
        value=coupon_value(coupon, visitor),
        minimum=_money(minimum, visitor.merchant.currency, visitor.language) if minimum else None,
        valid_days=coupon.valid_days,
        ends=coupon.ends_at,
    )
