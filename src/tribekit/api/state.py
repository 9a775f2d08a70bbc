"""What the running app holds: settings, database, Redis, rate limiter, secret key."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from tribekit.kit.db import Database
from tribekit.kit.ratelimit import RateLimiter
from tribekit.kit.settings import Settings


@dataclass
class AppState:
    settings: Settings
    db: Database
    redis: Redis | None
    limiter: RateLimiter
    secret_key: str
