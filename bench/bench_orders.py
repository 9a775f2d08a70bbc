"""Order placement through the HTTP API on PostgreSQL: quote + place + manual pay per order,
against real ``uvicorn`` server processes (1, then 2), by concurrent clients in this process.

Floor: a bare FastAPI endpoint doing one INSERT in one transaction (``floor_app.py``), served and
loaded the same way in the same run. Target (issue 9): orders/s at least 15 % of the floor's
requests/s, with the same number of server processes; the long-term goal stays 30 %.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type hints

from tribekit import migrations
from tribekit.catalog import service as catalog
from tribekit.catalog.schemas import ProductCreate
from tribekit.kit.db import Database
from tribekit.members import service as members
from tribekit.members.schemas import MemberCreate
from tribekit.tenancy import auth
from tribekit.tenancy import service as tenancy
from tribekit.tenancy.principal import Tenant
from tribekit.tenancy.schemas import MerchantCreate, OwnerCreate

from .harness import Result

PG = os.environ.get("TRIBEKIT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
NAME = "tribekit_bench_orders"
SECRET = "bench-secret-key-that-is-long-enough-to-use"  # noqa: S105  # a throwaway server
BENCH_PASSWORD = "bench owner password"  # noqa: S105  # a throwaway database
MEMBERS = 500
CLIENTS = 16
SECONDS = float(os.environ.get("TRIBEKIT_BENCH_SECONDS", "15"))
TARGET = 0.15


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _fresh_database(name: str = NAME) -> tuple[Database, str]:
    """An empty PostgreSQL database ``name`` (dropped first if it exists), migrated."""
    conn = await asyncpg.connect(f"{PG}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = f"{PG.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
    db = Database(url)
    await migrations.upgrade(db)
    return db, url


async def _shop(db: Database) -> tuple[str, list[str], list[str]]:
    """A merchant, an API token, members and products with plenty of stock."""
    async with db.unit_of_work() as session:
        merchant, owner = await tenancy.create_merchant(
            session,
            MerchantCreate(
                slug="bench-orders",
                name="Bench Orders",
                timezone="Asia/Shanghai",
                currency="CNY",
                country="CN",
                locale="en",
                owner=OwnerCreate(email="o@bench.example", name="O", password=BENCH_PASSWORD),
            ),
        )
        tenant = Tenant.of(merchant)
        _, token = await auth.issue_token(
            session, SECRET, user_id=owner.user_id, merchant_id=tenant.id, name="bench"
        )
        member_ids = [
            str(
                (
                    await members.create_member(
                        session, tenant, "bench", MemberCreate(display_name=f"Buyer {i}")
                    )
                ).member.id
            )
            for i in range(MEMBERS)
        ]
        products = [
            str(
                (
                    await catalog.create_product(
                        session,
                        tenant,
                        ProductCreate(name=f"Fruit box {i}", price=1000 + i, stock=10**8),
                    )
                ).id
            )
            for i in range(20)
        ]
    return token, member_ids, products


def _start(args: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(  # noqa: S603  # our own server, arguments built here
        [
            sys.executable,
            "-m",
            "uvicorn",
            *args,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env={**os.environ, **env},
        cwd=Path(__file__).parent.parent,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"server on port {port} did not start")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


async def _load(
    base_url: str,
    one: Callable[[aiohttp.ClientSession, int], Awaitable[None]],
    clients: int = CLIENTS,
    seconds: float = SECONDS,
) -> tuple[int, list[float]]:
    """``clients`` concurrent loops of ``one`` for ``seconds`` (after a 2 s warm-up). The
    client is aiohttp: lighter than the server it measures, since both share the machine."""
    latencies: list[float] = []
    done = 0
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(base_url, connector=connector) as client:
        warm_until = time.perf_counter() + 2
        stop_at = warm_until + seconds

        async def loop(worker: int) -> None:
            nonlocal done
            i = 0
            while (now := time.perf_counter()) < stop_at:
                await one(client, worker * 1_000_000 + i)
                i += 1
                if now >= warm_until:
                    latencies.append(time.perf_counter() - now)
                    done += 1

        await asyncio.gather(*(loop(w) for w in range(clients)))
    return done, latencies


async def _call(
    client: aiohttp.ClientSession,
    path: str,
    status: int,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    async with client.post(path, json=body, headers=headers) as response:
        answer = await response.json()
        if response.status != status:
            raise RuntimeError(f"{path}: {response.status} {answer}")
        return answer


async def _measure(
    processes: int, url: str, token: str, ids: list[str], products: list[str]
) -> dict[str, float]:
    port = _free_port()
    env = {
        "TRIBEKIT_DATABASE_URL": url,
        "TRIBEKIT_SECRET_KEY": SECRET,
        "TRIBEKIT_ENV": "production",
        "TRIBEKIT_IN_PROCESS_WORKER": "false",
        "TRIBEKIT_TOKEN_RATE_LIMIT": "100000000",
        "TRIBEKIT_LOG_LEVEL": "warning",
    }
    server = _start(
        ["tribekit.api.app:create_app_from_env", "--factory", "--workers", str(processes)],
        env,
        port,
    )
    headers = {"Authorization": f"Bearer {token}"}

    async def order(client: aiohttp.ClientSession, n: int) -> None:
        cart = {
            "member_id": ids[n % len(ids)],
            "lines": [
                {"product_id": products[n % len(products)], "quantity": 1 + n % 3},
                {"product_id": products[(n * 7 + 3) % len(products)], "quantity": 1},
            ],
        }
        await _call(client, "/api/v1/orders/quote", 200, cart, headers)
        key = {**headers, "Idempotency-Key": f"bench-{processes}-{n}"}
        placed = await _call(client, "/api/v1/orders", 201, cart, key)
        pay = {**headers, "Idempotency-Key": f"bench-pay-{processes}-{n}"}
        body = {"provider": "manual", "reference": "cash"}
        await _call(client, f"/api/v1/orders/{placed['id']}/payments", 201, body, pay)

    try:
        count, latencies = await _load(f"http://127.0.0.1:{port}", order)
    finally:
        _stop(server)
    floor_port = _free_port()
    floor = _start(
        ["bench.floor_app:app", "--workers", str(processes)],
        {"BENCH_FLOOR_DATABASE_URL": url},
        floor_port,
    )

    async def insert(client: aiohttp.ClientSession, n: int) -> None:
        await _call(client, "/insert", 201)

    try:
        floor_count, floor_latencies = await _load(f"http://127.0.0.1:{floor_port}", insert)
    finally:
        _stop(floor)
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "orders_per_s": count / SECONDS,
        "p50_ms": quantiles[49] * 1000,
        "p99_ms": quantiles[98] * 1000,
        "floor_per_s": floor_count / SECONDS,
        "floor_p50_ms": statistics.median(floor_latencies) * 1000,
    }


async def run() -> Result:
    db, url = await _fresh_database()
    try:
        token, ids, products = await _shop(db)
        async with db.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            from sqlalchemy import text

            await conn.execute(text("CREATE TABLE bench_floor (id uuid PRIMARY KEY, payload text)"))
    finally:
        await db.dispose()
    runs = {n: await _measure(n, url, token, ids, products) for n in (1, 2)}
    ratios = {n: r["orders_per_s"] / r["floor_per_s"] for n, r in runs.items()}
    figures: dict[str, Any] = {}
    for n, r in runs.items():
        figures[f"{n} process(es): orders/s"] = (
            f"{r['orders_per_s']:.0f} (p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms)"
        )
        figures[f"{n} process(es): floor inserts/s"] = (
            f"{r['floor_per_s']:.0f} (p50 {r['floor_p50_ms']:.1f} ms); ratio {ratios[n]:.2f}"
        )
    figures["clients"] = f"{CLIENTS} concurrent, {SECONDS:g} s per run after 2 s warm-up"
    worst = min(ratios, key=lambda n: ratios[n])
    return Result(
        benchmark="order placement over HTTP: quote + place + manual pay (PostgreSQL)",
        measured=f"one order, {worst} process(es) (the worse ratio)",
        seconds=1 / runs[worst]["orders_per_s"],
        floor="one bare INSERT request, same processes",
        floor_seconds=1 / runs[worst]["floor_per_s"],
        target=f"orders/s at least {TARGET:.0%} of the floor's requests/s",
        met=all(ratio >= TARGET for ratio in ratios.values()),
        figures=figures,
    )
