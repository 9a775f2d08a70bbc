"""Repositories scoped to one merchant by construction: there is no way to build one without the
tenant, and every query it makes starts from ``self.select()``, which filters on it."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from . import locks
from .db import TenantRow
from .errors import NotFound

M = TypeVar("M", bound=TenantRow)


class TenantRepository(Generic[M]):
    model: type[M]
    #: How the row is called in a "not found" message, e.g. "member".
    noun: str = "object"
    #: The rank of this table's row locks (``kit.locks``); None for tables outside the order.
    lock_rank: locks.Rank | None = None

    def __init__(self, session: AsyncSession, merchant_id: uuid.UUID) -> None:
        self.session = session
        self.merchant_id = merchant_id

    def select(self, *entities: Any) -> Select[Any]:
        stmt = select(*entities) if entities else select(self.model)
        return stmt.where(self.model.merchant_id == self.merchant_id)

    async def get(self, id: uuid.UUID, *, for_update: bool = False) -> M | None:
        if for_update and self.lock_rank is not None:
            locks.acquire(self.session, self.lock_rank, [id])
        stmt = _by_id(self.model, for_update)
        row: M | None = await self.session.scalar(stmt, {"merchant_id": self.merchant_id, "id": id})
        return row

    async def get_or_404(self, id: uuid.UUID, *, for_update: bool = False) -> M:
        row = await self.get(id, for_update=for_update)
        if row is None:
            raise NotFound(f"no {self.noun} with id {id} at this merchant")
        return row

    async def lock_in_order(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, M]:
        """Lock rows in primary-key order, so that two transactions locking the same rows can
        never deadlock each other."""
        if self.lock_rank is not None:
            locks.acquire(self.session, self.lock_rank, ids)
        stmt = (
            self.select()
            .where(self.model.id.in_(sorted(set(ids))))
            .order_by(self.model.id)
            .with_for_update()
        )
        return {row.id: row for row in (await self.session.scalars(stmt)).all()}

    def add(self, row: M) -> M:
        row.merchant_id = self.merchant_id
        self.session.add(row)
        return row


@functools.cache
def _by_id(model: type[TenantRow], for_update: bool) -> Select[Any]:
    """One row of ``model`` by merchant and id. Built once per model: composing a statement
    costs more Python than running a cached one."""
    stmt = select(model).where(
        model.merchant_id == bindparam("merchant_id"), model.id == bindparam("id")
    )
    if for_update:  # a locked read also refreshes a copy already in the session
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return stmt
