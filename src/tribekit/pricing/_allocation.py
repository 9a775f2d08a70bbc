"""Split an order-level discount over lines, to the minor unit, independent of line order."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

LineRef = tuple[uuid.UUID, str]  # (product_id, key): the order that breaks ties


def split(amount: int, weights: Mapping[LineRef, int]) -> dict[LineRef, int]:
    """``amount`` shared in proportion to ``weights`` (largest remainder method).

    Each share is the floor of its exact proportion; the minor units left over go one each to the
    largest remainders, ties by (product_id, key), so the split never depends on the order the
    caller listed the lines in. Needs 0 <= amount <= sum(weights); then 0 <= share <= weight.
    """
    total = sum(weights.values())
    if not 0 <= amount <= total:
        raise ValueError(f"cannot split {amount} over weights summing to {total}")
    shares = dict.fromkeys(weights, 0)
    if amount == 0:
        return shares
    remainders: dict[LineRef, int] = {}
    for ref, weight in weights.items():
        shares[ref], remainders[ref] = divmod(amount * weight, total)
    left = amount - sum(shares.values())
    for ref in sorted(remainders, key=lambda r: (-remainders[r], r))[:left]:
        shares[ref] += 1
    return shares
