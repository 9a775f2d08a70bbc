"""``tribekit members export``: CSV in the import's columns, to a file or stdout; an export
imports into another merchant as the same members. ``members import`` of a file that is not
UTF-8 exits 2 with the catalog's message."""

from __future__ import annotations

import csv
import sqlite3
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tribekit.cli import app

from .test_members_import_cli import (
    _flat,
    _write,
    create_merchant,
    database_file,
    merchant,
    runner,
)

__all__ = ["database_file", "merchant", "runner"]  # fixtures shared with the import tests


def _rows(database: Path, slug: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(database) as conn:
        rows = conn.execute(
            "SELECT m.display_name, m.phone, m.email, m.birthday, m.marketing_consent, m.blocked,"
            " m.notes, m.source, m.source_ref,"
            " (SELECT group_concat(tag, ';') FROM (SELECT tag FROM member_tags t"
            "   WHERE t.member_id = m.id ORDER BY tag)),"
            " (SELECT external_id FROM member_identities i WHERE i.member_id = m.id)"
            " FROM members m JOIN merchants s ON s.id = m.merchant_id WHERE s.slug = ?"
            " ORDER BY m.display_name",
            (slug,),
        )
        return [tuple(row) for row in rows.fetchall()]


def test_an_export_imports_into_another_merchant_as_the_same_members(
    runner: CliRunner, database_file: Path, merchant: str, tmp_path: Path
) -> None:
    source = _write(
        tmp_path / "in.csv",
        [
            "display_name",
            "phone",
            "email",
            "birthday",
            "tags",
            "marketing_consent",
            "notes",
            "source_ref",
            "identity:telegram",
        ],
        [
            "Lin Wei",
            "138 0013 8000",
            "lin@example.com",
            "1990-05-17",
            "vip;durian",
            "yes",
            "likes, commas\nand lines",
            "qr-7",
            "731928374",
        ],
        ["Zhou Min", "", "", "", "", "no", "", "", ""],
    )
    imported = runner.invoke(app, ["members", "import", str(source), "--merchant", merchant])
    assert imported.exit_code == 0, imported.output

    out = tmp_path / "members.csv"
    exported = runner.invoke(app, ["members", "export", "--merchant", merchant, "-o", str(out)])
    assert exported.exit_code == 0, exported.output
    assert "2 members written to" in _flat(exported.stdout)
    assert "exporting" in exported.stdout  # the progress bar
    with out.open(newline="", encoding="utf-8") as handle:
        header, *body = list(csv.reader(handle))
    assert header == [
        "display_name",
        "phone",
        "email",
        "birthday",
        "tags",
        "source",
        "source_ref",
        "marketing_consent",
        "joined_at",
        "blocked",
        "notes",
        "identity:telegram",
        "identity:matrix",
        "identity:wecom",
        "identity:web",
    ]
    assert [row[:8] + row[9:12] for row in body] == [
        [
            "Lin Wei",
            "+8613800138000",
            "lin@example.com",
            "1990-05-17",
            "durian;vip",
            "import",
            "qr-7",
            "yes",
            "no",
            "likes, commas\nand lines",
            "731928374",
        ],
        ["Zhou Min", "", "", "", "", "import", "", "no", "no", "", ""],
    ]

    to_stdout = runner.invoke(app, ["members", "export", "--merchant", merchant])
    assert to_stdout.exit_code == 0
    assert to_stdout.stdout == out.read_text(encoding="utf-8")  # progress went to stderr

    create_merchant(runner, "copy", email="owner@copy.example")
    again = runner.invoke(app, ["members", "import", str(out), "--merchant", "copy"])
    assert again.exit_code == 0, again.output
    assert _rows(database_file, "copy") == _rows(database_file, merchant)


def test_a_file_that_is_not_utf8_exits_2_and_imports_nothing(
    runner: CliRunner, database_file: Path, merchant: str, tmp_path: Path
) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes("display_name,phone\nZoë,13800138000\n".encode("latin-1"))
    result = runner.invoke(app, ["members", "import", str(latin), "--merchant", merchant])
    assert result.exit_code == 2
    assert (
        "error: the file is not UTF-8 (byte b'\\xeb' at offset 21); save it as 'CSV UTF-8' "
        "and try again" in _flat(result.stderr)
    )
    assert "Traceback" not in result.output
    assert _rows(database_file, merchant) == []


def test_prompted_passwords_are_not_marked_required(runner: CliRunner, database_file: Path) -> None:
    for command in (["merchant", "create"], ["platform-admin"]):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, result.output
        flat = _flat(result.stdout)
        option = "--owner-password" if command[0] == "merchant" else "--password"
        after = flat[flat.index(option) :].split("--", 2)[1]
        assert "asked for when not given" in after
        assert "required" not in after


def test_merchant_list_shows_whole_ids_on_a_narrow_terminal(
    runner: CliRunner, database_file: Path, merchant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    create_merchant(runner, "a-rather-long-merchant-slug", email="o@long.example")
    result = runner.invoke(app, ["merchant", "list"])
    assert result.exit_code == 0, result.output
    with sqlite3.connect(database_file) as conn:
        ids = [str(uuid.UUID(row[0])) for row in conn.execute("SELECT id FROM merchants")]
    assert len(ids) == 2
    for merchant_id in ids:
        assert merchant_id in result.stdout  # on one line, not cut
    assert "…" not in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
