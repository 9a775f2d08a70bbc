"""Properties of every cart: money adds up, nothing goes negative, line order is irrelevant."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from tribekit.kit.money import minor_digits
from tribekit.pricing import (
    CouponInput,
    LineInput,
    MemberInput,
    PricingRules,
    Quote,
    Tier,
    quote,
)

PRODUCTS = [uuid.UUID(int=n) for n in (1, 2, 3)]
EXAMPLES = settings(max_examples=300, deadline=None)


@dataclass(frozen=True)
class Case:
    lines: list[LineInput]
    member: MemberInput
    rules: PricingRules
    coupons: list[CouponInput]
    points: int

    def quote(self, lines: list[LineInput] | None = None) -> Quote:
        return quote(
            self.lines if lines is None else lines,
            self.member,
            self.rules,
            self.coupons,
            self.points,
        )


def _maybe(values: st.SearchStrategy[int]) -> st.SearchStrategy[int | None]:
    return st.none() | values


@st.composite
def _ladders(draw: st.DrawFn) -> tuple[Tier, ...]:
    steps = sorted(draw(st.sets(st.integers(1, 12), max_size=3)))
    return tuple(Tier(step, draw(st.integers(0, 3000))) for step in steps)


@st.composite
def _lines(draw: st.DrawFn) -> list[LineInput]:
    keys = draw(st.lists(st.text("abcdef", min_size=1, max_size=2), max_size=6, unique=True))
    return [
        LineInput(
            key=key,
            product_id=draw(st.sampled_from(PRODUCTS)),
            name=f"item {key}",
            kind=draw(st.sampled_from(["goods", "event"])),
            quantity=draw(st.integers(1, 12)),
            regular_price=draw(st.integers(0, 5000)),
            level_price=draw(_maybe(st.integers(0, 6000))),
            ladder=draw(_ladders()),
            campaign_price=draw(_maybe(st.integers(0, 6000))),
            campaign_name=draw(st.none() | st.just("flash sale")),
        )
        for key in keys
    ]


@st.composite
def _coupon(draw: st.DrawFn) -> CouponInput:
    products = draw(st.none() | st.frozensets(st.sampled_from(PRODUCTS)))
    min_subtotal = draw(st.just(0) | st.integers(0, 20_000))
    if draw(st.booleans()):
        return CouponInput(
            draw(st.sampled_from("ABCD")),
            "percent",
            draw(st.integers(0, 10_000)),
            min_subtotal,
            products,
            draw(_maybe(st.integers(0, 5000))),
        )
    return CouponInput(
        draw(st.sampled_from("ABCD")),
        "amount",
        draw(st.integers(0, 20_000)),
        min_subtotal,
        products,
    )


_members = st.builds(
    MemberInput,
    level_name=st.none() | st.just("Gold"),
    discount_bps=st.integers(0, 10_000),
    event_discount_bps=st.integers(0, 10_000),
    points_multiplier_bps=st.integers(0, 30_000),
    points_balance=st.integers(0, 20_000),
    free_shipping=st.booleans(),
)

_rules = st.builds(
    PricingRules,
    currency=st.sampled_from(["CNY", "JPY", "KWD"]),
    rounding=st.sampled_from(["half_even", "half_up"]),
    coupon_on_campaign_price=st.booleans(),
    coupon_on_level_price=st.booleans(),
    coupons_combine=st.booleans(),
    points_per_currency_unit_redeemed=st.integers(1, 1000),
    points_cap_bps=st.integers(0, 10_000),
    total_floor=st.just(0) | st.integers(0, 20_000),
    points_per_unit_earned=st.integers(0, 10),
    points_rounding=st.sampled_from(["floor", "half_up", "half_even"]),
    promotion_bps=st.integers(0, 30_000),
    shipping_fee=st.integers(0, 2000),
)

cases = st.builds(
    Case,
    lines=_lines(),
    member=_members,
    rules=_rules,
    coupons=st.lists(_coupon(), max_size=3, unique_by=lambda c: c.code),
    points=st.integers(0, 30_000),
)


@EXAMPLES
@given(case=cases)
def test_totals_are_never_negative_nor_above_the_undiscounted_sum(case: Case) -> None:
    q = case.quote()
    assert q.total >= 0
    assert all(line.total >= 0 for line in q.lines)
    assert min(q.coupon_discount, q.points_discount, q.points_redeemed, q.shipping) >= 0
    assert q.subtotal <= q.undiscounted_subtotal
    assert q.total <= q.undiscounted_subtotal + q.shipping
    assert q.total == q.subtotal - q.coupon_discount - q.points_discount + q.shipping
    assert q.undiscounted_subtotal + sum(a.amount for a in q.adjustments) == q.total


@EXAMPLES
@given(case=cases)
def test_line_totals_sum_to_the_goods_total(case: Case) -> None:
    q = case.quote()
    assert sum(line.total for line in q.lines) == q.subtotal - q.coupon_discount - q.points_discount
    assert sum(line.coupon_discount for line in q.lines) == q.coupon_discount
    assert sum(line.points_discount for line in q.lines) == q.points_discount
    for line in q.lines:
        assert line.total == line.base_total - line.coupon_discount - line.points_discount
        assert min(line.coupon_discount, line.points_discount) >= 0


@EXAMPLES
@given(case=cases)
def test_base_price_is_the_best_offer_and_never_above_regular(case: Case) -> None:
    q = case.quote()
    quantity = {p: sum(ln.quantity for ln in case.lines if ln.product_id == p) for p in PRODUCTS}
    for given_line, line in zip(case.lines, q.lines, strict=True):
        assert line.unit_price <= given_line.regular_price
        assert (line.source == "regular") == (line.unit_price == given_line.regular_price)
        for offer in (given_line.level_price, given_line.campaign_price):
            assert offer is None or line.unit_price <= offer
        reached = [t for t in given_line.ladder if t.min_quantity <= quantity[line.product_id]]
        if reached:
            assert line.unit_price <= reached[-1].unit_price


@EXAMPLES
@given(case=cases, data=st.data())
def test_quote_is_the_same_whatever_the_line_order(case: Case, data: st.DataObject) -> None:
    q = case.quote()
    shuffled = case.quote(data.draw(st.permutations(case.lines)))
    for field in ("subtotal", "coupon_discount", "points_redeemed", "points_discount", "total"):
        assert getattr(shuffled, field) == getattr(q, field)
    assert (shuffled.coupons, shuffled.points_to_earn) == (q.coupons, q.points_to_earn)
    assert {line.key: line for line in shuffled.lines} == {line.key: line for line in q.lines}
    assert sorted(shuffled.why) == sorted(q.why)


@EXAMPLES
@given(case=cases)
def test_points_stay_within_balance_request_cap_and_floor(case: Case) -> None:
    q = case.quote()
    rules = case.rules
    goods = q.subtotal - q.coupon_discount
    assert q.points_redeemed <= min(case.points, case.member.points_balance)
    assert q.points_discount <= goods * rules.points_cap_bps // 10_000
    assert q.points_discount <= max(0, goods - min(rules.total_floor, q.subtotal))
    # The points pay the discount, and one point fewer would not.
    minor = 10 ** minor_digits(rules.currency)
    per_unit = rules.points_per_currency_unit_redeemed
    assert q.points_redeemed * minor >= q.points_discount * per_unit
    if q.points_redeemed:
        assert (q.points_redeemed - 1) * minor < q.points_discount * per_unit


@EXAMPLES
@given(case=cases)
def test_coupons_stay_within_their_eligible_subtotal_and_the_floor(case: Case) -> None:
    q = case.quote()
    rules = case.rules

    def stacks(source: str) -> bool:
        if source == "campaign":
            return rules.coupon_on_campaign_price
        if source in ("level_price", "level_discount"):
            return rules.coupon_on_level_price
        return True

    eligible_any = 0
    for line in q.lines:
        covering = [
            c for c in case.coupons if c.product_ids is None or line.product_id in c.product_ids
        ]
        if covering and stacks(line.source):
            eligible_any += line.base_total
        else:
            assert line.coupon_discount == 0
    assert q.coupon_discount <= eligible_any
    for coupon, result in zip(case.coupons, q.coupons, strict=True):
        eligible = sum(
            line.base_total
            for line in q.lines
            if stacks(line.source)
            and (coupon.product_ids is None or line.product_id in coupon.product_ids)
        )
        assert result.code == coupon.code
        assert 0 <= result.discount <= eligible
        assert result.applied == (result.discount > 0)
        if coupon.kind == "amount":
            assert result.discount <= coupon.value
        elif coupon.max_discount is not None:
            assert result.discount <= coupon.max_discount
    assert sum(r.discount for r in q.coupons) == q.coupon_discount
    assert sum(r.applied for r in q.coupons) <= (len(q.coupons) if rules.coupons_combine else 1)
    assert q.subtotal - q.coupon_discount >= min(rules.total_floor, q.subtotal)
