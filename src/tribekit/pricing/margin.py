"""Margin: what is left of the money a line brings in once its cost is paid. Pure.

A line's margin is its revenue (what the buyer pays for it after coupons and points) minus its
cost (unit cost x quantity), also in basis points of the revenue. A line whose product has no
cost price has an unknown margin; a total is known only when every line's is, and says how many
are not. Selling below cost is allowed (a traffic product often is) and flagged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ._words import money, percent


@dataclass(frozen=True)
class Margin:
    revenue: int
    cost: int | None  # None: the cost of at least one unit is unknown
    amount: int | None  # revenue - cost
    bps: int | None  # amount / revenue in basis points; None when unknown or revenue is 0
    below_cost: bool
    unknown_lines: int  # lines without a cost price (0 or 1 for a line)
    why: str


def _bps(amount: int, revenue: int) -> int | None:
    if revenue == 0:
        return None
    # Truncated toward zero, so that a loss never reads smaller than it is by rounding up.
    sign = -1 if (amount < 0) != (revenue < 0) else 1
    return sign * (abs(amount) * 10_000 // abs(revenue))


def of(revenue: int, cost: int | None, currency: str) -> Margin:
    """The margin of ``revenue`` earned at ``cost`` (None: unknown)."""
    if cost is None:
        return Margin(revenue, None, None, None, False, 1, "margin unknown: no cost price")
    amount = revenue - cost
    bps = _bps(amount, revenue)
    below = amount < 0
    rate = f" ({percent(bps)})" if bps is not None else ""
    words = f"margin {money(amount, currency)}{rate}"
    if below:
        words = f"below cost: {money(revenue, currency)} for a cost of {money(cost, currency)}"
    return Margin(revenue, cost, amount, bps, below, 0, words)


def line(revenue: int, unit_cost: int | None, quantity: int, currency: str) -> Margin:
    return of(revenue, None if unit_cost is None else unit_cost * quantity, currency)


def total(margins: Iterable[Margin], currency: str) -> Margin:
    """The margin of several lines: known only when every line's cost is known."""
    items = list(margins)
    revenue = sum(m.revenue for m in items)
    unknown = sum(m.unknown_lines for m in items)
    if unknown:
        noun = "line has" if unknown == 1 else "lines have"
        return Margin(
            revenue, None, None, None, False, unknown, f"margin unknown: {unknown} {noun} no cost"
        )
    return of(revenue, sum(m.cost or 0 for m in items), currency)


def price_warnings(price: int, cost: int | None, what: str, currency: str) -> list[str]:
    """A warning when ``price`` (a regular, level, ladder or sale price) is below ``cost``."""
    if cost is None or price >= cost:
        return []
    return [f"{what} {money(price, currency)} is below the cost price {money(cost, currency)}"]
