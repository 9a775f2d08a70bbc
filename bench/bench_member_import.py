"""Member CSV import: 100,000 rows through ``tribekit members import`` on SQLite, under 60 s.

Floor: the least work any import must do with the same file on the same disk — read the CSV with
the csv module and insert the raw rows into an equivalent members table with sqlite3's
executemany, one transaction, no validation.
"""

from __future__ import annotations

import csv
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .harness import DATA, Result

ROWS = 100_000
TARGET_SECONDS = 60.0
PREFIXES = ["131", "135", "136", "138", "139", "150", "151", "158", "186", "187", "189"]
TAGS = ["fruit-lover", "office", "parent", "vip", "organic", "weekend"]


def make_csv(path: Path, rows: int) -> None:
    rng = random.Random(7)
    phones = rng.sample(range(100_000_000), rows)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["Name", "Mobile", "Email", "Tags", "Where", "Consent", "Joined", "Telegram"]
        )
        for i in range(rows):
            writer.writerow(
                [
                    f"Member {i}",
                    f"{rng.choice(PREFIXES)} {phones[i]:08d}",
                    f"member{i}@example.com" if i % 3 else "",
                    ";".join(rng.sample(TAGS, k=rng.randint(0, 2))),
                    rng.choice(["counter", "summer-fair", "old-cards"]),
                    rng.choice(["yes", "no"]),
                    f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                    str(900_000_000 + i) if i % 2 else "",
                ]
            )


def floor_seconds(path: Path, workdir: Path) -> float:
    database = workdir / "floor.db"
    started = time.perf_counter()
    conn = sqlite3.connect(database)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "CREATE TABLE members (id INTEGER PRIMARY KEY, display_name TEXT, phone TEXT UNIQUE,"
        " email TEXT, tags TEXT, source_ref TEXT, consent TEXT, joined TEXT, telegram TEXT)"
    )
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        conn.executemany(
            "INSERT INTO members (display_name, phone, email, tags, source_ref, consent, joined,"
            " telegram) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            reader,
        )
    conn.commit()
    conn.close()
    return time.perf_counter() - started


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    tribekit = Path(sys.executable).with_name("tribekit")
    return subprocess.run(  # noqa: S603  # our own console script, fixed arguments
        [str(tribekit), *args], env=env, capture_output=True, text=True, check=False
    )


async def run() -> Result:
    DATA.mkdir(exist_ok=True)
    source = DATA / f"members_{ROWS}.csv"
    if not source.exists():
        make_csv(source, ROWS)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        env = {
            **os.environ,
            "TRIBEKIT_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
            "TRIBEKIT_SECRET_KEY": "bench-secret",
            "TRIBEKIT_LOG_LEVEL": "warning",
        }
        created = _cli(
            [
                "merchant",
                "create",
                "--slug",
                "bench",
                "--name",
                "Bench",
                "--currency",
                "CNY",
                "--country",
                "CN",
                "--timezone",
                "Asia/Shanghai",
                "--owner-email",
                "owner@bench.example",
                "--owner-name",
                "Owner",
                "--owner-password",
                "bench-password",
            ],
            env,
        )
        if created.returncode != 0:
            raise RuntimeError(created.stderr or created.stdout)
        started = time.perf_counter()
        imported = _cli(
            [
                "members",
                "import",
                str(source),
                "--merchant",
                "bench",
                "--map",
                "Name=display_name",
                "--map",
                "Mobile=phone",
                "--map",
                "Tags=tags",
                "--map",
                "Where=source_ref",
                "--map",
                "Consent=marketing_consent",
                "--map",
                "Joined=joined_at",
                "--map",
                "Telegram=identity:telegram",
            ],
            env,
        )
        seconds = time.perf_counter() - started
        if imported.returncode != 0:
            raise RuntimeError(imported.stdout[-2000:] + imported.stderr[-2000:])
        check = sqlite3.connect(workdir / "bench.db")
        members = check.execute("SELECT count(*) FROM members").fetchone()[0]
        identities = check.execute("SELECT count(*) FROM member_identities").fetchone()[0]
        check.close()
        floor = floor_seconds(source, workdir)
    return Result(
        benchmark="member CSV import (SQLite)",
        measured=f"tribekit members import, {ROWS:,} rows",
        seconds=seconds,
        floor="csv.reader + sqlite3 executemany of the raw rows",
        floor_seconds=floor,
        target=f"under {TARGET_SECONDS:.0f} s",
        met=seconds < TARGET_SECONDS and members == ROWS,
        figures={
            "members imported": f"{members:,}",
            "identities imported": f"{identities:,}",
            "rows per second": f"{ROWS / seconds:,.0f}",
        },
    )
