"""``tribekit db``: schema migrations."""

from __future__ import annotations

import typer

from tribekit import migrations

from .common import console, database, run

app = typer.Typer(help="Database schema: upgrade, show the current revision, write a migration.")


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision")) -> None:
    """Apply migrations up to REVISION (default: the newest). Safe to run from many processes."""

    async def work() -> None:
        async with database() as db:
            await migrations.upgrade(db, revision)
            console.print(
                f"database at revision [bold]{await migrations.current_revision(db)}[/bold]"
            )

    run(work)


@app.command()
def current() -> None:
    """Show the database's revision and the newest one this version of Tribekit ships."""

    async def work() -> None:
        async with database() as db:
            console.print(f"database: {await migrations.current_revision(db) or '(empty)'}")
            console.print(f"newest:   {migrations.head_revision()}")

    run(work)


@app.command()
def revision(
    message: str = typer.Option(..., "--message", "-m", help="What the change does"),
) -> None:
    """(Contributors) Write a new migration from the difference between models and database."""

    async def work() -> None:
        async with database() as db:
            await migrations.upgrade(db)
            await migrations.make_revision(db, message)

    run(work)
