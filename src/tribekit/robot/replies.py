"""Keyword auto-replies (FAQ): the group's own first, then the merchant-wide ones, in the order
they were made; the first that matches answers. ``exact`` and ``contains`` compare case-folded
text; ``regex`` searches with Python's ``re`` (a pattern staff wrote, up to 300 characters).

Staff write them through the API (``create``, ``change``, ``remove``): a regex must compile and
must not look catastrophic (a repeated group that itself repeats, such as ``(a+)+``, which can
take exponential time on a message that almost matches), since every message of the group is
searched with it."""

from __future__ import annotations

import re

# The parser ``re`` compiles with, to see a pattern's structure (typeshed has no stub for it).
import re._parser as sre  # type: ignore[import-not-found]
import uuid
from typing import Any

from sqlalchemy import bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock
from tribekit.kit.errors import NotFound, field_error
from tribekit.kit.pagination import Page, paginate
from tribekit.models.communities import Community
from tribekit.models.moderation import AutoReply
from tribekit.tenancy.principal import Tenant


def matches(reply: AutoReply, text: str) -> bool:
    folded, pattern = text.casefold().strip(), reply.pattern.casefold().strip()
    if reply.match == "exact":
        return folded == pattern
    if reply.match == "contains":
        return bool(pattern) and pattern in folded
    try:
        return re.search(reply.pattern, text, re.IGNORECASE) is not None
    except re.error:
        return False  # refused on input; an old row that no longer compiles answers nothing


#: Built once: every message that is not a command asks.
_ANSWERS = (
    select(AutoReply)
    .where(
        AutoReply.merchant_id == bindparam("b_merchant_id"),
        AutoReply.active.is_(True),
        or_(
            AutoReply.community_id == bindparam("b_community_id"),
            AutoReply.community_id.is_(None),
        ),
    )
    .order_by(AutoReply.community_id.is_(None), AutoReply.created_at)
)


async def answer(
    session: AsyncSession, tenant: Tenant, community_id: uuid.UUID, text: str
) -> str | None:
    """The reply to ``text`` in the group, if one matches."""
    if not text.strip():
        return None
    rows = (
        await session.scalars(
            _ANSWERS, {"b_merchant_id": tenant.id, "b_community_id": community_id}
        )
    ).all()
    return next((row.reply for row in rows if matches(row, text)), None)


# -- staff's replies --------------------------------------------------------------------------


def _repeats(items: Any, inside_repeat: bool) -> bool:
    """Whether a parsed pattern repeats, without bound, something inside an unbounded repeat
    (``(a+)+``, ``(a*)*``, ``(?:x|y+)*``): the shape that backtracks exponentially."""
    for op, arg in items:
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", None)):
            _low, high, body = arg
            unbounded = high == sre.MAXREPEAT or high > 100
            if unbounded and inside_repeat:
                return True
            if _repeats(body, inside_repeat or unbounded):
                return True
        elif op == sre.SUBPATTERN:
            if _repeats(arg[-1], inside_repeat):
                return True
        elif op == sre.BRANCH:
            if any(_repeats(branch, inside_repeat) for branch in arg[1]):
                return True
        elif op in (sre.ASSERT, sre.ASSERT_NOT) and _repeats(arg[1], inside_repeat):
            return True
    return False


def check_pattern(match: str, pattern: str) -> None:
    """A 422 naming ``pattern`` when a regex does not compile or looks catastrophic."""
    if match != "regex":
        return
    try:
        re.compile(pattern)
        parsed = sre.parse(pattern)
    except (re.error, OverflowError, RecursionError) as exc:
        # OverflowError: a repeat count past the engine's limit, e.g. a{99999999999}.
        raise field_error("pattern", f"the regex does not compile: {exc}") from exc
    if _repeats(parsed.data, False):
        raise field_error(
            "pattern",
            "the regex repeats a group that repeats itself (like (a+)+); it can take "
            "exponential time on some messages: write it without the nested repeat",
            "catastrophic_regex",
        )


async def _check_community(
    session: AsyncSession, tenant: Tenant, community_id: uuid.UUID | None
) -> None:
    if community_id is None:
        return
    community = await session.get(Community, community_id)
    if community is None or community.merchant_id != tenant.id:
        raise NotFound(f"no community with id {community_id} at this merchant")


async def page(
    session: AsyncSession,
    tenant: Tenant,
    *,
    community_id: uuid.UUID | None,
    merchant_wide: bool | None,
    limit: int,
    cursor: str | None,
) -> Page[AutoReply]:
    stmt = select(AutoReply).where(AutoReply.merchant_id == tenant.id)
    if community_id is not None:
        stmt = stmt.where(AutoReply.community_id == community_id)
    if merchant_wide is not None:
        stmt = stmt.where(
            AutoReply.community_id.is_(None)
            if merchant_wide
            else AutoReply.community_id.is_not(None)
        )
    return await paginate(session, stmt, key=AutoReply.id, limit=limit, cursor=cursor)


async def get(session: AsyncSession, tenant: Tenant, reply_id: uuid.UUID) -> AutoReply:
    row = await session.get(AutoReply, reply_id, populate_existing=True)
    if row is None or row.merchant_id != tenant.id:
        raise NotFound(f"no auto-reply with id {reply_id} at this merchant")
    return row


async def create(
    session: AsyncSession,
    tenant: Tenant,
    *,
    match: str,
    pattern: str,
    reply: str,
    community_id: uuid.UUID | None,
    active: bool,
) -> AutoReply:
    check_pattern(match, pattern)
    await _check_community(session, tenant, community_id)
    row = AutoReply(
        merchant_id=tenant.id,
        community_id=community_id,
        match=match,
        pattern=pattern,
        reply=reply,
        active=active,
        created_at=clock.now(),
    )
    session.add(row)
    await session.flush()
    return row


async def change(
    session: AsyncSession, tenant: Tenant, reply_id: uuid.UUID, changes: dict[str, Any]
) -> AutoReply:
    """Change the fields in ``changes``; the match and pattern are checked together."""
    row = await get(session, tenant, reply_id)
    check_pattern(changes.get("match", row.match), changes.get("pattern", row.pattern))
    if "community_id" in changes:
        await _check_community(session, tenant, changes["community_id"])
    for name, value in changes.items():
        setattr(row, name, value)
    await session.flush()
    return row


async def remove(session: AsyncSession, tenant: Tenant, reply_id: uuid.UUID) -> None:
    await session.delete(await get(session, tenant, reply_id))
    await session.flush()
