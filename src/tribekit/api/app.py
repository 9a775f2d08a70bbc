"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from redis.asyncio import Redis

from tribekit import __version__, web
from tribekit.campaigns.flash.router import purchase_router as flash_purchase_router
from tribekit.campaigns.router import router as campaigns_router
from tribekit.catalog.router import media_router
from tribekit.catalog.router import router as catalog_router
from tribekit.communities.router import router as communities_router
from tribekit.kit.db import Database
from tribekit.kit.logging import configure_logging
from tribekit.kit.ratelimit import (
    LeasedRateLimiter,
    MemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    redis_client,
)
from tribekit.kit.settings import Settings, get_settings
from tribekit.kit.worker import WorkerLoop
from tribekit.members.router import router as members_router
from tribekit.membership.router import config_router as membership_router
from tribekit.membership.router import me_router as member_card_router
from tribekit.membership.router import member_router as member_points_router
from tribekit.orders import payments
from tribekit.orders.router import me_router
from tribekit.orders.router import router as orders_router
from tribekit.robot import pipeline, recent
from tribekit.robot.channels import aclose as close_channels
from tribekit.robot.channels import build_channels
from tribekit.robot.router import router as robot_router
from tribekit.robot.router import webhook_router as robot_webhook_router
from tribekit.sweeps import all_sweeps
from tribekit.tenancy.auth import PrincipalCache
from tribekit.tenancy.router import router as tenancy_router

from . import docs, health, problems
from .deps import reject_nul_in_query, staff_security
from .middleware import BodyLimitMiddleware, DatabaseErrorsMiddleware, RequestContextMiddleware
from .state import AppState

DESCRIPTION = """
Tribekit's REST API. Authenticate with an API token: `Authorization: Bearer tkt_...`.

Every error is an RFC 9457 `application/problem+json` document with a stable `code`.
Lists are paginated with cursors: pass `next_cursor` back as `cursor`.
"""


API_ROUTERS = [
    tenancy_router,
    members_router,
    member_points_router,
    membership_router,
    communities_router,
    catalog_router,
    orders_router,
    campaigns_router,
    robot_router,
    me_router,
    member_card_router,
]


def create_app(
    settings: Settings | None = None,
    *,
    db: Database | None = None,
    redis: Redis | None = None,
    run_worker: bool = False,
    freeze_gc: bool = False,
) -> FastAPI:
    """Build the app. ``db`` and ``redis`` may be given (tests); otherwise they come from
    ``settings`` when the app starts. ``run_worker`` runs the worker loop in this process.
    ``freeze_gc``: once started, move every object made so far (modules, routes, schemas) out
    of the garbage collector's view, so that its collections walk only what requests create."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = db or Database(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout,
            pre_ping=settings.db_pre_ping,
            retry_attempts=settings.db_retry_attempts,
        )
        client = redis
        if client is None and settings.redis_url:
            client = redis_client(
                settings.redis_url,
                max_connections=settings.redis_max_connections,
                timeout=settings.redis_pool_timeout,
            )
        limiter: RateLimiter
        token_limiter: RateLimiter
        if client is not None:
            shared = RedisRateLimiter(client)
            limiter, token_limiter = shared, LeasedRateLimiter(shared)
        else:
            limiter = token_limiter = MemoryRateLimiter()
        providers = payments.build_providers(settings)
        channels = build_channels(settings, database)
        # Members' recent posts (flood, duplicates): in Redis when configured, else the database;
        # /me answers with a signed link to the member card.
        robot_hook.context = pipeline.RobotContext(
            recent=recent.build(client),
            secret_key=settings.resolved_secret_key(),
            public_url=settings.public_url,
        )
        app.state.tribekit = AppState(
            settings,
            database,
            client,
            limiter,
            settings.resolved_secret_key(),
            providers,
            PrincipalCache(settings.principal_cache_seconds),
            token_limiter,
            channels,
        )
        stop = asyncio.Event()
        worker = None
        if run_worker:
            loop = WorkerLoop(
                database,
                all_sweeps(
                    database,
                    providers,
                    channels,
                    app.state.tribekit.throttle,
                    settings.schedule_horizon_hours,
                    client,
                    settings.campaign_horizon_hours,
                    settings.public_url,
                ),
                poll_seconds=settings.worker_poll_seconds,
            )
            worker = asyncio.create_task(loop.run_forever(stop))
        if freeze_gc:
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            stop.set()
            if worker is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
            await payments.aclose(providers)
            await close_channels(channels)
            if db is None:
                await database.dispose()
            if redis is None and client is not None:
                await client.aclose()

    app = FastAPI(
        dependencies=[Depends(reject_nul_in_query)],
        title="Tribekit",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by api/docs.py from the package, not from a CDN
        redoc_url=None,
    )
    docs.install(app)
    problems.install(app)
    app.openapi = lambda: staff_security(problems.openapi_with_problems(app), app.routes)  # type: ignore[method-assign]  # FastAPI documents this override
    # The hot paths first: every message of every group, and a flash sale's every attempt,
    # matched before any other route.
    app.include_router(robot_webhook_router, responses=problems.PROBLEM_RESPONSES)
    app.include_router(flash_purchase_router, responses=problems.PROBLEM_RESPONSES)
    app.include_router(health.router)
    media_problems: dict[int | str, dict[str, Any]] = {
        status: problems.PROBLEM_RESPONSES[status] for status in (404, 422)
    }
    app.include_router(media_router, responses=media_problems)
    for router in API_ROUTERS:
        app.include_router(router, responses=problems.PROBLEM_RESPONSES)
    # The web community's pages, outside /api; each member's post goes through the robot.
    robot_hook = pipeline.Hook()
    web.install(app, on_post=robot_hook)
    app.add_middleware(DatabaseErrorsMiddleware, attempts=settings.db_retry_attempts)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        upload_max_bytes=settings.max_upload_bytes,
    )
    app.add_middleware(RequestContextMiddleware)  # added last = outermost
    return app


def create_app_from_env() -> FastAPI:
    """The factory ``tribekit serve`` hands to uvicorn: settings come from the environment, so
    every server process (``--workers N``) builds the same app."""
    settings = get_settings()
    configure_logging(settings.log_level, json_lines=settings.json_logs)
    return create_app(settings, run_worker=settings.in_process_worker, freeze_gc=True)
