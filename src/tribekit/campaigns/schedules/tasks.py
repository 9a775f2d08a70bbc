"""The worker's part of campaign schedules."""

from __future__ import annotations

from tribekit.kit.worker import Sweep


def sweeps(horizon_hours: float = 24) -> list[Sweep]:
    del horizon_hours
    return []
