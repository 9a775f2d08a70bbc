"""Coupons: eligibility, stacking, combining, exact allocation and the floor."""

from __future__ import annotations

import uuid
from typing import Any

from tribekit.pricing import CouponInput, CouponResult, MemberInput, quote

from .carts import APPLE, PEAR, line, rules

NOBODY = MemberInput()
GOLD = MemberInput(level_name="Gold")


def percent(code: str, bps: int, **more: Any) -> CouponInput:
    return CouponInput(code, "percent", bps, **more)


def amount(code: str, value: int, **more: Any) -> CouponInput:
    return CouponInput(code, "amount", value, **more)


def test_percent_coupon_on_the_whole_cart() -> None:
    q = quote(
        [line("a", 1000, 3), line("b", 500, 2, product=PEAR)],
        NOBODY,
        rules(),
        [percent("TEN", 1000)],
    )
    assert q.coupons == (CouponResult("TEN", True, 400, "10 % off 40.00 CNY: -4.00 CNY"),)
    assert [(p.coupon_discount, p.total) for p in q.lines] == [(300, 2700), (100, 900)]
    assert (q.subtotal, q.coupon_discount, q.total) == (4000, 400, 3600)
    assert q.lines[0].why == ("regular price 10.00 CNY", "coupon TEN: -3.00 CNY")
    assert q.adjustments[-1].kind == "coupon"
    assert (q.adjustments[-1].amount, q.adjustments[-1].line_key) == (-400, None)


def test_percent_coupon_capped_by_max_discount() -> None:
    q = quote([line(quantity=10)], NOBODY, rules(), [percent("TWENTY", 2000, max_discount=1500)])
    assert q.coupons[0].discount == 1500
    assert q.coupons[0].why == "20 % off 100.00 CNY: -15.00 CNY (capped at 15.00 CNY)"
    assert q.total == 8500


def test_amount_coupon_never_exceeds_the_eligible_subtotal() -> None:
    q = quote(
        [line("a", 3000), line("b", 2000, product=PEAR)],
        NOBODY,
        rules(),
        [amount("BIG", 5000, product_ids=frozenset({APPLE}))],
    )
    assert q.coupons[0].discount == 3000
    assert q.coupons[0].why == (
        "50.00 CNY off 30.00 CNY: -30.00 CNY (no more than the eligible lines cost)"
    )
    assert [p.total for p in q.lines] == [0, 2000]


def test_min_subtotal_counts_eligible_lines_only() -> None:
    q = quote(
        [line("a", 3000), line("b", 4000, product=PEAR)],
        NOBODY,
        rules(),
        [amount("APPLES", 500, min_subtotal=5000, product_ids=frozenset({APPLE}))],
    )
    assert q.coupons == (
        CouponResult(
            "APPLES", False, 0, "needs an eligible subtotal of 50.00 CNY (have 30.00 CNY)"
        ),
    )
    assert (q.coupon_discount, q.total) == (0, 7000)
    assert (
        "coupon APPLES not applied: needs an eligible subtotal of 50.00 CNY (have 30.00 CNY)"
        in (q.why)
    )


def test_coupon_for_other_products() -> None:
    q = quote([line()], NOBODY, rules(), [amount("PEARS", 100, product_ids=frozenset({PEAR}))])
    assert q.coupons[0] == CouponResult(
        "PEARS", False, 0, "covers none of the products in the cart"
    )


def test_coupon_does_not_stack_on_campaign_price() -> None:
    cart = [line(campaign_price=600, campaign_name="Monday flash sale")]
    q = quote(cart, NOBODY, rules(), [percent("TEN", 1000)])
    assert q.coupons[0] == CouponResult(
        "TEN", False, 0, "does not stack on campaign prices at this shop"
    )
    assert q.total == 600
    allowed = quote(cart, NOBODY, rules(coupon_on_campaign_price=True), [percent("TEN", 1000)])
    assert (allowed.coupons[0].discount, allowed.total) == (60, 540)


def test_campaign_lines_are_left_out_of_a_mixed_cart() -> None:
    cart = [line("a", campaign_price=600), line("b", 2000, product=PEAR)]
    q = quote(cart, NOBODY, rules(), [percent("TEN", 1000)])
    assert q.coupons[0].why == "10 % off 20.00 CNY: -2.00 CNY (campaign prices excluded)"
    assert [p.coupon_discount for p in q.lines] == [0, 200]


def test_level_prices_take_coupons_unless_the_shop_says_no() -> None:
    cart = [line(level_price=800)]
    assert quote(cart, GOLD, rules(), [percent("TEN", 1000)]).coupon_discount == 80
    q = quote(cart, GOLD, rules(coupon_on_level_price=False), [percent("TEN", 1000)])
    assert q.coupons[0].why == "does not stack on level prices at this shop"
    silver = MemberInput(level_name="Silver", discount_bps=500)
    q = quote([line()], silver, rules(coupon_on_level_price=False), [percent("TEN", 1000)])
    assert (q.coupon_discount, q.lines[0].source) == (0, "level_discount")


def test_coupons_do_not_combine_by_default() -> None:
    q = quote([line(quantity=10)], NOBODY, rules(), [percent("TEN", 1000), amount("FIVE", 500)])
    assert q.coupons == (
        CouponResult("TEN", True, 1000, "10 % off 100.00 CNY: -10.00 CNY"),
        CouponResult("FIVE", False, 0, "coupons do not combine at this shop"),
    )
    assert q.total == 9000


def test_the_first_applicable_coupon_wins() -> None:
    coupons = [amount("PEARS", 300, product_ids=frozenset({PEAR})), amount("FIVE", 500)]
    q = quote([line(quantity=10)], NOBODY, rules(), coupons)
    assert [(c.code, c.applied, c.discount) for c in q.coupons] == [
        ("PEARS", False, 0),
        ("FIVE", True, 500),
    ]


def test_combined_coupons_apply_to_what_remains() -> None:
    q = quote(
        [line(quantity=10)],
        NOBODY,
        rules(coupons_combine=True),
        [percent("TEN", 1000), percent("TEN2", 1000), amount("FIVE", 500)],
    )
    assert [c.discount for c in q.coupons] == [1000, 900, 500]
    assert q.coupons[1].why == "10 % off 90.00 CNY: -9.00 CNY"
    assert (q.coupon_discount, q.total) == (2400, 7600)


def test_coupon_rounding_half_even_against_half_up() -> None:
    cart = [line(regular=1005)]
    even = quote(cart, NOBODY, rules(rounding="half_even"), [percent("TEN", 1000)])
    up = quote(cart, NOBODY, rules(rounding="half_up"), [percent("TEN", 1000)])
    assert (even.coupon_discount, up.coupon_discount) == (100, 101)


def test_allocation_is_exact_and_independent_of_line_order() -> None:
    ids = [uuid.UUID(int=n) for n in (30, 10, 20)]
    cart = [line(k, 1000, product=p) for k, p in zip("xyz", ids, strict=True)]
    coupon = [amount("TEN", 1000)]
    q = quote(cart, NOBODY, rules(), coupon)
    # 10.00 over three equal lines: the spare fen goes to the smallest product id.
    assert {p.key: p.coupon_discount for p in q.lines} == {"x": 333, "y": 334, "z": 333}
    reversed_q = quote(cart[::-1], NOBODY, rules(), coupon)
    assert {p.key: p.coupon_discount for p in reversed_q.lines} == {"x": 333, "y": 334, "z": 333}


def test_allocation_follows_line_totals() -> None:
    q = quote(
        [line("a", 700), line("b", 200, product=PEAR), line("c", 100, product=uuid.UUID(int=9))],
        NOBODY,
        rules(),
        [amount("ONE", 101)],
    )
    # 70.7 / 20.2 / 10.1 fen: floors 70 + 20 + 10, the spare fen to the largest remainder (0.7).
    assert [p.coupon_discount for p in q.lines] == [71, 20, 10]


def test_floor_cuts_a_coupon_and_says_so() -> None:
    q = quote([line(quantity=4)], NOBODY, rules(total_floor=3000), [amount("TWENTY", 2000)])
    assert q.coupons[0].discount == 1000
    assert q.coupons[0].why == (
        "20.00 CNY off 40.00 CNY: -20.00 CNY, reduced by 10.00 CNY to -10.00 CNY: "
        "the goods total stays at least 30.00 CNY"
    )
    assert [(a.kind, a.amount) for a in q.adjustments] == [("coupon", -2000), ("floor", 1000)]
    assert q.adjustments[1].why == (
        "coupon TWENTY reduced by 10.00 CNY: the goods total stays at least 30.00 CNY"
    )
    assert q.total == 3000


def test_floor_above_the_subtotal_keeps_the_subtotal() -> None:
    q = quote([line()], NOBODY, rules(total_floor=5000), [amount("ONE", 100)])
    assert q.coupons[0] == CouponResult(
        "ONE", False, 0, "the goods total is already at the floor of 10.00 CNY"
    )
    assert q.total == 1000


def test_floor_never_raises_a_price() -> None:
    q = quote([line(level_price=800)], GOLD, rules(total_floor=5000))
    assert q.total == 800
