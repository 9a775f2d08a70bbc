"""The price rules of a group buy, pure: which tier a team's size reaches, what a joiner pays
up front, whether a leave may happen, and what each participant gets back at the close.

The rule that keeps the money exact: **what the shop keeps of a team = the tier price reached
by its paid portions x those portions**. It holds because nobody ever pays up front less than
the price the team ends at:

* ``join_price = lowest``: everyone pays the lowest-count tier's price, the dearest one.
* ``join_price = reached``: a joiner pays the tier reached by the portions *paid* so far plus
  their own (seats taken but unpaid do not count: they may never pay). Paid portions only grow
  by payments, and shrink only by leaves, which ``leave_allowed`` refuses when they would move
  the team to a tier dearer than any remaining participant paid.

At the close each paid participant keeps tier price x portions and gets the rest back (a
partial refund); a team whose paid portions do not reach the first tier fails and everyone
gets everything back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .spec import Tier


def tiers_of(stored: Sequence[Any]) -> tuple[Tier, ...]:
    """The tiers as stored on a group buy (``[{"size": 2, "unit_price": 9000}, ...]``)."""
    return tuple(Tier(int(t["size"]), int(t["unit_price"])) for t in stored)


def reached(tiers: Sequence[Tier], portions: int) -> Tier | None:
    """The largest tier ``portions`` reach; None below the first (the minimum)."""
    found = [tier for tier in tiers if tier.size <= portions]
    return found[-1] if found else None


def next_tier(tiers: Sequence[Tier], portions: int) -> Tier | None:
    """The first tier above ``portions``, if any."""
    return next((tier for tier in tiers if tier.size > portions), None)


def price_at(tiers: Sequence[Tier], portions: int) -> int:
    """The unit price a team of ``portions`` pays: its tier's, or the first tier's below it."""
    tier = reached(tiers, portions)
    return (tier or tiers[0]).unit_price


def join_price(tiers: Sequence[Tier], rule: str, paid_portions: int, portions: int) -> int:
    """What a joiner of ``portions`` pays per portion up front."""
    if rule == "lowest":
        return tiers[0].unit_price
    return price_at(tiers, paid_portions + portions)


def leave_allowed(
    tiers: Sequence[Tier], rule: str, paid_after: int, prices_left: Sequence[int]
) -> bool:
    """Whether a leave that leaves ``paid_after`` paid portions keeps the team's price at or
    below what each remaining participant (paid, or joined and still able to pay) paid per
    portion (``prices_left``). With ``lowest`` it always does. Below the minimum the team's
    price counts as the first tier's: others may still join and reach it."""
    if rule == "lowest" or not prices_left:
        return True
    return price_at(tiers, paid_after) <= min(prices_left)


def kept(unit_price: int, portions: int) -> int:
    return unit_price * portions
