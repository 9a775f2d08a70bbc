"""Points: paying with them (after coupons) and earning them on what the member pays in cash."""

from __future__ import annotations

from dataclasses import dataclass

from tribekit.kit.money import minor_digits

from ._arith import ceil_div, div_round, scale
from ._words import money, percent, times
from .types import MemberInput, PointsRounding, PricingRules


def points_for_amount(
    amount: int,
    currency_digits: int,
    *,
    points_per_unit: int,
    rounding: PointsRounding,
    multiplier_bps: int = 10_000,
    promotion_bps: int = 10_000,
) -> int:
    """Points earned for ``amount`` minor units: per whole currency unit, times the level and
    promotion multipliers (basis points), rounded once at the end."""
    if amount <= 0:
        return 0
    exact_numerator = amount * points_per_unit * multiplier_bps * promotion_bps
    return div_round(exact_numerator, scale(currency_digits) * 10_000 * 10_000, rounding)


@dataclass(frozen=True)
class Redemption:
    points: int  # points taken from the balance
    discount: int  # minor units they pay
    why: str | None  # None when no points were asked for


def redeem_points(
    goods_total: int, floor: int, requested: int, member: MemberInput, rules: PricingRules
) -> Redemption:
    """The largest whole minor amount the points may pay, and the fewest points that pay it.

    Limits: the points asked for and the balance; ``points_cap_bps`` of the goods total after
    coupons (rounded down); and the floor the goods total may not go below.
    """
    if requested <= 0:
        return Redemption(0, 0, None)
    currency, per_unit = rules.currency, rules.points_per_currency_unit_redeemed
    minor = scale(minor_digits(currency))
    usable = min(requested, member.points_balance)
    by_points = usable * minor // per_unit
    by_cap = goods_total * rules.points_cap_bps // 10_000
    by_floor = max(0, goods_total - floor)
    discount = min(by_points, by_cap, by_floor)
    points = ceil_div(discount * per_unit, minor)

    notes: list[str] = []
    if member.points_balance < requested:
        notes.append(f"asked {requested:,} points; balance {member.points_balance:,}")
    if discount < by_points:
        if discount == by_cap:
            notes.append(f"cap: {percent(rules.points_cap_bps)} of {money(goods_total, currency)}")
        if discount == by_floor:
            notes.append(f"floor: the goods total stays at least {money(floor, currency)}")
    elif points < usable:
        spare = usable - points
        unit = money(1, currency)
        plural = "s" * (spare != 1)
        notes.append(f"{spare:,} point{plural} unused: points only pay whole multiples of {unit}")
    why = (
        f"{points:,} points redeemed: {money(-discount, currency)}"
        if discount
        else "no points redeemed"
    )
    return Redemption(points, discount, why + (f" ({'; '.join(notes)})" if notes else ""))


def points_to_earn(cash: int, member: MemberInput, rules: PricingRules) -> tuple[int, str | None]:
    """Points the member earns on ``cash`` minor units paid for goods, and why."""
    earned = points_for_amount(
        cash,
        minor_digits(rules.currency),
        points_per_unit=rules.points_per_unit_earned,
        rounding=rules.points_rounding,
        multiplier_bps=member.points_multiplier_bps,
        promotion_bps=rules.promotion_bps,
    )
    if cash <= 0:
        return earned, None
    how = [f"{rules.points_per_unit_earned:,} per whole {rules.currency}"]
    if member.points_multiplier_bps != 10_000:
        level = f"{member.level_name} level" if member.level_name else "level"
        how.append(f"{level} {times(member.points_multiplier_bps)}")
    if rules.promotion_bps != 10_000:
        how.append(f"promotion {times(rules.promotion_bps)}")
    if rules.points_rounding != "floor":
        how.append(f"rounded {rules.points_rounding.replace('_', ' ')}")
    return earned, f"earns {earned:,} points on {money(cash, rules.currency)} ({', '.join(how)})"
