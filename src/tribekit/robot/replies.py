"""Keyword auto-replies (FAQ): the group's own first, then the merchant-wide ones, in the order
they were made; the first that matches answers. ``exact`` and ``contains`` compare case-folded
text; ``regex`` searches with Python's ``re`` (a pattern staff wrote, up to 300 characters)."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

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


async def answer(
    session: AsyncSession, tenant: Tenant, community_id: uuid.UUID, text: str
) -> str | None:
    """The reply to ``text`` in the group, if one matches."""
    if not text.strip():
        return None
    rows = (
        await session.scalars(
            select(AutoReply)
            .where(
                AutoReply.merchant_id == tenant.id,
                AutoReply.active.is_(True),
                or_(AutoReply.community_id == community_id, AutoReply.community_id.is_(None)),
            )
            .order_by(AutoReply.community_id.is_(None), AutoReply.created_at)
        )
    ).all()
    return next((row.reply for row in rows if matches(row, text)), None)
