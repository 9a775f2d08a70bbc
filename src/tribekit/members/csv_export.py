"""Members as CSV, in the columns the import reads: an export imported into another merchant
(or back) gives the same members.

Read page by page (keyset on the id, one short unit of work each), so a large merchant is
streamed without holding every member in memory or one transaction open for the whole file.
A member's identities go in one column per channel (the first identity of each channel).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from sqlalchemy import func, select

from tribekit.kit.db import Database
from tribekit.models.enums import Channel
from tribekit.models.members import Member
from tribekit.tenancy.principal import Tenant

from .importer import FIELDS, IDENTITY_PREFIX
from .repository import Members, MemberView

IDENTITY_COLUMNS = tuple(IDENTITY_PREFIX + channel.value for channel in Channel)
COLUMNS = (*FIELDS, *IDENTITY_COLUMNS)


def _time(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def to_cells(view: MemberView) -> list[str]:
    member = view.member
    values = {
        "display_name": member.display_name,
        "phone": member.phone or "",
        "email": member.email or "",
        "birthday": member.birthday.isoformat() if member.birthday else "",
        "tags": ";".join(view.tags),
        "source": member.source,
        "source_ref": member.source_ref or "",
        "marketing_consent": "yes" if member.marketing_consent else "no",
        "joined_at": _time(member.joined_at),
        "blocked": "yes" if member.blocked else "no",
        "notes": member.notes or "",
    }
    for identity in view.identities:
        values.setdefault(IDENTITY_PREFIX + identity.channel, identity.external_id)
    return [values.get(column, "") for column in COLUMNS]


async def count_members(db: Database, tenant: Tenant) -> int:
    async with db.unit_of_work() as session:
        current = Members(session, tenant.id).current().subquery()
        return int(await session.scalar(select(func.count()).select_from(current)) or 0)


async def export_rows(
    db: Database, tenant: Tenant, *, page_size: int = 1000
) -> AsyncIterator[list[list[str]]]:
    """The header, then the merchant's current members in id order, a page at a time."""
    yield [list(COLUMNS)]
    after = None
    while True:
        async with db.unit_of_work() as session:
            members = Members(session, tenant.id)
            stmt = members.current().order_by(Member.id).limit(page_size)
            if after is not None:
                stmt = stmt.where(Member.id > after)
            page = list((await session.scalars(stmt)).all())
            if not page:
                return
            views = await members.views(page)
        after = page[-1].id
        yield [to_cells(view) for view in views]
        if len(page) < page_size:
            return


__all__ = ["COLUMNS", "count_members", "export_rows", "to_cells"]
