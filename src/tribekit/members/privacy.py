"""A member's personal data across every table: erased (pseudonymised) on request, exported on
request.

Neither knows the tables by name. Both walk the schema (``Base.metadata``): every table with a
``member_id`` column that points at ``members`` holds rows about the member, and every table with
an ``order_id`` column that points at ``orders`` holds rows about their orders. A table another
domain adds later is covered without a change here.

Erasure keeps the rows (history, ledgers and order totals stay whole under the pseudonymous member
id) and rewrites their text: every occurrence of what identifies the person (name, phone in any
spelling, email, street, postal code, channel user names, recipients of their deliveries) becomes
``[erased]``. Delivery addresses on orders keep only city, region and country.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import phonenumbers
from sqlalchemy import JSON, Column, Select, String, Table, and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

import tribekit.models  # noqa: F401  # every table is in Base.metadata once the models are imported
from tribekit.kit import locks
from tribekit.kit.db import Base
from tribekit.models.members import Member, MemberAddress, MemberIdentity
from tribekit.models.orders import IdempotencyRecord, Order
from tribekit.tenancy.principal import Tenant

REDACTED = "[erased]"
ERASED_ADDRESS_FIELDS = ("city", "region", "country")  # what a delivery address keeps
_SEPARATORS = r"[\s\-.()/]*"


# ---- what identifies the person -----------------------------------------------------------------


def _phone_pattern(raw: str, country: str) -> str | None:
    """A pattern for a phone number however it was written: ``+86 138-0013-8000``,
    ``13800138000``, ``(138) 0013 8000``."""
    digits = "".join(ch for ch in raw if ch.isdigit())
    try:
        parsed = phonenumbers.parse(raw, country)
        national = str(parsed.national_number)
        code = str(parsed.country_code)
    except phonenumbers.NumberParseException:
        national, code = digits, ""
    if len(national) < 6:
        return None
    body = _SEPARATORS.join(re.escape(d) for d in national)
    prefix = rf"(?:(?:\+|00)?{_SEPARATORS.join(code)}{_SEPARATORS})?" if code else ""
    return rf"(?<!\d){prefix}0?{body}(?!\d)"


def _text_pattern(text: str) -> str:
    # Word edges only where the text has letters or digits at its ends: "Li" must not erase the
    # "li" of "lime", but a Chinese name has no spaces around it.
    start = r"(?<![A-Za-z0-9])" if text[:1].isascii() and text[:1].isalnum() else ""
    end = r"(?![A-Za-z0-9])" if text[-1:].isascii() and text[-1:].isalnum() else ""
    return start + re.escape(text) + end


class Needles:
    """Everything that identifies one person, as one case-insensitive pattern."""

    def __init__(self, texts: Iterable[str], phones: Iterable[str], country: str) -> None:
        patterns: set[str] = set()
        for text in texts:
            text = text.strip()
            if len(text) >= 3 or (len(text) >= 2 and not text.isascii()):
                patterns.add(_text_pattern(text))
        for phone in phones:
            pattern = _phone_pattern(phone, country)
            if pattern:
                patterns.add(pattern)
        # Longest first, so that a full name goes before one of its parts.
        ordered = sorted(patterns, key=len, reverse=True)
        self.pattern = re.compile("|".join(ordered), re.IGNORECASE) if ordered else None

    def redact(self, value: Any) -> Any:
        """``value`` (text, or JSON of dicts, lists and text) with every needle replaced."""
        if self.pattern is None:
            return value
        if isinstance(value, str):
            return self.pattern.sub(REDACTED, value)
        if isinstance(value, dict):
            return {self.redact(k): self.redact(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.redact(v) for v in value]
        return value


def _address_texts(address: dict[str, Any] | MemberAddress) -> tuple[list[str], list[str]]:
    def get(name: str) -> Any:
        return address.get(name) if isinstance(address, dict) else getattr(address, name)

    texts = [get(n) for n in ("recipient", "line1", "line2", "postal_code")]
    phone = get("phone")
    return [t for t in texts if isinstance(t, str)], [phone] if isinstance(phone, str) else []


async def _needles(session: AsyncSession, tenant: Tenant, member: Member) -> Needles:
    texts: list[str] = [member.display_name, *member.display_name.split()]
    phones: list[str] = [member.phone] if member.phone else []
    if member.email:
        texts.append(member.email)
    if member.notes:
        texts.append(member.notes)
    addresses = await session.scalars(
        select(MemberAddress).where(
            MemberAddress.merchant_id == tenant.id, MemberAddress.member_id == member.id
        )
    )
    for address in addresses:
        more_texts, more_phones = _address_texts(address)
        texts += more_texts
        phones += more_phones
    identities = await session.scalars(
        select(MemberIdentity).where(
            MemberIdentity.merchant_id == tenant.id, MemberIdentity.member_id == member.id
        )
    )
    for identity in identities:
        texts += [t for t in (identity.username, identity.external_id) if t]
    order_addresses = await session.scalars(
        select(Order.address).where(
            Order.merchant_id == tenant.id,
            Order.member_id == member.id,
            Order.address.is_not(None),
        )
    )
    for order_address in order_addresses:
        if isinstance(order_address, dict):
            more_texts, more_phones = _address_texts(order_address)
            texts += more_texts
            phones += more_phones
    return Needles(texts, phones, tenant.country)


# ---- which tables hold what ---------------------------------------------------------------------


def _pointing_at(table_name: str, column_name: str) -> list[tuple[Table, Column[Any]]]:
    """Every table with a ``column_name`` column that is a foreign key to ``table_name``."""
    found = []
    for table in Base.metadata.sorted_tables:
        column = table.columns.get(column_name)
        if column is not None and any(
            fk.column.table.name == table_name for fk in column.foreign_keys
        ):
            found.append((table, column))
    return found


def member_tables() -> list[tuple[Table, Column[Any]]]:
    return _pointing_at("members", "member_id")


def order_tables() -> list[tuple[Table, Column[Any]]]:
    return _pointing_at("orders", "order_id")


def _text_columns(table: Table) -> list[Column[Any]]:
    """Columns that may hold free text: JSON, and strings long enough to hold a name (short
    strings are vocabularies: status, kind, currency, country)."""
    return [
        column
        for column in table.columns
        if not column.primary_key
        and not column.foreign_keys
        and (
            isinstance(column.type, JSON)
            or (isinstance(column.type, String) and (column.type.length or 1000) >= 20)
        )
    ]


def _scoped(table: Table, tenant: Tenant, *where: Any) -> list[Any]:
    merchant = table.columns.get("merchant_id")
    return [*where, *([merchant == tenant.id] if merchant is not None else [])]


async def _redact_rows(
    session: AsyncSession, table: Table, where: list[Any], needles: Needles
) -> int:
    """Rewrite the text columns of ``table``'s rows matching ``where``; how many changed."""
    columns = _text_columns(table)
    keys = list(table.primary_key.columns)
    if not columns or not keys:
        return 0
    changed = 0
    rows = await session.execute(select(*keys, *columns).where(*where))
    for row in rows.all():
        values = dict(zip([c.name for c in keys + columns], row, strict=True))
        new = {c.name: needles.redact(values[c.name]) for c in columns}
        new = {name: value for name, value in new.items() if value != values[name]}
        if new:
            await session.execute(
                update(table).where(and_(*(k == values[k.name] for k in keys))).values(**new)
            )
            changed += 1
    return changed


def _erased_address(address: dict[str, Any]) -> dict[str, Any]:
    kept = {name: address.get(name) for name in ERASED_ADDRESS_FIELDS}
    return {**dict.fromkeys(address), "recipient": REDACTED, "line1": REDACTED, **kept}


async def erase_everywhere(session: AsyncSession, tenant: Tenant, member: Member) -> None:
    """Pseudonymise what identifies ``member`` in every table, before their own row is wiped and
    their identities and addresses are deleted (they are read here to know what to look for)."""
    needles = await _needles(session, tenant, member)
    # The member's orders (and with them the rows that belong to each order) are rewritten
    # under their locks, taken in the one lock order (``kit.locks``: orders, by id), so that
    # erasure never deadlocks with a refund or a payment of one of them.
    ids = await session.scalars(
        select(Order.id).where(Order.merchant_id == tenant.id, Order.member_id == member.id)
    )
    order_ids = sorted(ids.all())
    for chunk in _chunks(locks.acquire(session, locks.Rank.ORDER, order_ids), 500):
        await session.execute(
            select(Order.id).where(Order.id.in_(chunk)).order_by(Order.id).with_for_update()
        )
    orders = await session.execute(
        select(Order.id, Order.address).where(Order.id.in_(order_ids)).order_by(Order.id)
    )
    for order_id, address in orders.all():
        if isinstance(address, dict):
            await session.execute(
                update(Order)
                .where(Order.id == order_id)
                .values(address=_erased_address(address), address_key=None)
            )
    for table, column in member_tables():
        await _redact_rows(session, table, _scoped(table, tenant, column == member.id), needles)
    for chunk in _chunks(order_ids, 500):
        for table, column in order_tables():
            await _redact_rows(session, table, _scoped(table, tenant, column.in_(chunk)), needles)
    # Stored answers of state-changing calls (kept 24 h for replays) may quote the member.
    records = IdempotencyRecord.__table__
    assert isinstance(records, Table)
    await _redact_rows(session, records, [records.c.merchant_id == tenant.id], needles)
    await session.flush()


def _chunks(items: list[uuid.UUID], size: int) -> Iterator[list[uuid.UUID]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ---- export -------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


async def _rows(session: AsyncSession, stmt: Select[Any]) -> list[dict[str, Any]]:
    result = await session.execute(stmt)
    return [
        {name: _jsonable(value) for name, value in row._mapping.items()} for row in result.all()
    ]


def _ordered(table: Table, stmt: Select[Any]) -> Select[Any]:
    return stmt.order_by(*table.primary_key.columns)


async def export_tables(
    session: AsyncSession, tenant: Tenant, member_id: uuid.UUID
) -> dict[str, Any]:
    """Every row about the member, by table, and their orders with every row about each order.
    Secrets (request fingerprints) are left out; they are hashes of what the rows hold."""
    tables: dict[str, list[dict[str, Any]]] = {}
    for table, column in member_tables():
        stmt = select(*_exported_columns(table)).where(*_scoped(table, tenant, column == member_id))
        tables[table.name] = await _rows(session, _ordered(table, stmt))
    orders = tables.pop("orders", [])
    by_id = {order["id"]: {**order} for order in orders}
    ids = [uuid.UUID(order_id) for order_id in by_id]
    for table, column in order_tables():
        for order in by_id.values():
            order[table.name] = []
        for chunk in _chunks(ids, 500):
            stmt = select(*_exported_columns(table)).where(
                *_scoped(table, tenant, column.in_(chunk))
            )
            for row in await _rows(session, _ordered(table, stmt)):
                by_id[str(row[column.name])][table.name].append(row)
    return {"orders": list(by_id.values()), "tables": tables}


def _exported_columns(table: Table) -> list[Column[Any]]:
    return [c for c in table.columns if c.name not in ("request_hash", "merchant_id")]
