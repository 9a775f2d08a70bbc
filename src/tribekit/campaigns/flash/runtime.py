"""What one process holds for flash sales: its engines, its live view of the sales, the
members it refuses; built once per process (the API on its first flash request, the worker
when its sweeps are made) from the database, the Redis client and the secret key."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from tribekit.kit.db import Database
from tribekit.kit.settings import Settings

from .engine import FlashEngine, build_engines, engine_for, engine_name
from .live import LiveSales
from .tokens import REFUSED, RefusedMembers


@dataclass
class FlashRuntime:
    db: Database
    redis: Redis | None
    secret_key: str
    engines: dict[str, FlashEngine]
    #: The engine sales start on (``flash_engine``: ``auto`` is Redis when configured).
    start_engine: str
    live: LiveSales
    refused: RefusedMembers

    def engine(self, name: str) -> FlashEngine:
        return engine_for(self.engines, name)


_INSTALLED: dict[str, FlashEngine] = {}
#: One runtime per database of the process: the API's routes and the worker's sweeps share it,
#: so that a sale the worker starts or ends is read again by the routes at once.
_RUNTIMES: dict[int, FlashRuntime] = {}


def shared(
    db: Database, redis: Redis | None, settings: Settings, secret_key: str | None = None
) -> FlashRuntime:
    """This process's runtime for ``db``, built on first use (the worker's sweeps give no
    secret key; the API's first flash request does)."""
    found = _RUNTIMES.get(id(db))
    if found is None or found.db is not db:
        engines = build_engines(db, redis)
        _INSTALLED.update(engines)
        found = FlashRuntime(
            db=db,
            redis=redis,
            secret_key=secret_key or "",
            engines=engines,
            start_engine=engine_name(settings, redis),
            live=LiveSales(db),
            refused=REFUSED,
        )
        _RUNTIMES[id(db)] = found
    elif secret_key and not found.secret_key:
        found.secret_key = secret_key
    return found


def installed(name: str) -> FlashEngine | None:
    """This process's engine ``name`` if a runtime was built here (for the orders domain's
    calls, which are given no app state), else None."""
    return _INSTALLED.get(name)
