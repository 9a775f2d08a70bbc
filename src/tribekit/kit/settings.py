"""Runtime settings, read from ``TRIBEKIT_*`` environment variables (and a ``.env`` file)."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_FILE_NAME = ".tribekit-secret"  # noqa: S105  # a file name, not a secret


class MissingSecretKey(RuntimeError):
    pass


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRIBEKIT_", env_file=".env", extra="ignore")

    env: Literal["development", "production"] = "development"
    database_url: str = "sqlite+aiosqlite:///./tribekit.db"
    redis_url: str | None = None
    secret_key: SecretStr | None = None
    data_dir: Path = Path()
    host: str = "127.0.0.1"
    port: int = 8000
    forwarded_allow_ips: str = Field(
        default="",
        description="addresses of the reverse proxies whose X-Forwarded-For and X-Forwarded-Proto "
        "are believed, comma-separated (e.g. 127.0.0.1 or 10.0.0.0/8); empty: believe no proxy",
    )
    log_level: str = "info"
    log_json: bool | None = Field(
        default=None, description="JSON log lines; defaults to on in production, off otherwise"
    )
    default_timezone: str = "UTC"
    max_body_bytes: int = 1024 * 1024
    max_upload_bytes: int = Field(
        default=10 * 1024 * 1024,
        description="body limit of the routes that take files (product images, CSV imports)",
    )
    db_pool_size: int = Field(
        default=20, ge=1, description="PostgreSQL connections kept open per process"
    )
    db_max_overflow: int = Field(
        default=0,
        ge=0,
        description="extra connections opened past db_pool_size under load and closed again",
    )
    db_pool_timeout: float = Field(
        default=10,
        gt=0,
        description="seconds a request waits for a database connection before a 503",
    )
    db_pre_ping: bool = Field(
        default=False, description="test each connection before use (a round trip per request)"
    )
    db_retry_attempts: int = Field(
        default=3,
        ge=1,
        description="runs of a unit of work that PostgreSQL aborts for a deadlock or a "
        "serialization failure, before a 503 'contention'",
    )
    redis_max_connections: int = Field(
        default=50, ge=1, description="Redis connections per process"
    )
    redis_pool_timeout: float = Field(
        default=5, gt=0, description="seconds a request waits for a Redis connection before a 503"
    )
    principal_cache_seconds: float = Field(
        default=5,
        ge=0,
        description="how long a process reuses a checked credential (0: check every request); "
        "a revoked token or changed role may work this long in other processes",
    )
    login_rate_limit: int = Field(default=10, description="login attempts per minute per email+IP")
    token_rate_limit: int = Field(default=600, description="API requests per minute per token")
    failed_auth_rate_limit: int = Field(
        default=30, description="failed sign-ins and unknown tokens per minute per client address"
    )
    session_days: int = 14
    worker_poll_seconds: float = 1.0
    in_process_worker: bool = Field(
        default=True, description="run the worker loop inside each server process"
    )
    stripe_secret_key: SecretStr | None = Field(
        default=None, description="Stripe secret API key (sk_...); Stripe is off without it"
    )
    stripe_webhook_secret: SecretStr | None = Field(
        default=None, description="signing secret of the Stripe webhook endpoint (whsec_...)"
    )
    stripe_api_base: str = Field(
        default="https://api.stripe.com", description="Stripe API base URL (tests point it here)"
    )
    stripe_success_url: str = Field(
        default="http://127.0.0.1:8000/m/orders/{order_id}?paid=1",
        description="where Stripe Checkout sends the payer after paying; may contain {order_id}",
    )
    stripe_cancel_url: str = Field(
        default="http://127.0.0.1:8000/m/orders/{order_id}",
        description="where Stripe Checkout sends a payer who cancels; may contain {order_id}",
    )
    stripe_webhook_tolerance: int = Field(
        default=300, ge=1, description="oldest accepted Stripe webhook signature, in seconds"
    )
    public_url: str | None = Field(
        default=None,
        description="the address the internet reaches this server at, e.g. "
        "https://shop.example; Telegram's webhooks are set to it",
    )
    telegram_api_base: str = Field(
        default="https://api.telegram.org",
        description="Telegram Bot API server base URL (a local Bot API server, or the tests')",
    )
    schedule_horizon_hours: float = Field(
        default=24,
        gt=0,
        le=24 * 14,
        description="how far ahead the worker creates each scheduled post's coming occurrences",
    )
    flash_engine: Literal["auto", "sql", "redis"] = Field(
        default="auto",
        description="where flash sales count units: 'redis' (a Lua script per attempt, orders "
        "written from a stream), 'sql' (one conditional statement per attempt), or 'auto' "
        "(Redis when redis_url is set)",
    )
    campaign_horizon_hours: float = Field(
        default=24,
        gt=0,
        le=24 * 14,
        description="how far ahead the worker creates each campaign schedule's occurrences",
    )
    manual_payment_instructions: str | None = Field(
        default=None,
        description="what members are told about paying staff; may contain {order_number}",
    )
    media_storage: Literal["disk", "s3"] = Field(
        default="disk", description="where uploaded images are kept: a directory or an S3 bucket"
    )
    media_dir: Path | None = Field(
        default=None, description="directory of disk media storage; default <data_dir>/media"
    )
    media_base_url: str = Field(
        default="/media",
        description="URL prefix stored images are served at: Tribekit's own /media route, or a "
        "CDN or public bucket URL in front of the storage",
    )
    s3_bucket: str | None = Field(default=None, description="bucket of S3 media storage")
    s3_endpoint_url: str | None = Field(
        default=None, description="S3-compatible endpoint (MinIO, R2...); AWS when unset"
    )
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_prefix: str = Field(default="", description="key prefix inside the bucket, e.g. 'tribekit'")

    @property
    def json_logs(self) -> bool:
        return self.log_json if self.log_json is not None else self.is_production

    @field_validator("default_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown timezone {value!r}; use an IANA name such as Asia/Shanghai"
            ) from exc
        return value

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def resolved_media_dir(self) -> Path:
        return self.media_dir if self.media_dir is not None else self.data_dir / "media"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def resolved_secret_key(self) -> str:
        """The secret key; in development it is generated once and kept in the data directory.

        Production never falls back to a generated or built-in key: a missing key is an error.
        """
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        if self.is_production:
            raise MissingSecretKey("TRIBEKIT_SECRET_KEY must be set when TRIBEKIT_ENV=production")
        path = self.data_dir / SECRET_FILE_NAME
        if path.exists():
            return path.read_text().strip()
        key = secrets.token_urlsafe(48)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(key)
        path.chmod(0o600)
        return key


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
