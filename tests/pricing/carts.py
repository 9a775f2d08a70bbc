"""Small builders for pricing tests: fixed product ids, CNY prices in fen."""

from __future__ import annotations

import uuid
from typing import Any

from tribekit.pricing import LineInput, PricingRules, Tier

APPLE = uuid.UUID(int=1)
PEAR = uuid.UUID(int=2)
TICKET = uuid.UUID(int=3)
LADDER = (Tier(1, 1000), Tier(5, 900), Tier(10, 800))


def line(
    key: str = "a",
    regular: int = 1000,
    quantity: int = 1,
    *,
    product: uuid.UUID = APPLE,
    name: str = "Apple",
    **more: Any,
) -> LineInput:
    return LineInput(
        key=key,
        product_id=product,
        name=name,
        kind=more.pop("kind", "goods"),
        quantity=quantity,
        regular_price=regular,
        **more,
    )


def rules(**more: Any) -> PricingRules:
    return PricingRules(currency=more.pop("currency", "CNY"), **more)
