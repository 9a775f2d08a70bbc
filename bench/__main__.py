"""``make bench``: run every benchmark under bench/ (modules named ``bench_*.py``)."""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import sys
from pathlib import Path

from .harness import report


def main(selected: list[str]) -> int:
    names = sorted(
        m.name
        for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if m.name.startswith("bench_")
    )
    missed = 0
    for name in names:
        if selected and not any(s in name for s in selected):
            continue
        module = importlib.import_module(f"bench.{name}")
        outcome = asyncio.run(module.run())  # one Result, or a list for several targets
        for result in outcome if isinstance(outcome, list) else [outcome]:
            report(result)
            missed += not result.met
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
