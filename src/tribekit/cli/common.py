"""Helpers shared by the CLI commands."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from tribekit.kit.db import Database, unavailable
from tribekit.kit.errors import TribekitError
from tribekit.kit.settings import MissingSecretKey, get_settings
from tribekit.tenancy import repository as repo
from tribekit.tenancy.principal import Tenant

T = TypeVar("T")
# soft_wrap: a message is never broken across lines at the terminal's width, so a token or an
# error stays one line to copy or to read in a log.
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


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


async def tenant_by_slug(db: Database, slug: str) -> Tenant:
    """The merchant named by ``--merchant``, or a usage error naming the option."""
    found = await db.run(lambda session: repo.merchant_by_slug(session, slug), read_only=True)
    if found is None:
        raise typer.BadParameter(f"no merchant with slug {slug!r}", param_hint="--merchant")
    return Tenant.of(found)


def run(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run an async command; domain errors (``Contention`` and ``ServiceUnavailable`` among
    them) and a database that cannot be reached become one red line and exit code 1."""
    try:
        return asyncio.run(work())
    except TribekitError as exc:
        err_console.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(1) from exc
    except MissingSecretKey as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    except Exception as exc:
        # The pool's timeout, a refused or lost connection, SQLite's lock held too long: the
        # same 503 the API answers, said in one line; anything else is a bug and keeps its
        # traceback.
        problem = unavailable(exc)
        if problem is None:
            raise
        err_console.print(f"[red]error:[/red] {problem.detail}")
        raise typer.Exit(1) from exc
