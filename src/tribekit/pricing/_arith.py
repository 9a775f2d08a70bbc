"""Exact integer arithmetic for money: division with a named rounding, never a float."""

from __future__ import annotations

from typing import Literal

Mode = Literal["floor", "half_up", "half_even"]


def div_round(numerator: int, denominator: int, mode: Mode) -> int:
    """``numerator / denominator`` rounded to an integer; ties per ``mode``.

    ``half_up`` sends ties away from zero and ``floor`` goes towards minus infinity, as
    ``decimal.ROUND_HALF_UP`` and ``decimal.ROUND_FLOOR`` do.
    """
    if denominator <= 0:
        raise ValueError("the denominator must be positive")
    quotient, remainder = divmod(numerator, denominator)  # floor division
    if mode == "floor" or remainder == 0:
        return quotient
    twice = 2 * remainder
    if twice != denominator:
        return quotient + 1 if twice > denominator else quotient
    if mode == "half_even":
        return quotient + quotient % 2
    return quotient + 1 if numerator > 0 else quotient


def ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def scale(digits: int) -> int:
    """Minor units per whole currency unit (100 for two decimals)."""
    return int(10**digits)
