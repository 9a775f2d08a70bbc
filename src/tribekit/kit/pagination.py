"""Cursor pagination over UUIDv7 keys: newest first, stable under concurrent inserts."""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from .errors import FieldProblem, ValidationFailed

MAX_LIMIT = 200
T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(key: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(key.bytes).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> uuid.UUID:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return uuid.UUID(bytes=raw)
    except (binascii.Error, ValueError) as exc:
        raise ValidationFailed(
            "cursor is not valid; pass the next_cursor of a previous page unchanged",
            errors=[FieldProblem(("query", "cursor"), "not a cursor returned by this API")],
        ) from exc


async def paginate(
    session: AsyncSession,
    stmt: Select[T],
    *,
    key: InstrumentedAttribute[uuid.UUID],
    limit: int,
    cursor: str | None,
) -> Page[T]:
    """One page of ``stmt`` ordered by ``key`` descending; fetches one extra row to know if more."""
    if cursor:
        stmt = stmt.where(key < decode_cursor(cursor))
    rows: list[Any] = list(
        (await session.scalars(stmt.order_by(key.desc()).limit(limit + 1))).all()
    )
    has_more = len(rows) > limit
    items = rows[:limit]
    next_cursor = encode_cursor(getattr(items[-1], key.key)) if has_more else None
    return Page(items=items, next_cursor=next_cursor)
