"""Margin per line and in total: revenue after coupons and points, minus cost."""

from __future__ import annotations

import pytest

from tribekit.pricing import CouponInput, MemberInput, PricingError, margin, quote

from .carts import PEAR, line, rules


def test_a_line_margin_is_its_paid_total_minus_its_cost() -> None:
    q = quote([line("a", 1000, 2, unit_cost=700)], MemberInput(), rules())
    (priced,) = q.lines
    assert priced.unit_cost == 700
    assert priced.margin == margin.Margin(
        revenue=2000,
        cost=1400,
        amount=600,
        bps=3000,
        below_cost=False,
        unknown_lines=0,
        why="margin 6.00 CNY (30 %)",
    )
    assert q.margin == priced.margin


def test_coupons_and_points_come_out_of_the_margin_shipping_does_not_count() -> None:
    coupon = CouponInput("TEN", "amount", 1000)
    member = MemberInput(points_balance=500)
    q = quote(
        [line("a", 1000, 2, unit_cost=700), line("b", 3000, 1, product=PEAR, unit_cost=1000)],
        member,
        rules(shipping_fee=800),
        [coupon],
        points_to_redeem=500,  # 5.00 CNY
    )
    assert q.total == 5000 - 1000 - 500 + 800
    revenues = [p.margin.revenue for p in q.lines if p.margin]
    assert sum(revenues) == 3500  # goods after coupon and points; shipping left out
    assert q.margin is not None
    assert (q.margin.revenue, q.margin.cost, q.margin.amount, q.margin.bps) == (
        3500,
        2400,
        1100,
        3142,
    )


def test_a_total_is_unknown_while_any_cost_is_and_says_how_many() -> None:
    q = quote(
        [
            line("a", 1000, 1, unit_cost=700),
            line("b", 500, 1, product=PEAR),
            line("c", 500, 1, name="Pear 2", unit_cost=None),
        ],
        MemberInput(),
        rules(),
    )
    assert [p.margin.why for p in q.lines if p.margin] == [
        "margin 3.00 CNY (30 %)",
        "margin unknown: no cost price",
        "margin unknown: no cost price",
    ]
    assert q.margin == margin.Margin(
        2000, None, None, None, False, 2, "margin unknown: 2 lines have no cost"
    )


def test_selling_below_cost_is_allowed_and_flagged() -> None:
    gold = MemberInput(level_name="Gold", discount_bps=5000)
    q = quote([line("a", 1000, 3, unit_cost=600)], gold, rules())
    (priced,) = q.lines
    assert priced.total == 1500
    assert priced.margin is not None
    assert (priced.margin.amount, priced.margin.bps, priced.margin.below_cost) == (
        -300,
        -2000,
        True,
    )
    assert priced.margin.why == "below cost: 15.00 CNY for a cost of 18.00 CNY"
    assert margin.price_warnings(500, 600, "level price", "CNY") == [
        "level price 5.00 CNY is below the cost price 6.00 CNY"
    ]
    assert margin.price_warnings(600, 600, "price", "CNY") == []
    assert margin.price_warnings(1, None, "price", "CNY") == []


def test_a_free_line_has_no_margin_rate() -> None:
    q = quote([line("a", 0, 1, unit_cost=0)], MemberInput(), rules())
    assert q.lines[0].margin == margin.Margin(0, 0, 0, None, False, 0, "margin 0.00 CNY")


def test_a_negative_cost_is_refused() -> None:
    with pytest.raises(PricingError, match="line 'a': unit_cost"):
        quote([line("a", unit_cost=-1)], MemberInput(), rules())
