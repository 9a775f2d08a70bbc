"""Floors: a bare FastAPI endpoint that does one INSERT in one transaction, on the same
PostgreSQL, driver and pool settings as Tribekit (the order benchmark), and a bare FastAPI
endpoint that answers a small JSON document with no I/O at all (the request benchmark), and a
bare FastAPI endpoint that parses a Telegram update and answers 200 (the webhook benchmark)."""

from __future__ import annotations

import json
import os
import uuid

from fastapi import FastAPI, HTTPException, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

engine = create_async_engine(os.environ["BENCH_FLOOR_DATABASE_URL"], pool_size=20, max_overflow=0)
app = FastAPI()


@app.get("/bare")
async def bare() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/insert", status_code=201)
async def insert() -> dict[str, str]:
    row_id = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO bench_floor (id, payload) VALUES (:id, :payload)"),
            {"id": row_id, "payload": "order"},
        )
    return {"id": str(row_id)}


@app.post("/update")
async def update(request: Request) -> dict[str, bool]:
    """The webhook benchmark's floor: the body parsed as a Telegram update, as the webhook
    route parses it (a JSON object with an integer ``update_id``), then 200."""
    body = json.loads(await request.body())
    if not isinstance(body, dict) or type(body.get("update_id")) is not int:
        raise HTTPException(400, "not a Telegram update")
    return {"ok": True}
