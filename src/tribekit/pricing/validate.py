"""Checks on the engine's input. Every message names the field and says what to fix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import get_args

from tribekit.kit.money import check_currency

from .types import CouponInput, LineInput, LineKind, MemberInput, PricingError, PricingRules

MAX_BPS = 10_000


def check_quote_input(
    lines: Sequence[LineInput],
    member: MemberInput,
    rules: PricingRules,
    coupons: Sequence[CouponInput],
    points_to_redeem: int,
) -> str:
    """Raise ``PricingError`` on input that cannot be priced; return the currency code."""
    currency = check_rules(rules)
    check_member(member)
    seen: set[str] = set()
    for line in lines:
        if line.key in seen:
            raise PricingError(f"line key {line.key!r} appears twice; give every line its own key")
        seen.add(line.key)
        check_line(line)
    codes: set[str] = set()
    for coupon in coupons:
        if coupon.code in codes:
            raise PricingError(f"coupon {coupon.code!r} is given twice; give each coupon once")
        codes.add(coupon.code)
        check_coupon(coupon)
    _at_least(points_to_redeem, 0, "points_to_redeem")
    return currency


def check_rules(rules: PricingRules) -> str:
    try:
        currency = check_currency(rules.currency)
    except ValueError as exc:
        raise PricingError(str(exc)) from exc
    _one_of(rules.rounding, ("half_even", "half_up"), "rules.rounding")
    _one_of(rules.points_rounding, ("floor", "half_up", "half_even"), "rules.points_rounding")
    _at_least(rules.points_per_currency_unit_redeemed, 1, "rules.points_per_currency_unit_redeemed")
    _bps(rules.points_cap_bps, "rules.points_cap_bps")
    _at_least(rules.total_floor, 0, "rules.total_floor")
    _at_least(rules.points_per_unit_earned, 0, "rules.points_per_unit_earned")
    _at_least(rules.promotion_bps, 0, "rules.promotion_bps")
    _at_least(rules.shipping_fee, 0, "rules.shipping_fee")
    return currency


def check_member(member: MemberInput) -> None:
    _bps(member.discount_bps, "member.discount_bps")
    _bps(member.event_discount_bps, "member.event_discount_bps")
    _at_least(member.points_multiplier_bps, 0, "member.points_multiplier_bps")
    _at_least(member.points_balance, 0, "member.points_balance")


def check_line(line: LineInput) -> None:
    where = f"line {line.key!r}"
    _one_of(line.kind, get_args(LineKind), f"{where}: kind")
    _at_least(line.quantity, 1, f"{where}: quantity")
    _at_least(line.regular_price, 0, f"{where}: regular_price")
    if line.level_price is not None:
        _at_least(line.level_price, 0, f"{where}: level_price")
    if line.campaign_price is not None:
        _at_least(line.campaign_price, 0, f"{where}: campaign_price")
    if line.unit_cost is not None:
        _at_least(line.unit_cost, 0, f"{where}: unit_cost")
    previous = 0
    for tier in line.ladder:
        _at_least(tier.min_quantity, 1, f"{where}: ladder min_quantity")
        _at_least(tier.unit_price, 0, f"{where}: ladder unit_price")
        if tier.min_quantity <= previous:
            raise PricingError(
                f"{where}: ladder tiers must go up in min_quantity "
                f"({tier.min_quantity} follows {previous}); sort them and drop duplicates"
            )
        previous = tier.min_quantity


def check_coupon(coupon: CouponInput) -> None:
    where = f"coupon {coupon.code!r}"
    if not coupon.code:
        raise PricingError("a coupon has an empty code; give its code")
    _one_of(coupon.kind, ("percent", "amount"), f"{where}: kind")
    if coupon.kind == "percent":
        _bps(coupon.value, f"{where}: value")
    else:
        _at_least(coupon.value, 0, f"{where}: value")
    _at_least(coupon.min_subtotal, 0, f"{where}: min_subtotal")
    if coupon.max_discount is not None:
        _at_least(coupon.max_discount, 0, f"{where}: max_discount")


def _at_least(value: int, least: int, what: str) -> None:
    if value < least:
        raise PricingError(f"{what} must be at least {least} (got {value})")


def _bps(value: int, what: str) -> None:
    if not 0 <= value <= MAX_BPS:
        raise PricingError(
            f"{what} is in basis points and must be between 0 and {MAX_BPS} "
            f"(10000 = 100 %; got {value})"
        )


def _one_of(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise PricingError(f"{what} must be one of {', '.join(allowed)} (got {value!r})")
