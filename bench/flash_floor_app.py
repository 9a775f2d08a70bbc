"""Floors of the flash-sale benchmark: bare FastAPI endpoints on the same PostgreSQL and Redis,
pool settings as Tribekit's defaults, served by the same uvicorn.

* ``POST /bare``: a constant, no I/O.
* ``POST /script/{sale_id}``: only the Redis engine's attempt script (the same arguments, built
  by the same ``RedisEngine.reserve``), for the member named in ``X-Member`` (no token).
* ``POST /sql/{sale_id}``: only the SQL engine's statement (``SqlEngine.reserve``: the same
  rows and the same one statement), likewise.

The sale an endpoint sells is read once per process (``BENCH_FLOOR_SALES``: a JSON object of
sale id -> the sale's fields, written by the benchmark), so the floor pays nothing per request
that Tribekit's live cache saves it too.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Header, HTTPException
from fastapi.responses import JSONResponse

from tribekit.campaigns.flash.engine import Attempt, FlashEngine, LiveSale, Refusal, SaleStatus
from tribekit.campaigns.flash.redis_engine import RedisEngine
from tribekit.campaigns.flash.sql_engine import SqlEngine
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.kit.ids import new_id
from tribekit.kit.ratelimit import redis_client

db = Database(os.environ["BENCH_FLOOR_DATABASE_URL"])
redis = redis_client(os.environ["BENCH_FLOOR_REDIS_URL"], max_connections=50, timeout=5)
engines: dict[str, FlashEngine] = {"redis": RedisEngine(db, redis), "sql": SqlEngine(db)}
app = FastAPI()


def _sale(fields: dict[str, Any]) -> LiveSale:
    return LiveSale(
        id=uuid.UUID(fields["id"]),
        merchant_id=uuid.UUID(fields["merchant_id"]),
        product_id=uuid.UUID(fields["product_id"]),
        name=fields["name"],
        product_name=fields["product_name"],
        regular_price=fields["regular_price"],
        unit_cost=fields["unit_cost"],
        price=fields["price"],
        currency=fields["currency"],
        timezone=fields["timezone"],
        per_member_limit=fields["per_member_limit"],
        reservation_ttl_seconds=fields["reservation_ttl_seconds"],
        starts_at=datetime.fromisoformat(fields["starts_at"]),
        ends_at=datetime.fromisoformat(fields["ends_at"]),
        status=SaleStatus(fields["status"]),
        allotted=fields["allotted"],
        community_ids=frozenset(),
        level_ids=frozenset(),
        engine=fields["engine"],
    )


def _sales() -> dict[uuid.UUID, LiveSale]:
    found = json.loads(Path(os.environ["BENCH_FLOOR_SALES"]).read_text())
    return {uuid.UUID(k): _sale(v) for k, v in found.items()}


_known: dict[uuid.UUID, LiveSale] = {}


def _of(sale_id: uuid.UUID) -> LiveSale:
    if sale_id not in _known:
        _known.update(_sales())
    return _known[sale_id]


@app.post("/bare")
async def bare() -> dict[str, str]:
    return {"status": "ok"}


async def _attempt(engine: str, sale_id: uuid.UUID, member: str) -> Any:
    try:
        member_id = uuid.UUID(member)
    except ValueError as exc:
        raise HTTPException(400, "X-Member: not a member id") from exc
    sale = _of(sale_id)
    attempt = Attempt(
        sale=sale,
        member_id=member_id,
        quantity=1,
        reservation_id=new_id(),
        community_id=None,
        at=clock.now(),
    )
    result = await engines[engine].reserve(attempt)
    if isinstance(result, Refusal):
        return JSONResponse({"code": result.value}, status_code=409)
    return JSONResponse(
        {"reservation_id": str(result.reservation_id), "left": result.left}, status_code=201
    )


@app.post("/script/{sale_id}")
async def script(sale_id: uuid.UUID, x_member: str = Header()) -> Any:
    return await _attempt("redis", sale_id, x_member)


@app.post("/sql/{sale_id}")
async def sql(sale_id: uuid.UUID, x_member: str = Header()) -> Any:
    return await _attempt("sql", sale_id, x_member)
