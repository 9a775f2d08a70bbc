"""How amounts and rates read in the explanations."""

from __future__ import annotations

from tribekit.kit.money import Money


def money(amount: int, currency: str) -> str:
    return str(Money(amount, currency))


def percent(bps: int) -> str:
    """500 -> "5 %", 250 -> "2.5 %"."""
    return _decimal(bps, 100) + " %"


def times(bps: int) -> str:
    """A multiplier in basis points: 20000 -> "x2", 15000 -> "x1.5"."""
    return "x" + _decimal(bps, 10_000)


def _decimal(value: int, unit: int) -> str:
    sign = "-" if value < 0 else ""
    whole, fraction = divmod(abs(value), unit)
    if not fraction:
        return f"{sign}{whole}"
    width = len(str(unit)) - 1
    return f"{sign}{whole}.{fraction:0{width}d}".rstrip("0")


def level_label(level_name: str | None) -> str:
    return f"{level_name} level" if level_name else "member"
