"""The base unit price of one line: the lowest of the offers that apply to it.

Offers: the regular price, the member's level discount, the level price, the quantity ladder and a
running campaign. Among offers of equal price the preference is campaign > level price > quantity
ladder > level discount, so the line names the most specific one. An offer must be below the
regular price to win: one that saves nothing is not used, so it cannot cost the member a coupon
(campaign and level-priced lines may be excluded from coupons by the shop's stacking rules).
"""

from __future__ import annotations

from dataclasses import dataclass

from ._arith import div_round
from ._words import level_label, money, percent
from .types import LineInput, MemberInput, PriceSource, PricingRules, Tier

# Lower rank wins a tie between offers below the regular price.
_PREFERENCE: dict[PriceSource, int] = {
    "campaign": 0,
    "level_price": 1,
    "quantity_ladder": 2,
    "level_discount": 3,
}


@dataclass(frozen=True)
class Offer:
    source: PriceSource
    unit_price: int
    why: str  # the full explanation, when this offer wins
    label: str  # short, when it loses


@dataclass(frozen=True)
class BasePrice:
    unit_price: int
    source: PriceSource
    why: str


def offers(
    line: LineInput, member: MemberInput, rules: PricingRules, ladder_quantity: int
) -> list[Offer]:
    """Every offer for ``line``, the regular price first. ``ladder_quantity`` is the quantity of
    the product over all lines of the cart."""
    currency = rules.currency
    regular = line.regular_price
    found = [Offer("regular", regular, f"regular price {money(regular, currency)}", "regular")]
    # A level discounts goods and tickets; a paid plan costs what the plan costs, for everyone.
    bps = {"goods": member.discount_bps, "event": member.event_discount_bps}.get(line.kind, 0)
    if bps:
        price = regular - div_round(regular * bps, 10_000, rules.rounding)
        who = level_label(member.level_name)
        off = f"{percent(bps)} off"
        found.append(
            Offer(
                "level_discount",
                price,
                f"{who}: {off} {money(regular, currency)} -> {money(price, currency)}",
                f"{who} {off}: {money(price, currency)}",
            )
        )
    if line.level_price is not None:
        what = f"{member.level_name} level price" if member.level_name else "level price"
        price_text = money(line.level_price, currency)
        found.append(
            Offer(
                "level_price",
                line.level_price,
                f"{what} {price_text} instead of {money(regular, currency)}",
                f"{what} {price_text}",
            )
        )
    tier = ladder_tier(line.ladder, ladder_quantity)
    if tier is not None:
        step = f"quantity ladder {tier.min_quantity}+: {money(tier.unit_price, currency)}"
        why = f"{step} each"
        if ladder_quantity != line.quantity:
            why += f" ({ladder_quantity} of this product in the cart)"
        found.append(Offer("quantity_ladder", tier.unit_price, why, step))
    if line.campaign_price is not None:
        what = f"campaign {line.campaign_name}" if line.campaign_name else "campaign price"
        price_text = money(line.campaign_price, currency)
        why = f"{what}: {price_text}"
        found.append(Offer("campaign", line.campaign_price, why, why))
    return found


def ladder_tier(ladder: tuple[Tier, ...], quantity: int) -> Tier | None:
    """The step with the highest ``min_quantity`` the quantity reaches, if any."""
    reached = [tier for tier in ladder if tier.min_quantity <= quantity]
    return max(reached, key=lambda tier: tier.min_quantity) if reached else None


def choose(
    line: LineInput, member: MemberInput, rules: PricingRules, ladder_quantity: int
) -> BasePrice:
    if line.campaign_fixed and line.campaign_price is not None:
        what = f"campaign {line.campaign_name}" if line.campaign_name else "campaign price"
        why = f"{what}: {money(line.campaign_price, rules.currency)} (the campaign's own price)"
        return BasePrice(line.campaign_price, "campaign", why)
    regular, *special = offers(line, member, rules, ladder_quantity)
    best = min(special, key=lambda o: (o.unit_price, _PREFERENCE[o.source]), default=regular)
    if best.unit_price >= regular.unit_price:
        best = regular
    others = [o.label for o in special if o is not best]
    why = best.why + (f" (also offered: {'; '.join(others)})" if others else "")
    return BasePrice(best.unit_price, best.source, why)
