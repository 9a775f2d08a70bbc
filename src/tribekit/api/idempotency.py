"""Idempotency-Key handling for state-changing routes, over ``idempotency.service.run_once``.

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

from tribekit.idempotency.service import Outcome, run_once
from tribekit.kit.idempotency import fingerprint

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
    done = await run_once(
        session,
        merchant_id=merchant_id,
        scope=caller,
        key=key,
        fingerprint=fingerprint(operation, request=request),
        fn=work,
        encode=lambda result: Outcome(result.model_dump(mode="json"), status_code),
    )
    if not done.replayed:
        assert done.result is not None  # a first run returns what the work returned
        return done.result
    return JSONResponse(
        done.outcome.value, status_code=done.outcome.status, headers={REPLAYED: "true"}
    )
