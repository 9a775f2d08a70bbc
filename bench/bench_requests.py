"""The cost every authenticated request pays, on PostgreSQL, one server process, 32 connections.

The server runs in its production shape: PostgreSQL, and Redis for the rate limits
(``TRIBEKIT_BENCH_REDIS``, default database 15 of the local Redis), since every authenticated
request passes them. Measured in the same run, each for ``TRIBEKIT_BENCH_SECONDS`` (default 15)
after a 2 s warm-up:

* the floor: a bare FastAPI endpoint answering a small JSON document (``floor_app.py``), served
  by the same uvicorn;
* an authenticated one-row read: staff ``GET /api/v1/members/{id}`` with an API token;
* an order placement: staff ``POST /api/v1/orders`` (two lines, an idempotency key each).

Besides requests/s, which moves with whatever else the machine runs, the benchmark reports the
server process's own CPU time per request (user + system, from ``/proc``), which moves less.

Targets (issue 9): the read at least 10 % of the floor's requests/s, the placement at least 5 %.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type hints
from sqlalchemy import text

from .bench_orders import NAME, PG, SECRET, _free_port, _fresh_database, _load, _shop, _start, _stop
from .harness import Result

CONNECTIONS = int(os.environ.get("TRIBEKIT_BENCH_CONNECTIONS", "32"))
SECONDS = float(os.environ.get("TRIBEKIT_BENCH_SECONDS", "15"))
REDIS = os.environ.get("TRIBEKIT_BENCH_REDIS", "redis://127.0.0.1:6379/15")
READ_TARGET = 0.10
PLACE_TARGET = 0.05


async def _expect(response: aiohttp.ClientResponse, status: int) -> None:
    body = await response.read()
    if response.status != status:
        raise RuntimeError(f"{response.url}: {response.status} {body[:300]!r}")


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far; 0 where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _sessions() -> int:
    """PostgreSQL sessions (connections) opened so far on the benchmark's database."""
    conn = await asyncpg.connect(f"{PG}/postgres")
    try:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        return int(
            await conn.fetchval("SELECT sessions FROM pg_stat_database WHERE datname = $1", NAME)
        )
    finally:
        await conn.close()


async def run() -> list[Result]:
    db, url = await _fresh_database()
    try:
        token, members, products = await _shop(db)
        async with db.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("CREATE TABLE bench_floor (id uuid PRIMARY KEY, payload text)"))
    finally:
        await db.dispose()

    async def bare(client: aiohttp.ClientSession, n: int) -> None:
        async with client.get("/bare") as response:
            await _expect(response, 200)

    floor_cpu: list[float] = []

    async def floor_run() -> int:
        floor_port = _free_port()
        floor = _start(["bench.floor_app:app"], {"BENCH_FLOOR_DATABASE_URL": url}, floor_port)
        try:
            cpu = _cpu(floor.pid)
            count, _ = await _load(f"http://127.0.0.1:{floor_port}", bare, CONNECTIONS, SECONDS)
            floor_cpu.append((_cpu(floor.pid) - cpu) / count)  # the warm-up's share included
        finally:
            _stop(floor)
        return count

    # The floor runs before and after Tribekit, and their mean is the floor: on a shared
    # machine the floor alone moves by a factor of two within minutes.
    floor_counts = [await floor_run()]

    port = _free_port()
    env = {
        "TRIBEKIT_DATABASE_URL": url,
        "TRIBEKIT_REDIS_URL": REDIS,
        "TRIBEKIT_SECRET_KEY": SECRET,
        "TRIBEKIT_ENV": "production",
        "TRIBEKIT_IN_PROCESS_WORKER": "false",
        "TRIBEKIT_TOKEN_RATE_LIMIT": "100000000",
        "TRIBEKIT_LOG_LEVEL": "warning",
    }
    server = _start(["tribekit.api.app:create_app_from_env", "--factory"], env, port)
    headers = {"Authorization": f"Bearer {token}"}

    async def read(client: aiohttp.ClientSession, n: int) -> None:
        member = members[n % len(members)]
        async with client.get(f"/api/v1/members/{member}", headers=headers) as response:
            await _expect(response, 200)

    async def place(client: aiohttp.ClientSession, n: int) -> None:
        cart = {
            "member_id": members[n % len(members)],
            "lines": [
                {"product_id": products[n % len(products)], "quantity": 1 + n % 3},
                {"product_id": products[(n * 7 + 3) % len(products)], "quantity": 1},
            ],
        }
        key = {**headers, "Idempotency-Key": f"bench-place-{n}"}
        async with client.post("/api/v1/orders", json=cart, headers=key) as response:
            await _expect(response, 201)

    try:
        base = f"http://127.0.0.1:{port}"
        sessions_before = await _sessions()
        cpu = _cpu(server.pid)
        read_count, read_latencies = await _load(base, read, CONNECTIONS, SECONDS)
        read_cpu, cpu = (_cpu(server.pid) - cpu) / read_count, _cpu(server.pid)
        place_count, place_latencies = await _load(base, place, CONNECTIONS, SECONDS)
        place_cpu = (_cpu(server.pid) - cpu) / place_count
        await asyncio.sleep(0.5)  # the statistics collector reports with a short delay
        opened = await _sessions() - sessions_before
    finally:
        _stop(server)
    floor_counts.append(await floor_run())

    bare_rps = sum(floor_counts) / len(floor_counts) / SECONDS
    results = []
    for name, count, latencies, cpu_per_request, target, measured in (
        (
            "an authenticated one-row read",
            read_count,
            read_latencies,
            read_cpu,
            READ_TARGET,
            "staff GET /api/v1/members/{id}",
        ),
        (
            "an order placement",
            place_count,
            place_latencies,
            place_cpu,
            PLACE_TARGET,
            "staff POST /api/v1/orders, two lines",
        ),
    ):
        rps = count / SECONDS
        latencies.sort()
        figures: dict[str, Any] = {
            "requests/s": f"{rps:.0f} (p50 {latencies[len(latencies) // 2] * 1000:.1f} ms, "
            f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.1f} ms)",
            "bare requests/s": f"{bare_rps:.0f} (before {floor_counts[0] / SECONDS:.0f}, "
            f"after {floor_counts[1] / SECONDS:.0f})",
            "ratio": f"{rps / bare_rps:.3f}",
            "server CPU per request": f"{cpu_per_request * 1000:.2f} ms (bare: "
            + ", ".join(f"{c * 1000:.2f}" for c in floor_cpu)
            + " ms, before and after; the warm-up's share included)",
            "load": f"{CONNECTIONS} connections, one server process, {SECONDS:g} s per run",
            "rate limits": f"Redis ({REDIS})",
            "PostgreSQL sessions opened by the server": f"{opened} for "
            f"{read_count + place_count} measured requests (filling the pool included)",
        }
        results.append(
            Result(
                benchmark=f"per-request cost: {name} (PostgreSQL)",
                measured=measured,
                seconds=1 / rps,
                floor="a bare FastAPI GET, same uvicorn, same load",
                floor_seconds=1 / bare_rps,
                target=f"requests/s at least {target:.0%} of the bare endpoint's",
                met=rps / bare_rps >= target,
                figures=figures,
            )
        )
    return results
