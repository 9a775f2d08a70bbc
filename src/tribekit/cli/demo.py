"""``tribekit demo``: the demo merchant."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.panel import Panel

from tribekit import migrations
from tribekit.demo.seed import DEMO_STEPS, DemoLogin, seed_demo
from tribekit.kit.db import Database
from tribekit.kit.settings import get_settings

from .common import console, database, progress_bar, run


def print_login(login: DemoLogin, base_url: str) -> None:
    """The staff login, the API token and, when the demo has its web groups, a member's signed
    link to their group page (valid for three days; each run prints a fresh one) and the same
    member's link to the campaign selling now or coming next."""
    what = "created" if login.created else "already there"
    lines = [
        f"Demo merchant [bold]{login.merchant_slug}[/bold] ({what})",
        f"Staff login: {login.email} / {login.password}",
        f"API token:   [bold]{login.api_token}[/bold]",
        "Try it: open /docs, press Authorize, paste the token.",
    ]
    link = login.group_link
    if link is not None:
        lines.append(
            f"Group page:  {escape(link.member_name)} in {escape(link.group_name)} (link below)"
        )
    campaign = login.campaign_link
    if campaign is not None:
        lines.append(f"Campaign:    {escape(campaign.name)}, {campaign.when} (2nd link)")
    console.print(Panel.fit("\n".join(lines), title="Tribekit demo"))
    # Outside the panel and never wrapped, so the long links copy in one piece.
    for shown in (link, campaign):
        if shown is not None:
            console.print(f"{base_url}{shown.path}", soft_wrap=True, highlight=False, markup=False)


async def seed_with_progress(db: Database) -> DemoLogin:
    with progress_bar("demo members, points and chat", DEMO_STEPS) as advance:
        return await seed_demo(db, get_settings().resolved_secret_key(), advance)


def register(app: typer.Typer) -> None:
    app.command()(demo)


def demo() -> None:
    """Create the demo merchant "Greenwood Fruit" (staff, four web community groups with their
    chat, ~500 members, levels, points history, Black card holders, the weekly campaigns with
    their past evenings, coupons) if missing and print a staff login, a fresh API token, a
    member's link to their group page and the same member's link to the coming campaign."""

    async def work() -> DemoLogin:
        async with database() as db:
            await migrations.upgrade(db)
            return await seed_with_progress(db)

    settings = get_settings()
    base = settings.public_url or f"http://{settings.host}:{settings.port}"
    print_login(run(work), base.rstrip("/"))
