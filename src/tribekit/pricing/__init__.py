"""The pure pricing engine: a cart, a member and the shop's rules in; a priced, explained quote out.

No I/O and nothing of Tribekit but ``kit``: the API, the robot and the member pages all call
``quote`` and get the same answer. Money is integer minor units, rates are basis points.
"""

from . import margin
from .engine import quote
from .margin import Margin
from .points import points_for_amount
from .types import (
    Adjustment,
    AdjustmentKind,
    CouponInput,
    CouponKind,
    CouponResult,
    LineInput,
    LineKind,
    MemberInput,
    PointsRounding,
    PricedLine,
    PriceSource,
    PricingError,
    PricingRules,
    Quote,
    Tier,
)

__all__ = [
    "Adjustment",
    "AdjustmentKind",
    "CouponInput",
    "CouponKind",
    "CouponResult",
    "LineInput",
    "LineKind",
    "Margin",
    "MemberInput",
    "PointsRounding",
    "PriceSource",
    "PricedLine",
    "PricingError",
    "PricingRules",
    "Quote",
    "Tier",
    "margin",
    "points_for_amount",
    "quote",
]
