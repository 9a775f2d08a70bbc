"""``tribekit merchant``: create merchants, invite their owners, list them, issue API tokens; the
platform admin."""

from __future__ import annotations

import typer
from pydantic import ValidationError
from rich import box
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit import migrations
from tribekit.kit.settings import get_settings
from tribekit.models.tenancy import Merchant
from tribekit.tenancy import auth, onboarding, service
from tribekit.tenancy import repository as repo
from tribekit.tenancy.schemas import MerchantCreate, OwnerCreate, OwnerInvitationCreate

from .common import console, database, err_console, run, tenant_by_slug

app = typer.Typer(help="Merchants (tenants): create, invite owners, list, issue API tokens.")


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
    # Asked for only when the email has no login yet (so no default and not "required").
    owner_password: str = typer.Option(
        None,
        show_default=False,
        help="A new owner's password, at least 10 characters; asked for when not given. An "
        "email that already has a login is invited instead and keeps its password",
    ),
) -> None:
    """Create a merchant and its owner, and print an API token for the owner. An owner email
    that already has a login gets an owner invitation instead (printed here); that person
    becomes owner by accepting it."""
    if owner_password is None and not run(lambda: _has_login(owner_email)):
        owner_password = typer.prompt("Owner password", hide_input=True, confirmation_prompt=True)
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
    settings = get_settings()
    secret_key = settings.resolved_secret_key()

    async def create_in(session: AsyncSession) -> tuple[onboarding.MerchantCreated, str | None]:
        created = await onboarding.create_merchant(
            session,
            secret_key,
            data,
            invited_by=None,
            default_timezone=settings.default_timezone,
        )
        if created.owner is None:
            return created, None
        _, secret = await auth.issue_token(
            session,
            secret_key,
            user_id=created.owner.user_id,
            merchant_id=created.merchant.id,
            name="created with the CLI",
        )
        return created, secret

    async def work() -> tuple[onboarding.MerchantCreated, str | None]:
        async with database() as db:
            await migrations.upgrade(db)
            return await db.run(create_in)

    created, secret = run(work)
    if created.invited is None:
        console.print(f"merchant [bold]{slug}[/bold] created; owner {data.owner.email}")
        console.print(f"owner API token (shown once): [bold]{secret}[/bold]")
        return
    invitation = created.invited.invitation
    console.print(
        f"merchant [bold]{slug}[/bold] created; {invitation.email} already has a login, so it "
        "was invited to be the owner (nothing about that login changed)"
    )
    console.print(f"owner invitation token (shown once): [bold]{created.invited.token}[/bold]")
    console.print(
        f"Send it to them: they accept with POST /api/v1/staff/invitations/accept (their "
        f"password, or signed in as them) before {invitation.expires_at:%Y-%m-%d %H:%M} UTC."
    )


@app.command("invite-owner")
def invite_owner(
    merchant: str = typer.Option(..., help="Merchant slug"),
    email: str = typer.Option(..., help="Who is invited to own it; a login is not needed"),
) -> None:
    """Print a new owner invitation to a merchant (valid 7 days), e.g. when the one printed by
    merchant create expired or was lost. The email's pending invitation there stops working."""
    try:
        data = OwnerInvitationCreate(email=email)
    except ValidationError as exc:
        for error in exc.errors():
            err_console.print(f"[red]--{'.'.join(map(str, error['loc']))}[/red]: {error['msg']}")
        raise typer.Exit(2) from exc
    secret_key = get_settings().resolved_secret_key()

    async def work() -> onboarding.OwnerInvited:
        async with database() as db:
            await migrations.upgrade(db)
            tenant = await tenant_by_slug(db, merchant)
            return await db.run(
                lambda session: onboarding.invite_owner(
                    session, secret_key, tenant.id, data.email, invited_by=None
                )
            )

    invited = run(work)
    invitation = invited.invitation
    console.print(f"{invitation.email} invited to own [bold]{merchant}[/bold]")
    console.print(f"owner invitation token (shown once): [bold]{invited.token}[/bold]")
    console.print(
        "Send it to them: they accept with POST /api/v1/staff/invitations/accept before "
        f"{invitation.expires_at:%Y-%m-%d %H:%M} UTC, with a name and a new password if the "
        "email has no login yet, otherwise with its password (or signed in as them)."
    )


async def _has_login(email: str) -> bool:
    async with database() as db:
        await migrations.upgrade(db)
        user = await db.run(lambda session: repo.user_by_email(session, email), read_only=True)
    return user is not None


@app.command("list")
def list_merchants() -> None:
    """List all merchants."""

    async def work() -> list[Merchant]:
        async with database() as db:
            await migrations.upgrade(db)
            return await db.run(repo.all_merchants, read_only=True)

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

    async def issue(session: AsyncSession) -> str:
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

    async def work() -> str:
        async with database() as db:
            await migrations.upgrade(db)
            return await db.run(issue)

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

    async def appoint(session: AsyncSession) -> str:
        user = await service.ensure_platform_admin(session, email, name, password)
        _, secret = await auth.issue_token(
            session,
            get_settings().resolved_secret_key(),
            user_id=user.id,
            merchant_id=None,
            name="platform",
        )
        return secret

    async def work() -> str:
        async with database() as db:
            await migrations.upgrade(db)
            return await db.run(appoint)

    console.print(f"platform API token (shown once): [bold]{run(work)}[/bold]")
