"""``tribekit merchant create`` and ``invite-owner`` and the CLI's units of work: an owner
email that already has a login is invited, not taken over, and is asked no password; an owner
invitation is issued again, to a new person or a login; a write PostgreSQL aborts for a
real deadlock runs again and happens once, and on its last attempt is one error line, like a
database out of reach.

The commands run their own event loop (``asyncio.run``): the SQLite tests are plain functions,
the PostgreSQL one runs the command in a thread while the test holds the other transaction.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from functools import partial
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type hints
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from tests.conftest import DATABASES, Databases, _empty_tables
from tribekit.cli import app
from tribekit.cli import common as cli_common
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.kit.errors import Unauthenticated
from tribekit.kit.settings import get_settings
from tribekit.models import ApiToken, Merchant, StaffInvitation, StaffRole, StaffUser
from tribekit.tenancy import invitations
from tribekit.tenancy.schemas import InvitationAccept

from .test_members_import_cli import OWNER_PASSWORD, SECRET, create_merchant, database_file, runner

__all__ = ["database_file", "runner"]  # fixtures shared with the import tests

EMAIL = "lin@greenwood.example"


@pytest.fixture
def sqlite_db(database_file: Path) -> Database:
    """The CLI's SQLite file, for the test to read (migrated by the first command)."""
    return Database(f"sqlite+aiosqlite:///{database_file}")


async def _login_state(db: Database) -> tuple[tuple[str, str, str | None, bool], list[str], int]:
    """The login of ``EMAIL`` (email, name, password hash, platform admin), the slugs it works
    for with its roles, and how many API tokens it has."""
    async with db.unit_of_work(read_only=True) as session:
        user = await session.scalar(select(StaffUser).where(StaffUser.email == EMAIL))
        assert user is not None
        roles = await session.execute(
            select(Merchant.slug, StaffRole.role)
            .join(StaffRole, StaffRole.merchant_id == Merchant.id)
            .where(StaffRole.user_id == user.id)
            .order_by(Merchant.slug)
        )
        tokens = await session.scalar(
            select(func.count()).select_from(ApiToken).where(ApiToken.user_id == user.id)
        )
    return (
        (user.email, user.name, user.password_hash, user.is_platform_admin),
        [f"{slug}:{role}" for slug, role in roles.all()],
        int(tokens or 0),
    )


def test_an_email_with_a_login_is_invited_to_own_the_new_merchant(
    runner: CliRunner, sqlite_db: Database
) -> None:
    first = create_merchant(runner, "greenwood", email=EMAIL, name="Lin Wei")
    assert "merchant greenwood created; owner lin@greenwood.example" in first
    before = asyncio.run(_login_state(sqlite_db))
    assert before[1:] == (["greenwood:owner"], 1)

    second = create_merchant(
        runner, "orchard", email=EMAIL, name="Somebody Else", password="another password"
    )
    assert (
        "merchant orchard created; lin@greenwood.example already has a login, so it was "
        "invited to be the owner (nothing about that login changed)"
    ) in second
    token = re.search(r"owner invitation token \(shown once\): (tki_\S+)", second)
    assert token is not None
    assert "Send it to them: they accept with POST /api/v1/staff/invitations/accept" in second
    assert "API token" not in second
    # Nothing about the login changed: same name and password, no role at orchard, no token.
    assert asyncio.run(_login_state(sqlite_db)) == before

    async def invitation_and_staff() -> tuple[tuple[str, str, str, bool], int]:
        async with sqlite_db.unit_of_work(read_only=True) as session:
            orchard = await session.scalar(select(Merchant).where(Merchant.slug == "orchard"))
            assert orchard is not None
            invitation = await session.scalar(
                select(StaffInvitation).where(StaffInvitation.merchant_id == orchard.id)
            )
            assert invitation is not None
            staff = await session.scalar(
                select(func.count())
                .select_from(StaffRole)
                .where(StaffRole.merchant_id == orchard.id)
            )
        days = invitation.expires_at - invitation.created_at
        return (
            (invitation.email, invitation.role, invitation.status, days.days == 7),
            int(staff or 0),
        )

    assert asyncio.run(invitation_and_staff()) == (
        (EMAIL, "owner", "pending", True),
        0,
    )

    async def accept(password: str) -> str:
        async with sqlite_db.unit_of_work() as session:
            joined = await invitations.accept(
                session, SECRET, InvitationAccept(token=token[1], password=password), None
            )
        return f"{joined.merchant.slug}:{joined.staff.role}"

    # The other password typed at creation is not theirs; their own is.
    with pytest.raises(Unauthenticated):
        asyncio.run(accept("another password"))
    assert asyncio.run(_login_state(sqlite_db)) == before
    assert asyncio.run(accept(OWNER_PASSWORD)) == "orchard:owner"
    after = asyncio.run(_login_state(sqlite_db))
    assert after == (before[0], ["greenwood:owner", "orchard:owner"], 1)


def test_the_password_is_asked_for_a_new_login_only(runner: CliRunner, sqlite_db: Database) -> None:
    args = ["merchant", "create", "--currency", "CNY", "--country", "CN", "--owner-email", EMAIL]
    new = runner.invoke(
        app,
        [*args, "--slug", "greenwood", "--name", "G", "--owner-name", "Lin Wei"],
        input=f"{OWNER_PASSWORD}\n{OWNER_PASSWORD}\n",
    )
    assert new.exit_code == 0, new.output
    assert new.stdout.startswith("Owner password: \nRepeat for confirmation: \n")
    assert "merchant greenwood created; owner lin@greenwood.example" in new.stdout
    before = asyncio.run(_login_state(sqlite_db))

    existing = runner.invoke(
        app, [*args, "--slug", "orchard", "--name", "O", "--owner-name", "X"], input=""
    )
    assert existing.exit_code == 0, existing.output
    # No prompt: the first line is the answer.
    assert existing.stdout.startswith(
        "merchant orchard created; lin@greenwood.example already has a login"
    )
    assert "owner invitation token (shown once): tki_" in existing.stdout
    assert asyncio.run(_login_state(sqlite_db)) == before


def _invite_owner(runner: CliRunner, slug: str, email: str) -> Result:
    return runner.invoke(app, ["merchant", "invite-owner", "--merchant", slug, "--email", email])


async def _invitations(db: Database) -> list[tuple[str, str, str, str]]:
    """Every invitation: its merchant's slug, email, role and status, oldest first."""
    async with db.unit_of_work(read_only=True) as session:
        rows = await session.execute(
            select(Merchant.slug, StaffInvitation)
            .join(Merchant, Merchant.id == StaffInvitation.merchant_id)
            .order_by(StaffInvitation.created_at, StaffInvitation.id)
        )
        return [(slug, i.email, i.role, i.status) for slug, i in rows.all()]


def _accept(db: Database, token: str, **login: str) -> str:
    async def accept() -> str:
        async with db.unit_of_work() as session:
            joined = await invitations.accept(
                session, SECRET, InvitationAccept(token=token, **login), None
            )
        return f"{joined.merchant.slug}:{joined.staff.email}:{joined.staff.role}"

    return asyncio.run(accept())


async def _expiry(db: Database, email: str) -> list[datetime]:
    """When the invitations of ``email`` expire (each 7 days after it was made)."""
    async with db.unit_of_work(read_only=True) as session:
        stmt = select(StaffInvitation.expires_at, StaffInvitation.created_at).where(
            StaffInvitation.email == email
        )
        rows = (await session.execute(stmt)).all()
    assert [(expires - created).days for expires, created in rows] == [7]
    return [expires for expires, _ in rows]


def test_invite_owner_prints_a_new_owner_invitation_for_a_new_person_or_a_login(
    runner: CliRunner, sqlite_db: Database
) -> None:
    create_merchant(runner, "greenwood", email=EMAIL, name="Lin Wei")
    create_merchant(runner, "orchard", email=EMAIL)  # a login: no staff, an owner invitation
    before = asyncio.run(_login_state(sqlite_db))

    new = _invite_owner(runner, "orchard", "Mei@Orchard.example")
    assert new.exit_code == 0, new.output
    token = re.search(r"owner invitation token \(shown once\): (tki_\S+)", new.stdout)
    assert token is not None
    [expires_at] = asyncio.run(_expiry(sqlite_db, "mei@orchard.example"))
    assert new.stdout == (
        "mei@orchard.example invited to own orchard\n"
        f"owner invitation token (shown once): {token[1]}\n"
        "Send it to them: they accept with POST /api/v1/staff/invitations/accept before "
        f"{expires_at:%Y-%m-%d %H:%M} UTC, with a name and a new password if the email has no "
        "login yet, otherwise with its password (or signed in as them).\n"
    )
    assert asyncio.run(_invitations(sqlite_db)) == [
        ("orchard", EMAIL, "owner", "pending"),
        ("orchard", "mei@orchard.example", "owner", "pending"),
    ]
    assert _accept(sqlite_db, token[1], name="Mei", password="mei's own password") == (
        "orchard:mei@orchard.example:owner"
    )

    # Again for the login: its first invitation stops working, the new one makes it owner.
    again = _invite_owner(runner, "orchard", EMAIL)
    assert again.exit_code == 0, again.output
    second = re.search(r"owner invitation token \(shown once\): (tki_\S+)", again.stdout)
    assert second is not None
    assert asyncio.run(_invitations(sqlite_db)) == [
        ("orchard", EMAIL, "owner", "revoked"),
        ("orchard", "mei@orchard.example", "owner", "accepted"),
        ("orchard", EMAIL, "owner", "pending"),
    ]
    assert asyncio.run(_login_state(sqlite_db)) == before  # invited, not attached
    assert _accept(sqlite_db, second[1], password=OWNER_PASSWORD) == f"orchard:{EMAIL}:owner"
    assert asyncio.run(_login_state(sqlite_db)) == (
        before[0],
        ["greenwood:owner", "orchard:owner"],
        1,
    )


def test_invite_owner_refuses_an_unknown_merchant_staff_and_a_bad_email_creating_nothing(
    runner: CliRunner, sqlite_db: Database
) -> None:
    create_merchant(runner, "greenwood", email=EMAIL)
    unknown = _invite_owner(runner, "nowhere", "x@x.example")
    assert unknown.exit_code == 2
    assert "no merchant with slug 'nowhere'" in unknown.stderr
    staff = _invite_owner(runner, "greenwood", EMAIL.upper())
    assert (staff.exit_code, staff.stderr) == (
        1,
        f"error: {EMAIL} already works for this merchant\n",
    )
    bad = _invite_owner(runner, "greenwood", "not an email")
    assert bad.exit_code == 2
    assert bad.stderr.startswith("--email: value is not a valid email address")
    assert asyncio.run(_invitations(sqlite_db)) == []
    assert asyncio.run(_login_state(sqlite_db))[1:] == (["greenwood:owner"], 1)


def test_a_database_out_of_reach_is_one_error_line(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    monkeypatch.setenv("TRIBEKIT_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:1/x")
    monkeypatch.setenv("TRIBEKIT_SECRET_KEY", SECRET)
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["merchant", "list"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert result.stderr == "error: the database cannot be reached; retry in a moment\n"
    assert "Traceback" not in result.output


# -- a real deadlock on PostgreSQL ---------------------------------------------------------------


@pytest.fixture
async def postgres(
    databases: Databases, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Database]:
    if "postgresql" not in DATABASES:
        # Only a developer's own TRIBEKIT_TEST_DATABASES=sqlite gets here; CI never skips it.
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the PostgreSQL deadlock tests", pytrace=False)
        pytest.skip("a deadlock needs PostgreSQL (TRIBEKIT_TEST_DATABASES leaves it out)")
    db = await databases.get("postgresql")
    monkeypatch.setenv("TRIBEKIT_DATABASE_URL", db.url)
    monkeypatch.setenv("TRIBEKIT_SECRET_KEY", SECRET)
    monkeypatch.setenv("COLUMNS", "250")
    get_settings.cache_clear()
    yield db
    get_settings.cache_clear()
    await _empty_tables(db)


async def _wait_for_a_lock_wait(watcher: asyncpg.Connection) -> None:
    """Until another session of this database waits for a lock (the command, on our row)."""
    for _ in range(500):
        waiting = await watcher.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        if waiting:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the command never waited for the test's transaction")


CREATE = [
    *("merchant", "create", "--slug", "greenwood", "--name", "Greenwood", "--currency", "CNY"),
    *("--country", "CN", "--owner-email", EMAIL, "--owner-name", "Lin Wei"),
    *("--owner-password", OWNER_PASSWORD),
]


async def _create_in_a_deadlock(runner: CliRunner, postgres: Database) -> Result:
    """``merchant create`` while the test's transaction makes its first attempt deadlock.

    The command inserts the merchant, then the owner's login. The test's transaction holds that
    login's email (uncommitted), so the command waits for it; then the test inserts the same
    slug and waits for the command: a cycle. PostgreSQL aborts the command's transaction (the
    test's waits 30 s before it looks, so the command's backend finds the cycle first), and the
    test rolls back: a retry finds nothing in its way."""
    dsn = postgres.url.replace("postgresql+asyncpg://", "postgresql://")
    other, watcher = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        transaction = other.transaction()
        await transaction.start()
        await other.execute("SET LOCAL deadlock_timeout = '30s'")
        now = clock.now()
        await other.execute(
            "INSERT INTO staff_users (id, email, name, password_hash, is_platform_admin, "
            "is_active, created_at) VALUES ($1, $2, 'Rival', NULL, false, true, $3)",
            uuid.uuid4(),
            EMAIL,
            now,
        )
        command = asyncio.create_task(asyncio.to_thread(runner.invoke, app, CREATE))
        await _wait_for_a_lock_wait(watcher)
        await other.execute(
            "INSERT INTO merchants (id, slug, name, timezone, currency, country, locale, "
            "created_at) VALUES ($1, 'greenwood', 'Rival', 'UTC', 'CNY', 'CN', 'en', $2)",
            uuid.uuid4(),
            now,
        )
        await transaction.rollback()
        return await command
    finally:
        await other.close()
        await watcher.close()


async def _counts(db: Database) -> tuple[int, ...]:
    async with db.unit_of_work(read_only=True) as session:
        return tuple(
            [
                int(await session.scalar(select(func.count()).select_from(model)) or 0)
                for model in (Merchant, StaffUser, StaffRole, ApiToken)
            ]
        )


async def test_a_merchant_create_aborted_by_a_deadlock_runs_again_and_creates_once(
    runner: CliRunner, postgres: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tribekit.kit.db")
    result = await _create_in_a_deadlock(runner, postgres)
    assert result.exit_code == 0, result.output
    output = " ".join(result.stdout.split())
    assert "merchant greenwood created; owner lin@greenwood.example" in output
    assert re.search(r"owner API token \(shown once\): tkt_\S+", output)
    retries = [r for r in caplog.records if r.getMessage() == "unit of work retried"]
    assert [(r.sqlstate, r.attempt) for r in retries] == [("40P01", 1)]  # type: ignore[attr-defined]  # set through ``extra``
    state = await _login_state(postgres)
    assert state[0][:2] == (EMAIL, "Lin Wei")
    assert state[1:] == (["greenwood:owner"], 1)
    assert await _counts(postgres) == (1, 1, 1, 1)


async def test_a_deadlock_on_the_last_attempt_is_one_error_line_and_creates_nothing(
    runner: CliRunner, postgres: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One attempt only, so that the first deadlock is the last: Contention, as after three.
    monkeypatch.setattr(cli_common, "Database", partial(Database, retry_attempts=1))
    result = await _create_in_a_deadlock(runner, postgres)
    assert result.exit_code == 1
    assert result.stderr == (
        "error: the database aborted this work 1 times for concurrent changes to the same data "
        "(40P01); retry in a moment\n"
    )
    assert "Traceback" not in result.output
    assert await _counts(postgres) == (0, 0, 0, 0)
