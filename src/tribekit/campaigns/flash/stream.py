"""The Redis engine's reservation stream, drained into the database."""

from __future__ import annotations

from redis.asyncio import Redis

from tribekit.kit.db import Database
from tribekit.kit.worker import Sweep


def sweeps(db: Database, redis: Redis | None) -> list[Sweep]:
    del db, redis
    return []
