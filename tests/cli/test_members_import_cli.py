"""The ``tribekit`` command line: ``members import`` end to end on a SQLite file, and the help
texts of the main commands.

These tests are plain functions: the CLI runs its own event loop with ``asyncio.run``.
"""

from __future__ import annotations

import csv
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tribekit.cli import app
from tribekit.kit.settings import get_settings

SECRET = "cli-test-secret-key-that-is-long-enough"
SLUG = "greenwood"
OWNER_PASSWORD = "a long password"
PHONE_PROBLEM = (
    "'12345' is not a valid phone number in CN; write it with its country code, "
    "like +86 138 0013 8000"
)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def database_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh SQLite file as the CLI's database, and wide output so that lines never wrap."""
    path = tmp_path / "cli.db"
    monkeypatch.setenv("TRIBEKIT_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    monkeypatch.setenv("TRIBEKIT_SECRET_KEY", SECRET)
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


def create_merchant(
    runner: CliRunner,
    slug: str,
    *,
    email: str,
    name: str = "Owner",
    password: str = OWNER_PASSWORD,
) -> str:
    """``tribekit merchant create`` (CNY, CN, Asia/Shanghai), which must succeed; its stdout
    on one line."""
    result = runner.invoke(
        app,
        [
            *("merchant", "create", "--slug", slug, "--name", slug.title()),
            *("--currency", "CNY", "--country", "CN", "--timezone", "Asia/Shanghai"),
            *("--owner-email", email, "--owner-name", name, "--owner-password", password),
        ],
    )
    assert result.exit_code == 0, result.output
    return _flat(result.stdout)


@pytest.fixture
def merchant(runner: CliRunner, database_file: Path) -> str:
    output = create_merchant(runner, SLUG, email="lin@greenwood.example", name="Lin Wei")
    assert f"merchant {SLUG} created; owner lin@greenwood.example" in output
    assert re.search(r"owner API token \(shown once\): tkt_\S+", output)
    return SLUG


def _write(path: Path, *rows: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def _read(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def _members(database: Path) -> list[tuple[str, str | None]]:
    with sqlite3.connect(database) as conn:
        rows = conn.execute("SELECT display_name, phone FROM members ORDER BY display_name")
        return [(name, phone) for name, phone in rows.fetchall()]


def _tags(database: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(database) as conn:
        rows = conn.execute(
            "SELECT m.display_name, t.tag FROM member_tags t JOIN members m ON m.id = t.member_id "
            "ORDER BY m.display_name, t.tag"
        )
        return [(name, tag) for name, tag in rows.fetchall()]


def _flat(output: str) -> str:
    """``output`` on one line: Rich wraps long lines at the console width, which varies."""
    return " ".join(output.split())


SUMMARY = re.compile(
    r"\d+ rows in (\d+\.\d) s: (would import|imported) \d+, skipped \d+ duplicates, "
    r"\d+ rows with problems"
)


def _summary(output: str) -> str:
    """The summary line, with the elapsed time replaced by ``T``."""
    found = [m.group(0) for m in SUMMARY.finditer(_flat(output))]
    assert len(found) == 1, output
    return re.sub(r" in \d+\.\d s:", " in T s:", found[0])


# ---------------------------------------------------------------------------------- members import


def test_import_with_problems_exits_1_and_writes_the_report(
    runner: CliRunner, database_file: Path, merchant: str, tmp_path: Path
) -> None:
    source = _write(
        tmp_path / "members.csv",
        ["Name", "Mobile", "Tags", "Shoe size"],
        ["Lin Wei", "138 0013 8000", "vip;office", "42"],
        ["Bad Phone", "12345", "vip", "40"],
        ["Zhang San", "+86 139 0013 9000", "", ""],
        ["Lin Again", "13800138000", "", ""],
    )
    report = tmp_path / "problems.csv"
    result = runner.invoke(
        app,
        [
            "members",
            "import",
            str(source),
            "--merchant",
            merchant,
            "--map",
            "Name=display_name",
            "--map",
            "Mobile=phone",
            "--report",
            str(report),
        ],
    )
    assert result.exit_code == 1, result.output
    assert _summary(result.stdout) == (
        "4 rows in T s: imported 2, skipped 1 duplicates, 1 rows with problems"
    )
    assert "all problems written to" in _flat(result.stdout)
    assert _read(report) == [["row", "column", "problem"], ["3", "Mobile", PHONE_PROBLEM]]
    assert _members(database_file) == [
        ("Lin Wei", "+8613800138000"),
        ("Zhang San", "+8613900139000"),
    ]
    assert _tags(database_file) == [("Lin Wei", "office"), ("Lin Wei", "vip")]


def test_import_without_problems_exits_0_and_reports_no_rows(
    runner: CliRunner, database_file: Path, merchant: str, tmp_path: Path
) -> None:
    source = _write(
        tmp_path / "members.csv",
        ["Name", "Mobile"],
        ["Lin Wei", "13800138000"],
        ["Zhang San", "13900139000"],
    )
    report = tmp_path / "problems.csv"
    args = ["members", "import", str(source), "--merchant", merchant]
    args += ["--map", "Name=display_name", "--map", "Mobile=phone", "--report", str(report)]

    dry = runner.invoke(app, [*args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert _summary(dry.stdout) == (
        "2 rows in T s: would import 2, skipped 0 duplicates, 0 rows with problems"
    )
    assert _members(database_file) == []
    assert _read(report) == [["row", "column", "problem"]]

    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert _summary(result.stdout) == (
        "2 rows in T s: imported 2, skipped 0 duplicates, 0 rows with problems"
    )
    assert _read(report) == [["row", "column", "problem"]]
    assert _members(database_file) == [
        ("Lin Wei", "+8613800138000"),
        ("Zhang San", "+8613900139000"),
    ]

    again = runner.invoke(app, [*args, "--on-duplicate", "error"])
    assert again.exit_code == 1
    assert _summary(again.stdout) == (
        "2 rows in T s: imported 0, skipped 0 duplicates, 2 rows with problems"
    )
    assert _read(report) == [
        ["row", "column", "problem"],
        ["2", "Mobile", "phone +8613800138000 already belongs to a member"],
        ["3", "Mobile", "phone +8613900139000 already belongs to a member"],
    ]
    assert len(_members(database_file)) == 2


def test_a_bad_mapping_exits_2_and_imports_nothing(
    runner: CliRunner, database_file: Path, merchant: str, tmp_path: Path
) -> None:
    source = _write(tmp_path / "members.csv", ["Name", "Mobile"], ["Lin Wei", "13800138000"])
    base = ["members", "import", str(source), "--merchant", merchant]

    unknown_column = runner.invoke(app, [*base, "--map", "Phone=phone"])
    assert unknown_column.exit_code == 2
    assert "--map names column 'Phone', which the file does not have" in _flat(
        unknown_column.stderr
    )

    nothing_mapped = runner.invoke(app, base)
    assert nothing_mapped.exit_code == 2
    assert "map a column to display_name or phone: a member needs one of them" in _flat(
        nothing_mapped.stderr
    )

    malformed = runner.invoke(app, [*base, "--map", "Name"])
    assert malformed.exit_code == 2
    assert "'Name': write it as 'Column=field'" in _flat(malformed.output)

    bad_mode = runner.invoke(app, [*base, "--map", "Name=display_name", "--on-duplicate", "merge"])
    assert bad_mode.exit_code == 2
    assert "use 'skip' or 'error'" in _flat(bad_mode.output)

    unknown_merchant = runner.invoke(
        app, ["members", "import", str(source), "--merchant", "nope", "--map", "Mobile=phone"]
    )
    assert unknown_merchant.exit_code == 2
    assert "no merchant with slug 'nope'" in _flat(unknown_merchant.output)

    missing_file = runner.invoke(
        app, ["members", "import", str(tmp_path / "absent.csv"), "--merchant", merchant]
    )
    assert missing_file.exit_code == 2
    assert _members(database_file) == []


# ------------------------------------------------------------------------------------------ help


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["serve"], ["--host", "--port", "--workers", "--demo", "--no-worker"]),
        (["worker"], ["Run the worker loop alone"]),
        (["db", "upgrade"], ["REVISION", "Target revision"]),
        (
            ["merchant", "create"],
            [
                "--slug",
                "--name",
                "--currency",
                "--country",
                "--timezone",
                "--owner-email",
                "--owner-name",
                "--owner-password",
            ],
        ),
        (
            ["members", "import"],
            ["FILE", "--merchant", "--map", "--on-duplicate", "--dry-run", "--report"],
        ),
        (["demo"], ["Greenwood Fruit"]),
        ([], ["serve", "worker", "db", "merchant", "members", "demo"]),
    ],
    ids=["serve", "worker", "db-upgrade", "merchant-create", "members-import", "demo", "main"],
)
def test_help_texts_exit_0_and_name_the_key_options(
    runner: CliRunner, database_file: Path, command: list[str], expected: list[str]
) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    for text in expected:
        assert text in _flat(result.stdout), text
    # Help never touches the database.
    assert not database_file.exists()
