"""``tribekit serve`` and ``tribekit worker``."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import typer
import uvicorn

from tribekit import migrations
from tribekit.kit.ratelimit import redis_client
from tribekit.kit.settings import Settings, get_settings
from tribekit.kit.throttle import SharedPacingRequired, build_throttle, check_shared_pacing, sharing
from tribekit.kit.worker import WorkerLoop
from tribekit.orders import payments
from tribekit.robot.channels import aclose as close_channels
from tribekit.robot.channels import build_channels
from tribekit.sweeps import all_sweeps

from .common import console, database, err_console, run
from .demo import print_login, seed_with_progress


def proxy_options(settings: Settings) -> dict[str, Any]:
    """How uvicorn treats ``X-Forwarded-For``/``-Proto``: believed only from the proxies named in
    ``TRIBEKIT_FORWARDED_ALLOW_IPS``. Unset, no proxy is trusted, not even one on 127.0.0.1
    (uvicorn's own default), so nothing on the machine can pick its address for the
    per-address rate limits."""
    trusted = [ip.strip() for ip in settings.forwarded_allow_ips.split(",") if ip.strip()]
    if not trusted:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": trusted}


def require_shared_pacing(settings: Settings) -> None:
    """Stop before starting anything when production has no store to share send pacing in
    (exit status 2, as for a missing secret key)."""
    try:
        check_shared_pacing(settings)
    except SharedPacingRequired as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(worker)


def serve(
    host: str = typer.Option(
        None, help="Address to listen on \\[default: TRIBEKIT_HOST or 127.0.0.1]"
    ),
    port: int = typer.Option(None, help="Port \\[default: TRIBEKIT_PORT or 8000]"),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="Server processes"),
    demo: bool = typer.Option(False, "--demo", help="Create the demo merchant if missing"),
    no_worker: bool = typer.Option(
        False, "--no-worker", help="Do not run the worker loop here (run `tribekit worker`)"
    ),
) -> None:
    """Upgrade the database, then serve the API (docs at /docs) and, unless --no-worker, run the
    worker loop in each server process."""
    settings = get_settings()
    require_shared_pacing(settings)
    host = host or settings.host
    port = port or settings.port

    async def prepare() -> None:
        async with database() as db:
            await migrations.upgrade(db)
            if demo:
                base = settings.public_url or f"http://{host}:{port}"
                print_login(await seed_with_progress(db), base.rstrip("/"))

    run(prepare)
    if no_worker:
        os.environ["TRIBEKIT_IN_PROCESS_WORKER"] = "false"
        get_settings.cache_clear()
    console.print(f"Tribekit on [bold]http://{host}:{port}[/bold]  (API docs: /docs)")
    uvicorn.run(
        "tribekit.api.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        **proxy_options(settings),
    )


def worker() -> None:
    """Run the worker loop alone (campaign starts, expiries, releases...). Run as many as you
    like: on PostgreSQL they share the due rows without doing anything twice."""
    settings = get_settings()
    require_shared_pacing(settings)

    async def work() -> None:
        async with database() as db:
            await migrations.upgrade(db)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            redis = None
            if settings.redis_url:
                redis = redis_client(
                    settings.redis_url,
                    max_connections=settings.redis_max_connections,
                    timeout=settings.redis_pool_timeout,
                )
            providers = payments.build_providers(settings)
            channels = build_channels(settings, db)
            throttle = build_throttle(settings, db, redis)
            sweeps = all_sweeps(
                db,
                providers,
                channels,
                throttle,
                settings.schedule_horizon_hours,
                redis,
                settings.campaign_horizon_hours,
                settings.public_url,
            )
            console.print(
                f"worker running {len(sweeps)} sweeps, send pacing {sharing(throttle)}; "
                "Ctrl+C to stop"
            )
            try:
                await WorkerLoop(db, sweeps, poll_seconds=settings.worker_poll_seconds).run_forever(
                    stop
                )
            finally:
                await payments.aclose(providers)
                await close_channels(channels)
                if redis is not None:
                    await redis.aclose()

    run(work)
