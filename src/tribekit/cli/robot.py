"""``tribekit robot``: the robot from the command line — reading Telegram by long polling (for
setups with no public URL) and Matrix by /sync, the robots registered, and registering a bot."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid
from datetime import datetime

import typer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit import migrations
from tribekit.kit.db import Database
from tribekit.kit.ratelimit import redis_client
from tribekit.kit.settings import get_settings
from tribekit.models.robot import RobotAccount
from tribekit.models.tenancy import Merchant
from tribekit.robot import accounts
from tribekit.robot.channels import aclose, build_channels
from tribekit.robot.channels.telegram import TelegramChannel
from tribekit.robot.poll import WAIT_SECONDS, Poller
from tribekit.robot.receive import Receiver

from .common import console, database, run, tenant_by_slug

app = typer.Typer(
    help="The robot: reading Telegram (long polling) and Matrix (/sync), the robots registered, "
    "registering a Telegram bot.",
    no_args_is_help=True,
)


@app.command()
def poll(
    account: list[str] = typer.Option(
        [], "--account", help="Poll only this robot account (its id); repeat for several"
    ),
    wait: int = typer.Option(
        WAIT_SECONDS, min=1, max=50, help="Seconds each getUpdates call waits for an update"
    ),
) -> None:
    """Read every robot in poll mode, at every merchant (or --account), and hand each update to
    the robot: Telegram bots by long polling (for servers Telegram cannot reach: no
    TRIBEKIT_PUBLIC_URL), Matrix robots by /sync (always: Matrix has no webhook). Ctrl-C stops
    it cleanly: what was handled is confirmed to Telegram and kept as Matrix's sync position."""
    try:
        ids = [uuid.UUID(a) for a in account] or None
    except ValueError as exc:
        raise typer.BadParameter("an account id is a UUID", param_hint="--account") from exc

    async def work() -> None:
        settings = get_settings()
        async with database() as db:
            await migrations.upgrade(db)
            channels = build_channels(settings, db)
            redis = (
                redis_client(
                    settings.redis_url,
                    max_connections=settings.redis_max_connections,
                    timeout=settings.redis_pool_timeout,
                )
                if settings.redis_url
                else None
            )
            try:
                telegram = channels["telegram"]
                assert isinstance(telegram, TelegramChannel)  # the registry's Telegram channel
                receiver = Receiver(
                    db,
                    channels,
                    redis=redis,
                    secret_key=settings.resolved_secret_key(),
                    public_url=settings.public_url,
                )
                await _poll(db, receiver, telegram, ids, wait)
            finally:
                await aclose(channels)
                if redis is not None:
                    await redis.aclose()

    run(work)


async def _poll(
    db: Database,
    receiver: Receiver,
    telegram: TelegramChannel,
    ids: list[uuid.UUID] | None,
    wait: int,
) -> None:
    found = await db.run(lambda s: accounts.poll_accounts(s, ids), read_only=True)
    if not found:
        console.print(
            "[yellow]no robot is in poll mode yet[/yellow]; waiting for one "
            "(PATCH /api/v1/robot/accounts/{id} with mode 'poll', or register with --mode poll)"
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not in the main thread
            loop.add_signal_handler(sig, stop.set)

    def report(name: str, line: str) -> None:
        console.print(f"[dim]{datetime.now():%H:%M:%S}[/dim] [bold]@{name}[/bold] {line}")

    console.print(f"polling {len(found)} robot(s); Ctrl-C stops")
    try:
        await Poller(receiver, telegram, account_ids=ids, wait=wait, report=report).run(stop)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    console.print("stopped; what was handled is confirmed (Telegram) or its sync position kept")


@app.command("accounts")
def list_accounts(
    merchant: str = typer.Option(None, help="Only this merchant's robots (its slug)"),
) -> None:
    """List the robots registered (never their tokens)."""

    async def work() -> list[tuple[RobotAccount, str]]:
        async with database() as db:
            await migrations.upgrade(db)
            tenant = await tenant_by_slug(db, merchant) if merchant else None
            stmt = (
                select(RobotAccount, Merchant.slug)
                .join(Merchant, Merchant.id == RobotAccount.merchant_id)
                .order_by(Merchant.slug, RobotAccount.created_at)
            )
            if tenant is not None:
                stmt = stmt.where(RobotAccount.merchant_id == tenant.id)

            async def read(session: AsyncSession) -> list[tuple[RobotAccount, str]]:
                rows = await session.execute(stmt)
                return [(a, slug) for a, slug in rows.all()]

            return await db.run(read, read_only=True)

    rows = run(work)
    if not rows:
        console.print("no robot is registered")
    # One line per robot (never wrapped or cut, so an id can be copied whole).
    for account, slug in rows:
        username = f"@{account.username}" if account.username else "-"
        state = "in service" if account.active else "removed"
        console.print(
            f"{slug}  {account.id}  {account.channel.value}  {username}  {account.mode}  "
            f"{state}  {account.name!r}",
            markup=False,
            highlight=False,
        )


@app.command("register-telegram")
def register_telegram(
    merchant: str = typer.Option(..., help="The merchant's slug"),
    token: str = typer.Option(..., help="The bot's token from @BotFather"),
    name: str = typer.Option(None, help="A name for the robot [default: the bot's name]"),
    mode: str = typer.Option(
        "webhook", help="webhook (needs TRIBEKIT_PUBLIC_URL) or poll ('tribekit robot poll')"
    ),
) -> None:
    """Register a Telegram bot for a merchant; its token is checked with Telegram first."""
    if mode not in ("webhook", "poll"):
        raise typer.BadParameter("use 'webhook' or 'poll'", param_hint="--mode")
    chosen: accounts.Mode = "poll" if mode == "poll" else "webhook"

    async def work() -> RobotAccount:
        settings = get_settings()
        async with database() as db:
            await migrations.upgrade(db)
            tenant = await tenant_by_slug(db, merchant)
            channels = build_channels(settings, db)
            try:
                return await db.run(
                    lambda session: accounts.register_telegram_bot(
                        session, tenant, channels, token=token, name=name, mode=chosen
                    )
                )
            finally:
                await aclose(channels)

    account = run(work)
    console.print(f"robot @{account.username} registered for {merchant}: {account.id}")
    if account.mode == "poll":
        console.print("next: run 'tribekit robot poll'")
    else:
        console.print(
            f"next: POST /api/v1/robot/accounts/{account.id}/webhook to point Telegram at "
            "TRIBEKIT_PUBLIC_URL"
        )
