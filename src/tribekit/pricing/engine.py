"""``quote``: the one place a cart gets its price, for the API, the robot and the member pages.

Steps, each recording why: base price per line -> coupons -> points -> shipping -> points to
earn. Pure and deterministic: the same input gives the same quote, whatever order the lines come
in (ties in every split are broken by product id and line key).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections import Counter
from collections.abc import Sequence

from . import base_price, margin
from ._allocation import LineRef, split
from ._words import level_label, money
from .coupons import CouponLine, apply_coupons
from .points import points_to_earn, redeem_points
from .types import (
    Adjustment,
    CouponInput,
    LineInput,
    MemberInput,
    PricedLine,
    PricingRules,
    Quote,
)
from .validate import check_quote_input


def quote(
    lines: Sequence[LineInput],
    member: MemberInput,
    rules: PricingRules,
    coupons: Sequence[CouponInput] = (),
    points_to_redeem: int = 0,
) -> Quote:
    """Price a cart. Raises ``PricingError`` on input that cannot be priced."""
    rules = dataclasses.replace(
        rules, currency=check_quote_input(lines, member, rules, coupons, points_to_redeem)
    )
    currency = rules.currency
    adjustments: list[Adjustment] = []
    why: list[str] = []

    # Lines of one product share its quantity ladder.
    ladder_quantity = Counter[uuid.UUID]()
    for line in lines:
        ladder_quantity[line.product_id] += line.quantity
    refs: list[LineRef] = [(line.product_id, line.key) for line in lines]
    bases = [base_price.choose(ln, member, rules, ladder_quantity[ln.product_id]) for ln in lines]
    for line, base in zip(lines, bases, strict=True):
        line_why = f"{line.name}: {base.why}"
        why.append(line_why)
        change = (base.unit_price - line.regular_price) * line.quantity
        if change:
            adjustments.append(Adjustment("base_price", change, line.key, line_why))
    base_totals = {
        ref: base.unit_price * line.quantity
        for ref, line, base in zip(refs, lines, bases, strict=True)
    }
    subtotal = sum(base_totals.values())
    floor = min(rules.total_floor, subtotal)

    coupon_lines = [
        CouponLine(ref, base.source, base_totals[ref])
        for ref, base in zip(refs, bases, strict=True)
    ]
    coupon = apply_coupons(coupons, coupon_lines, rules, floor)
    adjustments += coupon.adjustments
    why += coupon.why
    after_coupons = {ref: base_totals[ref] - coupon.line_discounts[ref] for ref in refs}
    goods = subtotal - coupon.discount

    redemption = redeem_points(goods, floor, points_to_redeem, member, rules)
    point_shares = split(redemption.discount, after_coupons)
    if redemption.why is not None:
        why.append(redemption.why)
        if redemption.discount:
            adjustments.append(Adjustment("points", -redemption.discount, None, redemption.why))

    shipping = 0
    if lines and rules.shipping_fee:  # an empty cart is no order: nothing to ship
        shipping, shipping_why = _shipping(member, rules)
        why.append(shipping_why)
        adjustments.append(Adjustment("shipping", shipping, None, shipping_why))

    earned, earn_why = points_to_earn(goods - redemption.discount, member, rules)
    if earn_why is not None:
        why.append(earn_why)

    priced = [
        _priced_line(
            line,
            base,
            coupon.line_discounts[ref],
            point_shares[ref],
            (*coupon.line_why[ref], *_points_why(point_shares[ref], currency)),
            currency,
        )
        for ref, line, base in zip(refs, lines, bases, strict=True)
    ]
    return Quote(
        currency=currency,
        lines=tuple(priced),
        undiscounted_subtotal=sum(line.undiscounted_total for line in priced),
        subtotal=subtotal,
        coupon_discount=coupon.discount,
        coupons=coupon.results,
        points_redeemed=redemption.points,
        points_discount=redemption.discount,
        shipping=shipping,
        total=goods - redemption.discount + shipping,
        points_to_earn=earned,
        adjustments=tuple(adjustments),
        why=tuple(why),
        margin=margin.total((p.margin for p in priced if p.margin is not None), currency),
    )


def _shipping(member: MemberInput, rules: PricingRules) -> tuple[int, str]:
    fee = money(rules.shipping_fee, rules.currency)
    if member.free_shipping:
        return 0, f"free shipping: {level_label(member.level_name)} (saves {fee})"
    return rules.shipping_fee, f"shipping {fee}"


def _points_why(share: int, currency: str) -> tuple[str, ...]:
    return (f"points: {money(-share, currency)}",) if share else ()


def _priced_line(
    line: LineInput,
    base: base_price.BasePrice,
    coupon_discount: int,
    points_discount: int,
    why: tuple[str, ...],
    currency: str,
) -> PricedLine:
    base_total = base.unit_price * line.quantity
    total = base_total - coupon_discount - points_discount
    return PricedLine(
        key=line.key,
        product_id=line.product_id,
        name=line.name,
        kind=line.kind,
        quantity=line.quantity,
        regular_unit_price=line.regular_price,
        unit_price=base.unit_price,
        source=base.source,
        undiscounted_total=line.regular_price * line.quantity,
        base_total=base_total,
        coupon_discount=coupon_discount,
        points_discount=points_discount,
        total=total,
        why=(base.why, *why),
        unit_cost=line.unit_cost,
        margin=margin.line(total, line.unit_cost, line.quantity, currency),
    )
