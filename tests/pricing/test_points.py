"""Points: paying with them after coupons (balance, request, cap, floor) and earning them."""

from __future__ import annotations

from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from tribekit.membership import rules as membership_rules
from tribekit.pricing import CouponInput, MemberInput, PointsRounding, points_for_amount, quote

from .carts import PEAR, line, rules

RICH = MemberInput(points_balance=100_000)


def test_points_pay_after_coupons() -> None:
    q = quote(
        [line(quantity=2)],
        RICH,
        rules(),
        [CouponInput("TEN", "percent", 1000)],
        points_to_redeem=300,
    )
    assert (q.subtotal, q.coupon_discount, q.points_redeemed, q.points_discount) == (
        2000,
        200,
        300,
        300,
    )
    assert q.total == 1500
    assert "300 points redeemed: -3.00 CNY" in q.why
    assert q.adjustments[-1].kind == "points"
    assert (q.adjustments[-1].amount, q.adjustments[-1].why) == (
        -300,
        "300 points redeemed: -3.00 CNY",
    )


def test_points_cap_is_a_share_of_the_goods_total() -> None:
    q = quote([line(quantity=2)], RICH, rules(), points_to_redeem=5000)
    assert (q.points_redeemed, q.points_discount, q.total) == (1000, 1000, 1000)
    assert "1,000 points redeemed: -10.00 CNY (cap: 50 % of 20.00 CNY)" in q.why
    # The cap rounds down to a whole fen: 50 % of 0.03 is 0.01.
    q = quote([line(regular=3)], RICH, rules(), points_to_redeem=5000)
    assert (q.points_redeemed, q.points_discount) == (1, 1)


def test_points_never_exceed_the_balance() -> None:
    member = MemberInput(points_balance=1200)
    q = quote([line(quantity=10)], member, rules(), points_to_redeem=5000)
    assert (q.points_redeemed, q.points_discount) == (1200, 1200)
    assert "1,200 points redeemed: -12.00 CNY (asked 5,000 points; balance 1,200)" in q.why


def test_no_points_without_a_balance() -> None:
    q = quote([line()], MemberInput(), rules(), points_to_redeem=500)
    assert (q.points_redeemed, q.points_discount, q.total) == (0, 0, 1000)
    assert "no points redeemed (asked 500 points; balance 0)" in q.why
    assert all(a.kind != "points" for a in q.adjustments)


def test_points_respect_the_floor() -> None:
    q = quote([line(quantity=2)], RICH, rules(total_floor=1800), points_to_redeem=1000)
    assert (q.points_redeemed, q.points_discount, q.total) == (200, 200, 1800)
    assert (
        "200 points redeemed: -2.00 CNY (floor: the goods total stays at least 18.00 CNY)" in q.why
    )


def test_points_pay_whole_minor_units_with_the_fewest_points() -> None:
    # 150 points per 1.00 CNY: 100 points are worth 0.666 CNY -> 0.66 CNY, which 99 points pay.
    q = quote([line()], RICH, rules(points_per_currency_unit_redeemed=150), points_to_redeem=100)
    assert (q.points_redeemed, q.points_discount) == (99, 66)
    assert (
        "99 points redeemed: -0.66 CNY (1 point unused: points only pay whole multiples of "
        "0.01 CNY)" in q.why
    )


def test_points_in_a_currency_without_decimals() -> None:
    q = quote([line(regular=1000)], RICH, rules(currency="JPY"), points_to_redeem=250)
    assert (q.points_redeemed, q.points_discount, q.total) == (200, 2, 998)


def test_points_are_shared_over_lines_after_coupons() -> None:
    q = quote(
        [line("a", 3000), line("b", 1000, product=PEAR)],
        RICH,
        rules(),
        [CouponInput("PEARS", "amount", 1000, product_ids=frozenset({PEAR}))],
        points_to_redeem=1000,
    )
    assert [(p.coupon_discount, p.points_discount, p.total) for p in q.lines] == [
        (0, 1000, 2000),
        (1000, 0, 0),
    ]
    assert q.lines[0].why == ("regular price 30.00 CNY", "points: -10.00 CNY")


def test_points_to_earn_doubled_for_gold() -> None:
    gold = MemberInput(level_name="Gold", points_multiplier_bps=20_000)
    q = quote([line(quantity=2)], gold, rules())
    assert q.points_to_earn == 40
    assert q.why[-1] == "earns 40 points on 20.00 CNY (1 per whole CNY, Gold level x2)"
    promoted = quote([line(quantity=2)], gold, rules(promotion_bps=15_000))
    assert promoted.points_to_earn == 60


def test_points_are_earned_on_cash_for_goods_only() -> None:
    member = MemberInput(points_balance=500)
    q = quote([line(quantity=2)], member, rules(shipping_fee=1000), points_to_redeem=500)
    # 20.00 goods - 5.00 paid in points = 15.00 cash; shipping earns nothing.
    assert (q.total, q.points_to_earn) == (2500, 15)


def test_points_rounding_once_at_the_end() -> None:
    def earn(rounding: PointsRounding, regular: int) -> int:
        q = quote([line(regular=regular)], MemberInput(), rules(points_rounding=rounding))
        return q.points_to_earn

    assert [earn(r, 1550) for r in ("floor", "half_up", "half_even")] == [15, 16, 16]
    assert [earn(r, 1450) for r in ("floor", "half_up", "half_even")] == [14, 15, 14]
    # 3 x 0.50 CNY at x1.5: 0.75 points a line, 2.25 rounded once -> 2, never 3 x 1.
    member = MemberInput(points_multiplier_bps=15_000)
    q = quote([line(regular=50, quantity=3)], member, rules(points_rounding="half_up"))
    assert q.points_to_earn == 2


def test_membership_imports_the_same_function() -> None:
    assert membership_rules.points_for_amount is points_for_amount
    assert points_for_amount(0, 2, points_per_unit=1, rounding="floor") == 0
    assert points_for_amount(-500, 2, points_per_unit=1, rounding="floor") == 0
    assert points_for_amount(1999, 2, points_per_unit=1, rounding="floor") == 19


_DECIMAL_ROUNDING = {"floor": ROUND_FLOOR, "half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN}


def _reference(
    amount: int, digits: int, per_unit: int, rounding: PointsRounding, level: int, promo: int
) -> int:
    """The Decimal formula ``points_for_amount`` had in membership/rules.py before the move."""
    if amount <= 0:
        return 0
    exact = (
        Decimal(amount).scaleb(-digits)
        * per_unit
        * Decimal(level)
        / 10_000
        * Decimal(promo)
        / 10_000
    )
    return int(exact.quantize(Decimal(1), rounding=_DECIMAL_ROUNDING[rounding]))


@settings(max_examples=300)
@given(
    amount=st.integers(-1000, 10**9),
    digits=st.sampled_from([0, 2, 3]),
    per_unit=st.integers(0, 10_000),
    rounding=st.sampled_from(["floor", "half_up", "half_even"]),
    level=st.integers(0, 50_000),
    promo=st.integers(0, 50_000),
)
def test_points_for_amount_behaves_as_before_the_move(
    amount: int, digits: int, per_unit: int, rounding: PointsRounding, level: int, promo: int
) -> None:
    got = points_for_amount(
        amount,
        digits,
        points_per_unit=per_unit,
        rounding=rounding,
        multiplier_bps=level,
        promotion_bps=promo,
    )
    assert got == _reference(amount, digits, per_unit, rounding, level, promo)
