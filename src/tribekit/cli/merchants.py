"""``tribekit merchant``: create merchants, list them, issue API tokens; the platform admin."""

from __future__ import annotations

import typer
from pydantic import ValidationError
from rich import box
from rich.table import Table

from tribekit import migrations
from tribekit.kit.db import Database
from tribekit.kit.settings import get_settings
from tribekit.models.tenancy import Merchant
from tribekit.tenancy import auth, service
from tribekit.tenancy import repository as repo
from tribekit.tenancy.schemas import MerchantCreate, OwnerCreate

from .common import console, database, err_console, run

app = typer.Typer(help="Merchants (tenants): create, list, issue API tokens.")


@app.command()
def create(
    slug: str = typer.Option(..., help="Short unique name used in URLs, e.g. greenwood-fruit"),
    name: str = typer.Option(..., help="Display name, e.g. 'Greenwood Fruit'"),
    currency: str = typer.Option(..., help="ISO 4217 currency, e.g. CNY"),
    country: str = typer.Option(..., help="ISO 3166 country, default region for phone numbers"),
    timezone: str = typer.Option(
        None, help="IANA timezone for schedules and reports \\[default: TRIBEKIT_DEFAULT_TIMEZONE]"
    ),
    locale: str = typer.Option("en", help="Locale for formatting, e.g. en or zh_CN"),
    owner_email: str = typer.Option(..., help="The owner's login email"),
    owner_name: str = typer.Option(..., help="The owner's name"),
    # Asked for when not given (so no default and not "required" in the help).
    owner_password: str = typer.Option(
        None,
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        show_default=False,
        help="At least 10 characters; asked for when not given",
    ),
) -> None:
    """Create a merchant and its owner, and print an API token for the owner."""
    try:
        data = MerchantCreate(
            slug=slug,
            name=name,
            currency=currency,
            country=country,
            timezone=timezone,
            locale=locale,
            owner=OwnerCreate(email=owner_email, name=owner_name, password=owner_password),
        )
    except ValidationError as exc:
        for error in exc.errors():
            err_console.print(f"[red]{'.'.join(map(str, error['loc']))}[/red]: {error['msg']}")
        raise typer.Exit(2) from exc

    async def work() -> str:
        async with database() as db:
            await migrations.upgrade(db)
            async with db.unit_of_work() as session:
                merchant, owner = await service.create_merchant(
                    session, data, default_timezone=get_settings().default_timezone
                )
                _, secret = await auth.issue_token(
                    session,
                    get_settings().resolved_secret_key(),
                    user_id=owner.user_id,
                    merchant_id=merchant.id,
                    name="created with the CLI",
                )
            return secret

    secret = run(work)
    console.print(f"merchant [bold]{slug}[/bold] created; owner {owner_email}")
    console.print(f"owner API token (shown once): [bold]{secret}[/bold]")


@app.command("list")
def list_merchants() -> None:
    """List all merchants."""

    async def work() -> list[Merchant]:
        async with database() as db:
            await migrations.upgrade(db)
            async with db.unit_of_work() as session:
                return await repo.all_merchants(session)

    # Ids and slugs are copied into other commands: never cut. The id stays on one line; the
    # other columns fold onto more lines when the terminal is narrow.
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("slug", "name", "currency", "country", "timezone"):
        table.add_column(column, overflow="fold")
    table.add_column("id", no_wrap=True, min_width=36)
    for m in run(work):
        table.add_row(m.slug, m.name, m.currency, m.country, m.timezone, str(m.id))
    console.print(table)


@app.command()
def token(
    merchant: str = typer.Option(..., help="Merchant slug"),
    email: str = typer.Option(..., help="Staff user the token acts as"),
    name: str = typer.Option("cli", help="A name to recognise the token by"),
    days: int = typer.Option(None, min=1, help="Expire after this many days"),
) -> None:
    """Issue an API token for a staff user of a merchant (acts with that user's role)."""

    async def work() -> str:
        async with database() as db:
            await migrations.upgrade(db)
            return await issue(db)

    async def issue(db: Database) -> str:
        async with db.unit_of_work() as session:
            found = await repo.merchant_by_slug(session, merchant)
            user = await repo.user_by_email(session, email)
            if found is None or user is None:
                raise typer.BadParameter("no such merchant or staff user")
            if await repo.StaffRoles(session, found.id).of_user(user.id) is None:
                raise typer.BadParameter(f"{email} does not work for {merchant}")
            _, secret = await auth.issue_token(
                session,
                get_settings().resolved_secret_key(),
                user_id=user.id,
                merchant_id=found.id,
                name=name,
                expires_in_days=days,
            )
            return secret

    console.print(f"API token (shown once): [bold]{run(work)}[/bold]")


def platform_admin(
    email: str = typer.Option(..., help="Login email"),
    name: str = typer.Option("Platform admin", help="Display name"),
    password: str = typer.Option(
        None,
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        show_default=False,
        help="At least 10 characters; asked for when not given",
    ),
) -> None:
    """Create the platform admin (who may create merchants through the API) and print a
    platform API token."""

    async def work() -> str:
        async with database() as db:
            await migrations.upgrade(db)
            async with db.unit_of_work() as session:
                user = await service.ensure_platform_admin(session, email, name, password)
                _, secret = await auth.issue_token(
                    session,
                    get_settings().resolved_secret_key(),
                    user_id=user.id,
                    merchant_id=None,
                    name="platform",
                )
            return secret

    console.print(f"platform API token (shown once): [bold]{run(work)}[/bold]")
