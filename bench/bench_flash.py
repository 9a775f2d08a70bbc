"""A flash sale's burst through the HTTP API on PostgreSQL: 1,000 units, 50,000 attempts from
10,000 members, at most 2 per member; the Redis engine and the SQL engine; 1 and 2 API
processes (``uvicorn --workers``), plus one ``tribekit worker`` draining the Redis engine's
reservation stream during the burst.

The load comes from separate processes (``python -m bench.bench_flash load``): asyncio on
uvloop writing prepared HTTP/1.1 requests on kept-alive connections, ``CONNECTIONS`` in all,
each request as soon as the last answer came (closed loop); a request's latency runs from its
write to the end of its answer. Attempt ``n`` is member ``n mod 10,000``'s: the first 10,000
attempts are everyone's first tap, so the units go in the first moments and 98 % of the burst
loses, as at 20:00:00.

Measured in the same run, each the same load at the same processes:

* a bare FastAPI endpoint answering a constant (``flash_floor_app.py``);
* a bare endpoint running only the Redis engine's attempt script (the same arguments, through
  the same ``RedisEngine.reserve``), for a sale opened with the same units: during a sale, and
  when every attempt wins (10,000 units, each member's single attempt);
* a bare endpoint running only the SQL engine's statement (``SqlEngine.reserve``);
* a bare loop that reads 20,000 entries of a reservation stream and builds their rows without
  writing them, against the drain writing the same kind of stream into PostgreSQL with COPY.

Targets (issue 12): the Redis engine at least 1.0x the bare script endpoint's attempts/s during
a sale and at least 0.7x when every attempt wins; the SQL engine at least 50 % of the bare SQL
endpoint; the drain at least 80 % of the stream floor; p99 under 100 ms; losers no slower than
winners; 0 oversell. ``TRIBEKIT_BENCH_FLASH_ATTEMPTS`` scales the burst (default 50,000).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import func, insert, select

from tribekit.campaigns.flash import rows, stream, tasks, tokens
from tribekit.campaigns.flash import service as flash_service
from tribekit.campaigns.flash.engine import Attempt, LiveSale, Reserved
from tribekit.campaigns.flash.live import LiveSales, read_sale
from tribekit.campaigns.flash.orders import rows_for
from tribekit.campaigns.flash.redis_engine import DRAINING, RedisEngine
from tribekit.campaigns.flash.runtime import FlashRuntime
from tribekit.campaigns.flash.spec import FlashSaleSpec
from tribekit.campaigns.flash.sql_engine import SqlEngine
from tribekit.catalog import service as catalog
from tribekit.catalog.schemas import ProductCreate
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.kit.ids import new_id
from tribekit.kit.ratelimit import redis_client
from tribekit.models.campaigns import FlashReservation, FlashSale
from tribekit.models.members import Member
from tribekit.models.orders import Order
from tribekit.tenancy import service as tenancy
from tribekit.tenancy.principal import Tenant
from tribekit.tenancy.schemas import MerchantCreate, OwnerCreate

from .bench_orders import BENCH_PASSWORD, SECRET, _free_port, _fresh_database, _start, _stop
from .harness import Result

NAME = "tribekit_bench_flash"
REDIS = os.environ.get("TRIBEKIT_BENCH_REDIS", "redis://127.0.0.1:6379/15")
ATTEMPTS = int(os.environ.get("TRIBEKIT_BENCH_FLASH_ATTEMPTS", "50000"))
UNITS = 1000
MEMBERS = 10_000
LIMIT = 2
ALL_WIN = MEMBERS  # attempts (and units) of the run where every attempt wins
STREAM_ROWS = 20_000
CONNECTIONS = int(os.environ.get("TRIBEKIT_BENCH_CONNECTIONS", "64"))
LOADERS = 2  # load generator processes
ROOT = Path(__file__).parent.parent
TRIBEKIT = str(Path(sys.executable).with_name("tribekit"))

REDIS_SALE_TARGET = 1.0
REDIS_ALL_WIN_TARGET = 0.7
SQL_TARGET = 0.5
DRAIN_TARGET = 0.8
P99_TARGET_MS = 100.0


# -- the load generator (its own processes) -----------------------------------------------------


async def _generate(port: int, connections: int, requests: list[bytes]) -> dict[str, Any]:
    """Send ``requests`` over ``connections`` kept-alive connections, each the next one as soon
    as the last answer came; (status, latency) of each. Connected first, then waits for "go"."""
    statuses = [0] * len(requests)
    latencies = [0.0] * len(requests)
    streams = [await asyncio.open_connection("127.0.0.1", port) for _ in range(connections)]
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    queue = iter(range(len(requests)))

    async def loop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for i in queue:
            started = time.perf_counter()
            writer.write(requests[i])
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                statuses[i] = 0
                return
            at = head.lower().find(b"content-length:")
            length = int(head[at + 15 : head.index(b"\r\n", at)]) if at >= 0 else 0
            await reader.readexactly(length)
            statuses[i] = int(head[9:12])
            latencies[i] = time.perf_counter() - started

    begun = time.time()
    await asyncio.gather(*(loop(r, w) for r, w in streams))
    ended = time.time()
    for _, writer in streams:
        writer.close()
    return {"start": begun, "end": ended, "statuses": statuses, "latencies": latencies}


def _loader_main(spec_path: str) -> None:
    import uvloop

    spec = json.loads(Path(spec_path).read_text())
    requests = [bytes.fromhex(r) for r in spec["requests"]]
    outcome = uvloop.run(_generate(spec["port"], spec["connections"], requests))
    Path(spec["out"]).write_text(json.dumps(outcome))


@dataclass
class Run:
    """One burst as the clients saw it."""

    attempts: int
    seconds: float
    statuses: Counter[int]
    winners_ms: list[float] = field(default_factory=list)
    losers_ms: list[float] = field(default_factory=list)

    @property
    def per_s(self) -> float:
        return self.attempts / self.seconds

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status not in (201, 409, 200))

    def p(self, which: str, q: int) -> float:
        values = self.winners_ms if which == "winners" else self.losers_ms
        if len(values) < 2:
            return values[0] if values else 0.0
        return statistics.quantiles(values, n=100)[q - 1]

    def line(self) -> str:
        text = f"{self.per_s:,.0f} attempts/s ({self.attempts:,} in {self.seconds:.1f} s)"
        if self.winners_ms:
            text += (
                f"; {len(self.winners_ms):,} winners p50 {self.p('winners', 50):.1f} / p99 "
                f"{self.p('winners', 99):.1f} ms"
            )
        if self.losers_ms:
            text += (
                f"; {len(self.losers_ms):,} losers p50 {self.p('losers', 50):.1f} / p99 "
                f"{self.p('losers', 99):.1f} ms"
            )
        if self.errors:
            text += f"; {self.errors} errors {dict(self.statuses)}"
        return text


def _request(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Length: 2"]
    lines += ["Content-Type: application/json", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n{}").encode()


def _spawn_loader(spec: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603  # this module, arguments built here
        [sys.executable, "-m", "bench.bench_flash", "load", str(spec)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )


async def _burst(port: int, requests: list[bytes]) -> Run:
    """The requests, shared among ``LOADERS`` generator processes, released together."""
    work = Path(tempfile.mkdtemp(prefix="bench-flash-"))
    loaders = []
    for k in range(LOADERS):
        spec = {
            "port": port,
            "connections": CONNECTIONS // LOADERS,
            "requests": [r.hex() for r in requests[k::LOADERS]],
            "out": str(work / f"out{k}.json"),
        }
        (work / f"spec{k}.json").write_text(json.dumps(spec))
        loaders.append(_spawn_loader(work / f"spec{k}.json"))
    for loader in loaders:
        assert loader.stdout is not None
        line = await asyncio.to_thread(loader.stdout.readline)
        assert line.strip() == b"ready", line
    for loader in loaders:
        assert loader.stdin is not None
        loader.stdin.write(b"go\n")
        loader.stdin.flush()
    for loader in loaders:
        await asyncio.to_thread(loader.wait)
    outcomes = [json.loads((work / f"out{k}.json").read_text()) for k in range(LOADERS)]
    statuses: Counter[int] = Counter()
    run = Run(len(requests), 0.0, statuses)
    for outcome in outcomes:
        for status, latency in zip(outcome["statuses"], outcome["latencies"], strict=True):
            statuses[status] += 1
            if status == 201:
                run.winners_ms.append(latency * 1000)
            elif status in (409, 200):
                run.losers_ms.append(latency * 1000)
    run.seconds = max(o["end"] for o in outcomes) - min(o["start"] for o in outcomes)
    return run


# -- the world ----------------------------------------------------------------------------------


@dataclass
class World:
    db: Database
    url: str
    redis: Redis
    tenant: Tenant
    product_id: uuid.UUID
    members: list[uuid.UUID]
    runtime: FlashRuntime
    engine: RedisEngine
    floor_sales: dict[str, dict[str, Any]] = field(default_factory=dict)
    sales_file: Path = field(default_factory=lambda: Path(tempfile.mkstemp(suffix=".json")[1]))


async def _world(db: Database, url: str, redis: Redis) -> World:
    async with db.unit_of_work() as session:
        merchant, _ = await tenancy.create_merchant(
            session,
            MerchantCreate(
                slug="bench-flash",
                name="Bench Flash",
                timezone="Asia/Shanghai",
                currency="CNY",
                country="CN",
                locale="en",
                owner=OwnerCreate(email="o@bench.example", name="O", password=BENCH_PASSWORD),
            ),
        )
        tenant = Tenant.of(merchant)
        product = await catalog.create_product(
            session,
            tenant,
            ProductCreate(name="Durian box", price=9900, stock=10**8, cost_price=6000),
        )
        people = [new_id() for _ in range(MEMBERS)]
        await session.execute(
            insert(Member),
            [
                {"id": m, "merchant_id": tenant.id, "display_name": f"Buyer {i}", "source": "bench"}
                for i, m in enumerate(people)
            ],
        )
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
    return World(db, url, redis, tenant, product.id, people, runtime, engine)


async def _sale(world: World, engine: str, units: int) -> LiveSale:
    """A sale of ``units`` made and started on ``engine`` (by this process, or by the worker
    when it runs: both start Redis sales on Redis)."""
    now = clock.now()
    spec = FlashSaleSpec(
        product_id=world.product_id,
        price=4900,
        quantity=units,
        starts_at=now - timedelta(seconds=1),
        ends_at=now + timedelta(hours=2),
        per_member_limit=LIMIT,
    )
    async with world.db.unit_of_work() as session:
        await flash_service.check_create(session, world.tenant, spec)
        made = await flash_service.do_create(session, world.tenant, spec, "bench")
        assert made is not None
        sale_id = made.id
    world.runtime.start_engine = engine
    while await world.db.run(lambda session: tasks.start_due(session, world.runtime, 10)):
        pass
    for _ in range(100):
        sale = await read_sale(world.db, sale_id)
        assert sale is not None
        if sale.status == "live" and (engine == "sql" or await world.engine.left(sale_id)):
            assert sale.engine == engine
            return sale
        await asyncio.sleep(0.1)
    raise RuntimeError(f"sale {sale_id} did not start")


async def _floor_sale(world: World, engine: str, units: int, template: LiveSale) -> LiveSale:
    """A sale for a floor endpoint: a started SQL sale; or, for the script, Redis keys of its
    own (``template``'s fields, a new id), opened with ``units`` and not drained: the floor
    does only the script."""
    if engine == "sql":
        sale = await _sale(world, "sql", units)
    else:
        sale = dataclasses.replace(template, id=new_id(), allotted=units, engine="redis")
        await world.engine.open(sale, units)
        await world.redis.srem(DRAINING, str(sale.id))
    world.floor_sales[str(sale.id)] = {
        **{k: v for k, v in sale.__dict__.items() if k not in ("community_ids", "level_ids")},
        "id": str(sale.id),
        "merchant_id": str(sale.merchant_id),
        "product_id": str(sale.product_id),
        "starts_at": sale.starts_at.isoformat(),
        "ends_at": sale.ends_at.isoformat(),
        "status": sale.status.value,
    }
    world.sales_file.write_text(json.dumps(world.floor_sales))
    return sale


def _member_order(attempts: int) -> list[int]:
    return [n % MEMBERS for n in range(attempts)]


def _purchases(world: World, sale: LiveSale, attempts: int) -> list[bytes]:
    path = f"/api/v1/flash-sales/{sale.id}/purchase"
    signed = {}
    made = []
    for m in _member_order(attempts):
        if m not in signed:
            token, _ = tokens.sign(SECRET, world.tenant.id, world.members[m], None, frozenset())
            signed[m] = _request(path, {"Authorization": f"Bearer {token}"})
        made.append(signed[m])
    return made


def _floor_requests(world: World, kind: str, sale: LiveSale | None, attempts: int) -> list[bytes]:
    if sale is None:
        return [_request("/bare", {})] * attempts
    return [
        _request(f"/{kind}/{sale.id}", {"X-Member": str(world.members[m])})
        for m in _member_order(attempts)
    ]


@dataclass(frozen=True)
class Sold:
    """What a sale sold, from the database once every win is written, and its counter."""

    allotted: int
    reservations: int
    units: int
    orders: int
    most_per_member: int
    left: int
    written_after_s: float

    @property
    def oversell(self) -> int:
        return max(self.units - self.allotted, 0)

    @property
    def balanced(self) -> bool:
        return self.units + self.left == self.allotted


async def _sold(world: World, sale: LiveSale, allotted: int, started: float) -> Sold:
    """What the sale sold, once the drain has written every win (Redis)."""
    deadline = time.monotonic() + 60
    while sale.engine == "redis":
        won = await world.redis.hlen(world.engine.keys(sale.id).won)
        async with world.db.unit_of_work(read_only=True) as session:
            have = await session.scalar(
                select(func.count())
                .select_from(FlashReservation)
                .where(FlashReservation.sale_id == sale.id)
            )
        if have == won and await world.engine.undrained(sale.id) == 0:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"the drain did not finish: {have} of {won} written")
        await asyncio.sleep(0.05)
    written_after = time.monotonic() - started
    async with world.db.unit_of_work(read_only=True) as session:
        found = (
            await session.execute(
                select(FlashReservation.member_id, FlashReservation.quantity).where(
                    FlashReservation.sale_id == sale.id
                )
            )
        ).all()
        orders = await session.scalar(
            select(func.count()).select_from(Order).where(Order.campaign_id == sale.id)
        )
        remaining = await session.scalar(select(FlashSale.remaining).where(FlashSale.id == sale.id))
    per_member: Counter[uuid.UUID] = Counter()
    for member, quantity in found:
        per_member[member] += quantity
    left = await world.engine.left(sale.id) if sale.engine == "redis" else remaining
    return Sold(
        allotted,
        len(found),
        sum(per_member.values()),
        int(orders or 0),
        max(per_member.values(), default=0),
        int(left or 0),
        written_after,
    )


# -- the runs -----------------------------------------------------------------------------------


def _env(world: World) -> dict[str, str]:
    return {
        "TRIBEKIT_DATABASE_URL": world.url,
        "TRIBEKIT_REDIS_URL": REDIS,
        "TRIBEKIT_SECRET_KEY": SECRET,
        "TRIBEKIT_ENV": "production",
        "TRIBEKIT_IN_PROCESS_WORKER": "false",
        "TRIBEKIT_LOG_LEVEL": "warning",
        "TRIBEKIT_WORKER_POLL_SECONDS": "0.2",
        "TRIBEKIT_FLASH_ENGINE": "redis",
    }


def _start_worker(world: World) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603  # our own console script
        [TRIBEKIT, "worker"],
        env={**os.environ, **_env(world)},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )


@dataclass
class Figures:
    runs: dict[str, Run] = field(default_factory=dict)
    sold: dict[str, Sold] = field(default_factory=dict)


async def _measure(world: World, processes: int, figures: Figures) -> None:
    workers = ["--workers", str(processes)]
    api_port, floor_port = _free_port(), _free_port()
    api = _start(
        ["tribekit.api.app:create_app_from_env", "--factory", *workers], _env(world), api_port
    )
    floor_env = {
        "BENCH_FLOOR_DATABASE_URL": world.url,
        "BENCH_FLOOR_REDIS_URL": REDIS,
        "BENCH_FLOOR_SALES": str(world.sales_file),
    }
    floor = _start(["bench.flash_floor_app:app", *workers], floor_env, floor_port)
    tag = f"{processes}p"
    try:
        # Warm both servers (imports, first connections, the sale cache) with short bursts.
        warm = await _sale(world, "sql", 10)
        warm_floor = await _floor_sale(world, "redis", UNITS, warm)
        await _burst(floor_port, _floor_requests(world, "script", warm_floor, 2000))
        await _burst(api_port, _purchases(world, warm, 2000))
        figures.runs[f"{tag} bare"] = await _burst(
            floor_port, _floor_requests(world, "bare", None, ATTEMPTS)
        )
        # The SQL engine: no worker runs (it would start new sales on Redis).
        sale = await _sale(world, "sql", UNITS)
        started = time.monotonic()
        figures.runs[f"{tag} sql"] = await _burst(api_port, _purchases(world, sale, ATTEMPTS))
        figures.sold[f"{tag} sql"] = await _sold(world, sale, UNITS, started)
        floor_sale = await _floor_sale(world, "sql", UNITS, sale)
        figures.runs[f"{tag} sql floor"] = await _burst(
            floor_port, _floor_requests(world, "sql", floor_sale, ATTEMPTS)
        )
        worker = _start_worker(world)
        try:
            await asyncio.sleep(3)  # the worker imported and running its sweeps
            for kind, units, attempts in (("sale", UNITS, ATTEMPTS), ("all win", ALL_WIN, ALL_WIN)):
                sale = await _sale(world, "redis", units)
                started = time.monotonic()
                run = await _burst(api_port, _purchases(world, sale, attempts))
                figures.runs[f"{tag} redis {kind}"] = run
                figures.sold[f"{tag} redis {kind}"] = await _sold(world, sale, units, started)
                floor_sale = await _floor_sale(world, "redis", units, sale)
                figures.runs[f"{tag} redis {kind} floor"] = await _burst(
                    floor_port, _floor_requests(world, "script", floor_sale, attempts)
                )
        finally:
            _stop(worker)
    finally:
        _stop(api)
        _stop(floor)


async def _drain_figures(world: World) -> tuple[float, float]:
    """Rows/s of the bare stream loop (read + build) and of the drain (read + build + COPY +
    commit + acknowledge), over streams of ``STREAM_ROWS`` entries each."""
    rates = []
    for measure in ("floor", "drain"):
        sale = await _sale(world, "redis", STREAM_ROWS)
        await _fill(world, sale, STREAM_ROWS)
        if measure == "floor":
            await world.redis.srem(DRAINING, str(sale.id))
            started = time.perf_counter()
            built = await _stream_floor(world, sale)
            rates.append(built / (time.perf_counter() - started))
        else:
            started = time.perf_counter()
            drained = await stream.drain_all(world.db, world.engine, 2000)
            rates.append(drained / (time.perf_counter() - started))
            assert drained == STREAM_ROWS, drained
    return rates[0], rates[1]


async def _fill(world: World, sale: LiveSale, count: int) -> None:
    """``count`` wins in the sale's stream, by the attempt script, 32 at a time."""
    queue = iter(range(count))

    async def one() -> None:
        for n in queue:
            won = await world.engine.reserve(
                Attempt(
                    sale=sale,
                    member_id=world.members[n % MEMBERS],
                    quantity=1,
                    reservation_id=new_id(),
                    community_id=None,
                    at=clock.now(),
                )
            )
            assert isinstance(won, Reserved)

    await asyncio.gather(*(one() for _ in range(32)))


async def _stream_floor(world: World, sale: LiveSale) -> int:
    """Read the sale's stream in batches of 2,000 through a consumer group and build every
    entry's rows (and the COPY records), writing nothing."""
    key = world.engine.keys(sale.id).stream
    await world.redis.xgroup_create(key, "floor", id="0")
    built = 0
    async with world.db.unit_of_work(read_only=True) as session:
        by_sale = await rows.sales(session, [sale.id])
    while True:
        reply: Any = await world.redis.xreadgroup("floor", "bench", {key: ">"}, count=2000)
        if not reply:
            return built
        entries = [rows.decode(sale.id, i, f) for i, f in reply[0][1]]
        made = rows_for(rows.attempts(entries, by_sale), stream_ids=[e.stream_id for e in entries])
        for key_name, _table in rows.TABLES:
            batch = getattr(made, key_name)
            columns = list(batch[0])
            [tuple(r[c] for c in columns) for r in batch]
        await world.redis.xack(key, "floor", *[e.stream_id for e in entries])
        built += len(entries)


async def run() -> list[Result]:
    db, url = await _fresh_database(NAME)
    redis = redis_client(REDIS, max_connections=64, timeout=10)
    await redis.flushdb()
    figures = Figures()
    try:
        world = await _world(db, url, redis)
        for processes in (1, 2):
            await _measure(world, processes, figures)
        floor_rate, drain_rate = await _drain_figures(world)
    finally:
        await redis.flushdb()
        await redis.aclose()
        await db.dispose()
    return _results(figures, floor_rate, drain_rate)


def _check(
    figures: Figures, measured: str, words: str, target: float
) -> tuple[Result, dict[str, Any]]:
    run, base = figures.runs[measured], figures.runs[f"{measured} floor"]
    sold = figures.sold[measured]
    ratio = run.per_s / base.per_s
    p99 = max(run.p("winners", 99), run.p("losers", 99))
    losers_ok = not run.losers_ms or (
        run.p("losers", 50) <= run.p("winners", 50) and run.p("losers", 99) <= run.p("winners", 99)
    )
    sound = sold.oversell == 0 and sold.balanced and sold.orders == sold.reservations
    met = ratio >= target and p99 < P99_TARGET_MS and losers_ok and sound and not run.errors
    notes = {
        "ratio": f"{ratio:.2f} (target {target:g})",
        "p99 ms": f"{p99:.1f} (target under {P99_TARGET_MS:g})",
        "losers no slower than winners": "yes" if losers_ok else "NO",
        "sold": (
            f"{sold.reservations:,} reservations, {sold.units:,} units of {sold.allotted:,}, "
            f"{sold.orders:,} orders, left {sold.left}, sold + left = allotted: "
            f"{'yes' if sold.balanced else 'NO'}, most per member {sold.most_per_member}, "
            f"oversell {sold.oversell}, all written {sold.written_after_s:.1f} s after the "
            "burst began"
        ),
    }
    result = Result(
        benchmark=f"flash sale burst over HTTP: {words}, {measured.split()[0]} process(es)",
        measured=f"one attempt: {run.line()}",
        seconds=1 / run.per_s,
        floor=f"one attempt at the bare endpoint: {base.line()}",
        floor_seconds=1 / base.per_s,
        target=(
            f"attempts/s at least {target:g}x the floor's, p99 under {P99_TARGET_MS:g} ms, "
            "losers no slower than winners, 0 oversell, 0 errors"
        ),
        met=met,
        figures=notes,
    )
    return result, notes


def _results(figures: Figures, floor_rate: float, drain_rate: float) -> list[Result]:
    results = []
    for processes in (1, 2):
        tag = f"{processes}p"
        for measured, words, target in (
            (f"{tag} redis sale", "Redis engine during a sale", REDIS_SALE_TARGET),
            (f"{tag} redis all win", "Redis engine, every attempt wins", REDIS_ALL_WIN_TARGET),
            (f"{tag} sql", "SQL engine during a sale", SQL_TARGET),
        ):
            result, _ = _check(figures, measured, words, target)
            results.append(result)
    constants = {
        f"bare constant endpoint, {name.split()[0]}": run.line()
        for name, run in figures.runs.items()
        if name.endswith("bare")
    }
    results.append(
        Result(
            benchmark="flash sale reservation stream drained into PostgreSQL (COPY)",
            measured=f"one row drained ({drain_rate:,.0f} rows/s)",
            seconds=1 / drain_rate,
            floor=f"one entry read and its rows built, nothing written ({floor_rate:,.0f} rows/s)",
            floor_seconds=1 / floor_rate,
            target=f"drained rows/s at least {DRAIN_TARGET:.0%} of the floor's",
            met=drain_rate >= DRAIN_TARGET * floor_rate,
            figures={
                **constants,
                "load": f"{CONNECTIONS} connections from {LOADERS} generator processes",
            },
        )
    )
    return results


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "load":
    _loader_main(sys.argv[2])
