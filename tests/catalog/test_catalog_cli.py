"""``tribekit catalog import`` and ``export`` end to end on a SQLite file.

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

from tests.catalog.csvfiles import csv_text
from tribekit.catalog.csv_format import COLUMNS
from tribekit.cli import app, common
from tribekit.kit.settings import get_settings

SECRET = "cli-test-secret-key-that-is-long-enough"
SLUG = "greenwood"
HEADER = ",".join(COLUMNS)


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
    # The consoles were made when the CLI was imported, before COLUMNS was set here.
    monkeypatch.setattr(common.console, "width", 250)
    monkeypatch.setattr(common.err_console, "width", 250)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


@pytest.fixture
def merchant(runner: CliRunner, database_file: Path) -> str:
    result = runner.invoke(
        app,
        [
            "merchant",
            "create",
            "--slug",
            SLUG,
            "--name",
            "Greenwood Fruit",
            "--currency",
            "CNY",
            "--country",
            "CN",
            "--timezone",
            "Asia/Shanghai",
            "--owner-email",
            "lin@greenwood.example",
            "--owner-name",
            "Lin Wei",
            "--owner-password",
            "a long password",
        ],
    )
    assert result.exit_code == 0, result.output
    return SLUG


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="")
    return path


def _read(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def _products(database: Path) -> list[tuple[str | None, str, int, int | None]]:
    with sqlite3.connect(database) as conn:
        rows = conn.execute("SELECT sku, name, price, stock FROM products ORDER BY sku, name")
        return [(sku, name, price, stock) for sku, name, price, stock in rows.fetchall()]


def _flat(output: str) -> str:
    """``output`` on one line: Rich wraps long lines at the console width, which varies."""
    return " ".join(output.split())


def _outcome(output: str) -> str:
    """The outcome line, with the elapsed time replaced by ``T``."""
    found = re.findall(r"\d+ rows in \d+\.\d s; [^│┃]*?(?= problems \(first 20\)|$)", _flat(output))
    assert len(found) == 1, output
    return re.sub(r" in \d+\.\d s;", " in T s;", found[0]).strip()


def _counts(output: str) -> list[str]:
    """created, updated, unchanged, failed: the numbers in the summary table."""
    match = re.search(
        r"created\s*┃\s*updated\s*┃\s*unchanged\s*┃\s*failed.*?│\s*(\d+)\s*│\s*(\d+)\s*│\s*(\d+)"
        r"\s*│\s*(\d+)",
        output,
        re.DOTALL,
    )
    assert match, output
    return list(match.groups())


FILE = csv_text(
    {"sku": "MANGO", "name": "Mango box", "price": "59.00", "stock": "12"},
    {"sku": "KIWI", "name": "Kiwi", "price": "12.5"},
    {"sku": "FIG", "name": "Figs", "price": "cheap"},
    {"sku": "EVT", "name": "Concert", "price": "80", "kind": "event"},
)


def test_import_with_problems_exits_1_shows_progress_and_writes_the_report(
    runner: CliRunner, database_file: Path, merchant: str, tmp_path: Path
) -> None:
    source = _write(tmp_path / "products.csv", FILE)
    report = tmp_path / "problems.csv"

    result = runner.invoke(
        app, ["catalog", "import", str(source), "--merchant", merchant, "--report", str(report)]
    )

    assert result.exit_code == 1, result.output
    assert "importing" in result.stdout
    assert "4/4" in result.stdout  # the progress bar ran to the end
    assert _counts(result.stdout) == ["2", "0", "0", "2"]
    assert _outcome(result.stdout) == "4 rows in T s; saved, except the rows with problems"
    assert re.search(
        r"│ 4 +│ price +│ 'cheap' is not an amount; write it like 45\.00 +│", result.stdout
    )
    assert re.search(r"│ 5 +│ starts_at +│ an event needs a start time +│", result.stdout)
    assert "all problems written to" in _flat(result.stdout)
    assert _read(report) == [
        ["row", "column", "problem"],
        ["4", "price", "'cheap' is not an amount; write it like 45.00"],
        ["5", "starts_at", "an event needs a start time"],
    ]
    assert _products(database_file) == [
        ("KIWI", "Kiwi", 1250, None),
        ("MANGO", "Mango box", 5900, 12),
    ]

    again = runner.invoke(app, ["catalog", "import", str(source), "--merchant", merchant])
    assert again.exit_code == 1
    assert _counts(again.stdout) == ["0", "0", "2", "2"]


def test_dry_run_and_all_or_nothing_write_nothing(
    runner: CliRunner, database_file: Path, merchant: str, tmp_path: Path
) -> None:
    source = _write(tmp_path / "products.csv", FILE)
    base = ["catalog", "import", str(source), "--merchant", merchant]

    dry = runner.invoke(app, [*base, "--dry-run"])
    assert dry.exit_code == 1, dry.output
    assert _counts(dry.stdout) == ["2", "0", "0", "2"]
    assert _outcome(dry.stdout) == "4 rows in T s; dry run: nothing written"
    assert _products(database_file) == []

    strict = runner.invoke(app, [*base, "--all-or-nothing"])
    assert strict.exit_code == 1, strict.output
    assert _outcome(strict.stdout) == (
        "4 rows in T s; nothing written: some rows have problems (--all-or-nothing)"
    )
    assert _products(database_file) == []

    good = _write(
        tmp_path / "good.csv", csv_text({"sku": "KIWI", "name": "Kiwi", "price": "12.50"})
    )
    fine = runner.invoke(
        app, ["catalog", "import", str(good), "--merchant", merchant, "--all-or-nothing"]
    )
    assert fine.exit_code == 0, fine.output
    assert _counts(fine.stdout) == ["1", "0", "0", "0"]
    assert _outcome(fine.stdout) == "1 rows in T s; saved"
    assert _products(database_file) == [("KIWI", "Kiwi", 1250, None)]


def test_a_file_that_cannot_be_read_exits_2_and_imports_nothing(
    runner: CliRunner, database_file: Path, merchant: str, tmp_path: Path
) -> None:
    base = ["catalog", "import", "--merchant", merchant]

    header = _write(tmp_path / "header.csv", "sku,name,price,colour\nA,Apple,1,red\n")
    bad_header = runner.invoke(app, [*base, str(header)])
    assert bad_header.exit_code == 2
    assert f"unknown column 'colour'; the columns are: {', '.join(COLUMNS)}" in _flat(
        bad_header.stderr
    )

    latin = tmp_path / "latin.csv"
    latin.write_bytes("sku,name,price\nA,Crème,1\n".encode("latin-1"))
    bad_encoding = runner.invoke(app, [*base, str(latin)])
    assert bad_encoding.exit_code == 2
    assert "the file is not UTF-8 (byte b'\\xe8' at offset 19)" in _flat(bad_encoding.stderr)

    good = _write(tmp_path / "good.csv", "sku,name,price\nA,Apple,1\n")
    unknown_merchant = runner.invoke(app, ["catalog", "import", str(good), "--merchant", "nope"])
    assert unknown_merchant.exit_code == 2
    assert "no merchant with slug 'nope'" in _flat(unknown_merchant.output)

    missing = runner.invoke(app, [*base, str(tmp_path / "absent.csv")])
    assert missing.exit_code == 2
    assert _products(database_file) == []


def test_export_writes_the_file_the_import_reads_back_unchanged(
    runner: CliRunner, database_file: Path, merchant: str, tmp_path: Path
) -> None:
    source = _write(
        tmp_path / "products.csv",
        csv_text(
            {"sku": "MANGO", "name": "Mango, 3 kg", "price": "59.00", "stock": "12", "tags": "b;a"},
            {
                "sku": "JAZZ",
                "name": "Jazz night",
                "kind": "event",
                "price": "80",
                "starts_at": "2025-06-01 19:30",
                "place": "Blue Note",
            },
        ),
    )
    imported = runner.invoke(app, ["catalog", "import", str(source), "--merchant", merchant])
    assert imported.exit_code == 0, imported.output

    exported_file = tmp_path / "export.csv"
    result = runner.invoke(
        app, ["catalog", "export", "--merchant", merchant, "-o", str(exported_file)]
    )
    assert result.exit_code == 0, result.output
    # Rich may wrap the long path anywhere, even inside a word: compare without any spaces.
    assert f"2productswrittento{exported_file}" in "".join(result.stdout.split())
    assert exported_file.read_bytes().decode() == (
        f"{HEADER}\r\n"
        'MANGO,"Mango, 3 kg",goods,regular,59.00,,12,yes,,a;b,,,,,,,\r\n'
        "JAZZ,Jazz night,event,regular,80.00,,,yes,,,,,,2025-06-01T11:30:00Z,,Blue Note,\r\n"
    )
    to_stdout = runner.invoke(app, ["catalog", "export", "--merchant", merchant])
    assert to_stdout.exit_code == 0
    assert to_stdout.stdout == exported_file.read_text(encoding="utf-8")

    again = runner.invoke(app, ["catalog", "import", str(exported_file), "--merchant", merchant])
    assert again.exit_code == 0, again.output
    assert _counts(again.stdout) == ["0", "0", "2", "0"]


def test_help_names_the_options(runner: CliRunner, database_file: Path) -> None:
    for command, expected in (
        (
            ["catalog", "import"],
            ["FILE", "--merchant", "--dry-run", "--all-or-nothing", "--report"],
        ),
        (["catalog", "export"], ["--merchant", "--output", "-o"]),
        (["catalog"], ["import", "export"]),
    ):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, result.output
        for text in expected:
            assert text in _flat(result.stdout), (command, text)
    assert not database_file.exists()
