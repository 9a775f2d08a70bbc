"""Idempotency-Key handling for state-changing routes.

``once`` runs a route's work at most once per merchant, caller and key: the first call's answer
is stored with the work, in the same transaction; the same key with the same request gets that
answer again with ``Idempotent-Replayed: true``; with a different request, a 422
``idempotency_key_reused``; while the first is still running, a 409 ``idempotency_in_progress``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.idempotency import repository
from tribekit.kit.idempotency import check_replay, fingerprint

REPLAYED = "Idempotent-Replayed"
M = TypeVar("M", bound=BaseModel)


async def once(
    session: AsyncSession,
    *,
    merchant_id: uuid.UUID,
    caller: str,
    key: str,
    operation: str,
    request: Any,
    work: Callable[[], Awaitable[M]],
    status_code: int = 200,
) -> M | JSONResponse:
    request_hash = fingerprint(operation, request=request)
    await repository.lock_key(session, merchant_id, caller, key)
    stored = await repository.find(session, merchant_id, caller, key)
    if stored is not None:
        check_replay(stored.request_hash, request_hash, key)
        return JSONResponse(
            stored.response, status_code=stored.status_code, headers={REPLAYED: "true"}
        )
    result = await work()
    answer = result.model_dump(mode="json")
    await repository.store(session, merchant_id, caller, key, request_hash, status_code, answer)
    return result
