"""The ``tribekit`` command."""

from __future__ import annotations

import typer

from tribekit.kit.logging import configure_logging
from tribekit.kit.settings import get_settings

from . import catalog, db, demo, members, merchants, robot, server

app = typer.Typer(
    name="tribekit",
    help="Tribekit: self-hosted community commerce. Settings come from TRIBEKIT_* variables.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,
)
server.register(app)
app.add_typer(db.app, name="db")
app.add_typer(merchants.app, name="merchant")
app.command("platform-admin")(merchants.platform_admin)
app.add_typer(members.app, name="members")
app.add_typer(catalog.app, name="catalog")
app.add_typer(robot.app, name="robot")
demo.register(app)


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, json_lines=settings.json_logs)
    app()
