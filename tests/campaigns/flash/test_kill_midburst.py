"""A burst of purchases at real API processes and a real worker on PostgreSQL and Redis; the
API processes and the worker are killed (SIGKILL) in the middle of it and started again; once
the drain and the reconciliation have run, every win is an order, every win a client was told
of is in the database, and sold + left = allotted.

Sized to run in about half a minute on an idle two-core machine, most of it the five process
starts (a loaded machine takes longer to start them; the burst itself is a few seconds)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio import Redis
from sqlalchemy import func, insert, select

from tests.conftest import DATABASES, _fresh_postgres, _worker
from tests.live_server import TRIBEKIT, free_port
from tribekit import migrations
from tribekit.campaigns.flash import service as flash_service
from tribekit.campaigns.flash import stream, tasks, tokens
from tribekit.campaigns.flash.live import LiveSales, read_sale
from tribekit.campaigns.flash.redis_engine import RedisEngine
from tribekit.campaigns.flash.runtime import FlashRuntime
from tribekit.campaigns.flash.spec import FlashSaleSpec
from tribekit.campaigns.flash.sql_engine import SqlEngine
from tribekit.catalog import service as catalog
from tribekit.catalog.schemas import ProductCreate
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.kit.ids import new_id
from tribekit.kit.ratelimit import redis_client
from tribekit.models.campaigns import FlashReservation
from tribekit.models.members import Member
from tribekit.models.orders import Order
from tribekit.tenancy import service as tenancy
from tribekit.tenancy.principal import Tenant
from tribekit.tenancy.schemas import MerchantCreate, OwnerCreate

from .redis_world import redis_url

SECRET = "kill-test-secret-key-long-enough-to-sign"  # a throwaway server
UNITS = 1000
LIMIT = 2
MEMBERS = 1000
ATTEMPTS = 4000
CONNECTIONS = 24
#: The processes are killed once this many answers came back (every attempt wins until the
#: units run out: about half the units are sold by then).
KILL_AFTER = 500
ROOT = Path(__file__).parents[3]


@dataclass
class Shop:
    db: Database
    url: str
    tenant: Tenant
    members: list[uuid.UUID]
    sale_id: uuid.UUID


@dataclass
class Burst:
    """What the clients saw: statuses, and the reservations they were told they won."""

    statuses: Counter[int] = field(default_factory=Counter)
    won: set[uuid.UUID] = field(default_factory=set)
    lost_connections: int = 0


@pytest.fixture(params=[d for d in DATABASES if d == "postgresql"])
async def shop() -> AsyncIterator[Shop]:
    url = await _fresh_postgres(f"tribekit_kill_{_worker()}")
    db = Database(url, pool_size=5)
    await migrations.upgrade(db)
    redis = redis_client(redis_url(), max_connections=16, timeout=10)
    await redis.flushdb()
    try:
        yield await _shop(db, url, redis)
    finally:
        await redis.flushdb()
        await redis.aclose()
        await db.dispose()


async def _shop(db: Database, url: str, redis: Redis) -> Shop:
    """A merchant, a product, ``MEMBERS`` members and a sale started on the Redis engine."""
    async with db.unit_of_work() as session:
        merchant, _ = await tenancy.create_merchant(
            session,
            MerchantCreate(
                slug="kill-test",
                name="Kill Test",
                timezone="Asia/Shanghai",
                currency="CNY",
                country="CN",
                locale="en",
                owner=OwnerCreate(email="o@kill.example", name="O", password="kill test password"),
            ),
        )
        tenant = Tenant.of(merchant)
        product = await catalog.create_product(
            session, tenant, ProductCreate(name="Durian box", price=9900, stock=10_000)
        )
        people = [new_id() for _ in range(MEMBERS)]
        await session.execute(
            insert(Member),
            [
                {"id": m, "merchant_id": tenant.id, "display_name": f"M{i}", "source": "test"}
                for i, m in enumerate(people)
            ],
        )
        now = clock.now()
        spec = FlashSaleSpec(
            product_id=product.id,
            price=4900,
            quantity=UNITS,
            starts_at=now - timedelta(seconds=1),
            ends_at=now + timedelta(hours=1),
            per_member_limit=LIMIT,
        )
        await flash_service.check_create(session, tenant, spec)
        sale = await flash_service.do_create(session, tenant, spec, "test")
        assert sale is not None
        sale_id = sale.id
    engine = RedisEngine(db, redis)
    runtime = FlashRuntime(
        db=db,
        redis=redis,
        secret_key=SECRET,
        engines={"sql": SqlEngine(db), "redis": engine},
        start_engine="redis",
        live=LiveSales(db),
        refused=tokens.REFUSED,
    )
    assert await db.run(lambda session: tasks.start_due(session, runtime, 10)) == 1
    assert await engine.left(sale_id) == UNITS
    return Shop(db, url, tenant, people, sale_id)


def _env(shop: Shop) -> dict[str, str]:
    return {
        **os.environ,
        "TRIBEKIT_DATABASE_URL": shop.url,
        "TRIBEKIT_REDIS_URL": redis_url(),
        "TRIBEKIT_SECRET_KEY": SECRET,
        "TRIBEKIT_ENV": "production",
        "TRIBEKIT_LOG_LEVEL": "error",
        "TRIBEKIT_IN_PROCESS_WORKER": "false",
        "TRIBEKIT_WORKER_POLL_SECONDS": "0.2",
        "TRIBEKIT_DB_POOL_SIZE": "5",
    }


def _api(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603  # our own server, arguments built here
        [
            sys.executable,
            "-m",
            "uvicorn",
            "tribekit.api.app:create_app_from_env",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _worker_process(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603  # our own console script
        [TRIBEKIT, "worker"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL
    )


async def _ready(port: int, within: float = 120) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"the API on port {port} did not start")


@contextmanager
def _processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for process in started:
            if process.poll() is None:
                process.terminate()
        for process in started:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


async def _fire(
    shop: Shop, ports: list[int], attempts: range, burst: Burst, killed: asyncio.Event | None
) -> None:
    """Purchase attempts from ``CONNECTIONS`` loops at the given API processes; a request a
    killed process never answered is counted, not retried."""
    queue = iter(attempts)
    headers = [
        {"Authorization": "Bearer " + tokens.sign(SECRET, shop.tenant.id, m, None, frozenset())[0]}
        for m in shop.members
    ]
    timeout = aiohttp.ClientTimeout(total=20)
    async with aiohttp.ClientSession(timeout=timeout) as http:

        async def loop(worker: int) -> None:
            for n in queue:
                port = ports[(n + worker) % len(ports)]
                url = f"http://127.0.0.1:{port}/api/v1/flash-sales/{shop.sale_id}/purchase"
                try:
                    async with http.post(url, json={}, headers=headers[n % MEMBERS]) as answer:
                        body = await answer.json(content_type=None)
                        burst.statuses[answer.status] += 1
                        if answer.status == 201:
                            burst.won.add(uuid.UUID(body["reservation_id"]))
                except (TimeoutError, aiohttp.ClientError):
                    burst.lost_connections += 1
                if killed is not None and sum(burst.statuses.values()) >= KILL_AFTER:
                    killed.set()
                    return

        await asyncio.gather(*(loop(w) for w in range(CONNECTIONS)))


async def _database_counts(shop: Shop) -> tuple[int, int, set[uuid.UUID], int]:
    async with shop.db.unit_of_work(read_only=True) as session:
        rows = (
            await session.execute(
                select(FlashReservation.id, FlashReservation.member_id).where(
                    FlashReservation.sale_id == shop.sale_id
                )
            )
        ).all()
        orders = await session.scalar(
            select(func.count()).select_from(Order).where(Order.campaign_id == shop.sale_id)
        )
    most = max(Counter(member for _, member in rows).values(), default=0)
    return len(rows), int(orders or 0), {rid for rid, _ in rows}, most


async def test_killing_the_api_and_the_worker_mid_burst_loses_and_doubles_nothing(
    shop: Shop,
) -> None:
    env = _env(shop)
    ports = [free_port(), free_port()]
    burst = Burst()
    with _processes() as processes:
        first = [_api(env, port) for port in ports]
        processes += [*first, _worker_process(env)]
        await asyncio.gather(*(_ready(port) for port in ports))
        killed = asyncio.Event()
        firing = asyncio.create_task(_fire(shop, ports, range(ATTEMPTS), burst, killed))
        await killed.wait()
        for process in processes:  # mid-burst: every API process and the worker at once
            os.kill(process.pid, signal.SIGKILL)
        await firing
        for process in processes:
            process.wait(timeout=10)
        answered_before = sum(burst.statuses.values())
        assert 0 < len(burst.won) < UNITS  # the sale was still selling when they died
        processes += [_api(env, port) for port in ports]
        processes.append(_worker_process(env))
        await asyncio.gather(*(_ready(port) for port in ports))
        await _fire(shop, ports, range(answered_before, ATTEMPTS), burst, None)
        # The drain (a dead drain's entries claimed after 5 s idle) and the reconciliation.
        engine = RedisEngine(shop.db, redis_client(redis_url(), max_connections=4, timeout=10))
        deadline = time.monotonic() + 30
        while True:
            tally = await stream.tally(shop.db, engine, shop.sale_id)
            if tally.undrained == 0 and tally.balanced:
                break
            assert time.monotonic() < deadline, tally
            await asyncio.sleep(0.5)
        await engine.redis.aclose()
    assert set(burst.statuses) <= {201, 409}, burst.statuses  # never a server error
    reservations, orders, in_db, most = await _database_counts(shop)
    assert reservations == orders == tally.in_database == UNITS  # sold out, all written
    assert burst.won <= in_db  # every win a client was told of is an order
    assert most <= LIMIT
    assert (tally.left, tally.allotted) == (0, UNITS)
    sale = await read_sale(shop.db, shop.sale_id)
    assert sale is not None
    assert sale.status in ("live", "sold_out")
