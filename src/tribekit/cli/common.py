"""Helpers shared by the CLI commands."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import typer
from rich.console import Console

from tribekit.kit.db import Database
from tribekit.kit.errors import TribekitError
from tribekit.kit.settings import get_settings

T = TypeVar("T")
console = Console()
err_console = Console(stderr=True)


@asynccontextmanager
async def database() -> AsyncIterator[Database]:
    settings = get_settings()
    db = Database(settings.database_url, pool_size=2, max_overflow=2)
    try:
        yield db
    finally:
        await db.dispose()


def run(work: Callable[[], Awaitable[T]]) -> T:
    """Run an async command; domain errors become a red message and exit code 1."""
    try:
        return asyncio.run(work())  # type: ignore[arg-type]  # any awaitable, not only coroutines
    except TribekitError as exc:
        err_console.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(1) from exc
