"""The worker's part of group buys."""

from __future__ import annotations

from tribekit.kit.worker import Sweep

SWEEPS: list[Sweep] = []
