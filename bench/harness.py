"""A small benchmark harness: each benchmark measures itself and a named floor in the same run,
prints both and their ratio, checks its target, and appends the figures to bench/results.jsonl."""

from __future__ import annotations

import json
import platform
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).parent / "results.jsonl"
DATA = Path(__file__).parent / ".data"
console = Console()


@dataclass
class Result:
    benchmark: str
    measured: str  # what was timed
    seconds: float
    floor: str  # what the floor is
    floor_seconds: float
    target: str  # the target, in words
    met: bool
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.seconds / self.floor_seconds if self.floor_seconds else float("inf")


async def timed(work: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = await work()
    return time.perf_counter() - started, value


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607  # git from PATH, as a person runs it
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def report(result: Result) -> None:
    table = Table(title=result.benchmark, show_header=False)
    table.add_row("measured", f"{result.measured}: [bold]{result.seconds:.2f} s[/bold]")
    table.add_row("floor", f"{result.floor}: {result.floor_seconds:.2f} s")
    table.add_row("ratio to floor", f"{result.ratio:.2f}x")
    for name, value in result.figures.items():
        table.add_row(name, str(value))
    verdict = "[green]met[/green]" if result.met else "[red]MISSED[/red]"
    table.add_row("target", f"{result.target}: {verdict}")
    console.print(table)
    entry = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "machine": f"{platform.machine()} {platform.python_version()}",
        **asdict(result),
        "ratio": round(result.ratio, 3),
    }
    with RESULTS.open("a") as handle:
        handle.write(json.dumps(entry) + "\n")
