"""The whole quote: shipping, totals, explanations, and input the engine refuses."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tribekit.pricing import (
    CouponInput,
    MemberInput,
    PricingError,
    PricingRules,
    Tier,
    quote,
)

from .carts import PEAR, line, rules


def test_shipping_is_charged_once_per_order() -> None:
    q = quote([line("a"), line("b", product=PEAR)], MemberInput(), rules(shipping_fee=800))
    assert (q.subtotal, q.shipping, q.total) == (2000, 800, 2800)
    assert q.adjustments[-1].kind == "shipping"
    assert (q.adjustments[-1].amount, q.adjustments[-1].why) == (800, "shipping 8.00 CNY")


def test_shipping_waived_for_free_shipping_members() -> None:
    gold = MemberInput(level_name="Gold", free_shipping=True)
    q = quote([line()], gold, rules(shipping_fee=800))
    assert (q.shipping, q.total) == (0, 1000)
    assert "free shipping: Gold level (saves 8.00 CNY)" in q.why
    assert q.adjustments[-1].amount == 0


def test_coupons_and_points_never_reduce_shipping() -> None:
    member = MemberInput(points_balance=10_000)
    q = quote(
        [line()],
        member,
        rules(shipping_fee=800, points_cap_bps=10_000),
        [CouponInput("BIG", "amount", 5000)],
        points_to_redeem=10_000,
    )
    assert (q.coupon_discount, q.points_discount, q.shipping, q.total) == (1000, 0, 800, 800)
    assert q.points_redeemed == 0


def test_an_empty_cart_costs_nothing() -> None:
    q = quote([], MemberInput(), rules(shipping_fee=800), [CouponInput("TEN", "percent", 1000)])
    assert (q.subtotal, q.shipping, q.total, q.points_to_earn) == (0, 0, 0, 0)
    assert q.coupons[0].why == "covers none of the products in the cart"


def test_a_full_quote_adds_up_and_explains_itself() -> None:
    lines = [
        line("a", quantity=3, ladder=(Tier(1, 1000), Tier(5, 900))),
        line("b", quantity=3, ladder=(Tier(1, 1000), Tier(5, 900))),
        line("c", 2000, product=PEAR, name="Pear", campaign_price=1500, campaign_name="Pear day"),
    ]
    member = MemberInput(
        level_name="Gold", points_multiplier_bps=20_000, points_balance=400, free_shipping=False
    )
    q = quote(
        lines,
        member,
        rules(shipping_fee=600),
        [CouponInput("TEN", "percent", 1000)],
        points_to_redeem=400,
    )
    assert (q.undiscounted_subtotal, q.subtotal, q.coupon_discount) == (8000, 6900, 540)
    assert (q.points_redeemed, q.points_discount, q.shipping, q.total) == (400, 400, 600, 6560)
    assert q.points_to_earn == 119  # 59.60 CNY cash at x2 = 119.2, rounded down once
    assert q.why == (
        "Apple: quantity ladder 5+: 9.00 CNY each (6 of this product in the cart)",
        "Apple: quantity ladder 5+: 9.00 CNY each (6 of this product in the cart)",
        "Pear: campaign Pear day: 15.00 CNY",
        "coupon TEN: 10 % off 54.00 CNY: -5.40 CNY (campaign prices excluded)",
        "400 points redeemed: -4.00 CNY",
        "shipping 6.00 CNY",
        "earns 119 points on 59.60 CNY (1 per whole CNY, Gold level x2)",
    )
    assert q.undiscounted_subtotal + sum(a.amount for a in q.adjustments) == q.total
    assert sum(p.total for p in q.lines) == q.total - q.shipping
    assert [p.key for p in q.lines] == ["a", "b", "c"]


def test_lowercase_currency_is_normalised() -> None:
    q = quote([line()], MemberInput(), rules(currency="cny"))
    assert q.currency == "CNY"
    assert q.lines[0].why == ("regular price 10.00 CNY",)


def _raises(message: str, **call: Any) -> None:
    arguments: dict[str, Any] = {"lines": [line()], "member": MemberInput(), "rules": rules()}
    arguments.update(call)
    with pytest.raises(PricingError, match=re.escape(message)):
        quote(**arguments)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([line(quantity=0)], "line 'a': quantity must be at least 1 (got 0)"),
        ([line(regular=-1)], "line 'a': regular_price must be at least 0 (got -1)"),
        ([line(level_price=-5)], "line 'a': level_price must be at least 0 (got -5)"),
        ([line(campaign_price=-5)], "line 'a': campaign_price must be at least 0 (got -5)"),
        ([line("a"), line("a", product=PEAR)], "line key 'a' appears twice"),
        (
            [line(ladder=(Tier(5, 900), Tier(5, 800)))],
            "line 'a': ladder tiers must go up in min_quantity (5 follows 5)",
        ),
        (
            [line(ladder=(Tier(10, 800), Tier(5, 900)))],
            "line 'a': ladder tiers must go up in min_quantity (5 follows 10)",
        ),
        ([line(ladder=(Tier(0, 900),))], "line 'a': ladder min_quantity must be at least 1"),
        ([line(ladder=(Tier(2, -1),))], "line 'a': ladder unit_price must be at least 0"),
        ([line(kind="service")], "line 'a': kind must be one of goods, event"),
    ],
)
def test_bad_lines_are_refused(lines: list[Any], message: str) -> None:
    _raises(message, lines=lines)


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (MemberInput(discount_bps=5_000), ""),
        (MemberInput(discount_bps=10_001), "member.discount_bps is in basis points"),
        (MemberInput(event_discount_bps=-1), "member.event_discount_bps is in basis points"),
        (MemberInput(points_balance=-1), "member.points_balance must be at least 0"),
        (MemberInput(points_multiplier_bps=-1), "member.points_multiplier_bps must be at least 0"),
    ],
)
def test_bad_members_are_refused(member: MemberInput, message: str) -> None:
    if not message:
        assert quote([line()], member, rules()).total == 500  # 50 % is fine
        return
    _raises(message, member=member)


@pytest.mark.parametrize(
    ("pricing_rules", "message"),
    [
        (PricingRules(currency="XYZ"), "unknown currency 'XYZ'; use an ISO 4217 code"),
        (rules(points_cap_bps=20_000), "rules.points_cap_bps is in basis points"),
        (rules(points_per_currency_unit_redeemed=0), "must be at least 1 (got 0)"),
        (rules(total_floor=-1), "rules.total_floor must be at least 0"),
        (rules(shipping_fee=-1), "rules.shipping_fee must be at least 0"),
        (rules(rounding="up"), "rules.rounding must be one of half_even, half_up"),
        (rules(points_rounding="ceil"), "rules.points_rounding must be one of floor"),
    ],
)
def test_bad_rules_are_refused(pricing_rules: PricingRules, message: str) -> None:
    _raises(message, rules=pricing_rules)


@pytest.mark.parametrize(
    ("coupons", "message"),
    [
        ([CouponInput("P", "percent", 12_000)], "coupon 'P': value is in basis points"),
        ([CouponInput("A", "amount", -1)], "coupon 'A': value must be at least 0"),
        ([CouponInput("A", "amount", 1), CouponInput("A", "amount", 2)], "'A' is given twice"),
        ([CouponInput("", "amount", 1)], "a coupon has an empty code"),
        ([CouponInput("M", "amount", 1, min_subtotal=-1)], "min_subtotal must be at least 0"),
        ([CouponInput("M", "percent", 1, max_discount=-1)], "max_discount must be at least 0"),
    ],
)
def test_bad_coupons_are_refused(coupons: list[CouponInput], message: str) -> None:
    _raises(message, coupons=coupons)


def test_negative_points_request_is_refused() -> None:
    _raises("points_to_redeem must be at least 0 (got -1)", points_to_redeem=-1)


def test_pricing_error_is_a_value_error() -> None:
    assert issubclass(PricingError, ValueError)
