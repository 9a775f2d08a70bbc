"""After-commit side effects.

Anything that leaves the process (a chat message, a webhook, a Redis publish) is registered with
``on_commit`` while the transaction runs. The unit of work flushes the callbacks after a
successful commit and drops them on rollback, so nothing is said about work that never happened.
Durable, retried work is not for this module: it is a database row with a due time (see worker).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

AfterCommit = Callable[[], Awaitable[None]]

_KEY = "tribekit_outbox"
log = logging.getLogger(__name__)


def on_commit(session: AsyncSession, callback: AfterCommit) -> None:
    session.info.setdefault(_KEY, []).append(callback)


def pending(session: AsyncSession) -> int:
    return len(session.info.get(_KEY, ()))


def discard(session: AsyncSession) -> None:
    session.info.pop(_KEY, None)


async def flush(session: AsyncSession) -> None:
    callbacks: list[AfterCommit] = session.info.pop(_KEY, [])
    for callback in callbacks:
        try:
            await callback()
        except Exception:
            # The transaction is committed; one failed side effect must not undo or block the rest.
            log.exception("after-commit callback failed", extra={"callback": repr(callback)})
