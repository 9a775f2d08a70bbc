"""Helpers shared by the CLI commands."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from tribekit.kit.db import Database
from tribekit.kit.errors import TribekitError
from tribekit.kit.settings import MissingSecretKey, get_settings

T = TypeVar("T")
console = Console()
err_console = Console(stderr=True)


@contextmanager
def progress_bar(
    label: str, total: int, *, on: Console | None = None
) -> Iterator[Callable[[int], None]]:
    """A Rich progress bar (on stdout, or ``on``: stderr when stdout carries data); yields
    ``advance(n)``."""
    with Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=on or console,
        transient=False,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


@asynccontextmanager
async def database() -> AsyncIterator[Database]:
    settings = get_settings()
    db = Database(settings.database_url, pool_size=2, max_overflow=2)
    try:
        yield db
    finally:
        await db.dispose()


def run(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run an async command; domain errors become a red message and exit code 1."""
    try:
        return asyncio.run(work())
    except TribekitError as exc:
        err_console.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(1) from exc
    except MissingSecretKey as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
