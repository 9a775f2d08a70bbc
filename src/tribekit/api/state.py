"""What the running app holds: settings, database, Redis, rate limiters, secret key, payment
providers, chat channels, the credentials checked recently, and the send pacing of the chat
platforms."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from redis.asyncio import Redis

from tribekit.kit.db import Database
from tribekit.kit.ratelimit import RateLimiter
from tribekit.kit.settings import Settings
from tribekit.kit.throttle import Throttle, build_throttle
from tribekit.orders.payments import PaymentProvider
from tribekit.robot.channels import Channel
from tribekit.tenancy.auth import PrincipalCache


@dataclass
class AppState:
    settings: Settings
    db: Database
    redis: Redis | None
    limiter: RateLimiter
    secret_key: str
    providers: Mapping[str, PaymentProvider] = field(default_factory=dict)
    principals: PrincipalCache = field(default_factory=lambda: PrincipalCache(0))
    #: For the per-token request rate, checked on every request: with Redis, a
    #: ``LeasedRateLimiter`` in front of ``limiter``; None means ``limiter`` itself.
    token_limiter: RateLimiter | None = None
    channels: Mapping[str, Channel] = field(default_factory=dict)
    #: Send pacing under the chat platforms' limits, shared by every process (Redis, else
    #: PostgreSQL; in memory only on SQLite), for the sweeps that send.
    throttle: Throttle = field(init=False)

    def __post_init__(self) -> None:
        # Built as the app starts, beside the secret key, and checked with it: production
        # refuses to pace each process's sends on its own (SharedPacingRequired names the
        # settings to give).
        self.throttle = build_throttle(self.settings, self.db, self.redis)
