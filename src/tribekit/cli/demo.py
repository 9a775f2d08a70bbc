"""``tribekit demo``: the demo merchant."""

from __future__ import annotations

import typer
from rich.panel import Panel

from tribekit import migrations
from tribekit.demo.seed import DEMO_STEPS, DemoLogin, seed_demo
from tribekit.kit.db import Database
from tribekit.kit.settings import get_settings

from .common import console, database, progress_bar, run


def print_login(login: DemoLogin) -> None:
    what = "created" if login.created else "already there"
    console.print(
        Panel.fit(
            f"Demo merchant [bold]{login.merchant_slug}[/bold] ({what})\n"
            f"Staff login: {login.email} / {login.password}\n"
            f"API token:   [bold]{login.api_token}[/bold]\n"
            "Try it: open /docs, press Authorize, paste the token.",
            title="Tribekit demo",
        )
    )


async def seed_with_progress(db: Database) -> DemoLogin:
    with progress_bar("demo members and points", DEMO_STEPS) as advance:
        return await seed_demo(db, get_settings().resolved_secret_key(), advance)


def register(app: typer.Typer) -> None:
    app.command()(demo)


def demo() -> None:
    """Create the demo merchant "Greenwood Fruit" (staff, groups, ~500 members, levels,
    points history, Black card holders) if missing and
    print a staff login and a fresh API token."""

    async def work() -> DemoLogin:
        async with database() as db:
            await migrations.upgrade(db)
            return await seed_with_progress(db)

    print_login(run(work))
