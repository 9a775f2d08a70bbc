"""Base price per line: the lowest offer, explained; ties and rounding are fixed rules."""

from __future__ import annotations

from typing import Any

from tribekit.pricing import MemberInput, Tier, quote

from .carts import LADDER, PEAR, TICKET, line, rules

SILVER = MemberInput(level_name="Silver", discount_bps=500)
GOLD = MemberInput(level_name="Gold")


def test_regular_price_when_nothing_else_applies() -> None:
    q = quote([line(quantity=2)], MemberInput(), rules())
    (priced,) = q.lines
    assert (priced.unit_price, priced.source, priced.base_total) == (1000, "regular", 2000)
    assert priced.why == ("regular price 10.00 CNY",)
    assert q.adjustments == ()
    assert q.why == (
        "Apple: regular price 10.00 CNY",
        "earns 20 points on 20.00 CNY (1 per whole CNY)",
    )


def test_silver_five_percent_off_ten_is_nine_fifty() -> None:
    q = quote([line(quantity=2)], SILVER, rules())
    (priced,) = q.lines
    assert (priced.unit_price, priced.source) == (950, "level_discount")
    assert (priced.undiscounted_total, priced.base_total, q.total) == (2000, 1900, 1900)
    assert priced.why == ("Silver level: 5 % off 10.00 CNY -> 9.50 CNY",)
    (adjustment,) = q.adjustments
    assert (adjustment.kind, adjustment.amount, adjustment.line_key) == ("base_price", -100, "a")
    assert adjustment.why == "Apple: Silver level: 5 % off 10.00 CNY -> 9.50 CNY"


def test_gold_level_price_eight_on_a_ten_product() -> None:
    q = quote([line(level_price=800)], GOLD, rules())
    (priced,) = q.lines
    assert (priced.unit_price, priced.source, q.total) == (800, "level_price", 800)
    assert priced.why == ("Gold level price 8.00 CNY instead of 10.00 CNY",)


def test_ladder_counts_two_lines_of_one_product_together() -> None:
    lines = [line("a", quantity=3, ladder=LADDER), line("b", quantity=3, ladder=LADDER)]
    q = quote(lines, MemberInput(), rules())
    assert [(p.unit_price, p.source) for p in q.lines] == [(900, "quantity_ladder")] * 2
    assert q.lines[0].why == ("quantity ladder 5+: 9.00 CNY each (6 of this product in the cart)",)
    assert (q.undiscounted_subtotal, q.subtotal, q.total) == (6000, 5400, 5400)


def test_ladder_steps() -> None:
    def unit(quantity: int) -> int:
        return (
            quote([line(quantity=quantity, ladder=LADDER)], MemberInput(), rules())
            .lines[0]
            .unit_price
        )

    assert [unit(n) for n in (1, 4, 5, 9, 10, 50)] == [1000, 1000, 900, 900, 800, 800]
    # Another product's quantity does not count.
    q = quote(
        [line("a", quantity=3, ladder=LADDER), line("b", quantity=3, product=PEAR)],
        MemberInput(),
        rules(),
    )
    assert q.lines[0].unit_price == 1000
    # A ladder whose first step is not reached does nothing.
    q = quote([line(quantity=3, ladder=(Tier(5, 900),))], MemberInput(), rules())
    assert (q.lines[0].unit_price, q.lines[0].source) == (1000, "regular")


def test_campaign_six_beats_gold_level_price_eight() -> None:
    q = quote(
        [line(level_price=800, campaign_price=600, campaign_name="Monday flash sale")],
        GOLD,
        rules(),
    )
    (priced,) = q.lines
    assert (priced.unit_price, priced.source) == (600, "campaign")
    assert priced.why == (
        "campaign Monday flash sale: 6.00 CNY (also offered: Gold level price 8.00 CNY)",
    )


def test_lowest_offer_wins_whatever_its_kind() -> None:
    q = quote(
        [line(quantity=10, level_price=850, campaign_price=900, ladder=LADDER)], SILVER, rules()
    )
    assert (q.lines[0].unit_price, q.lines[0].source) == (800, "quantity_ladder")


def test_ties_prefer_campaign_then_level_price_then_ladder_then_level_discount() -> None:
    def source(**offers: Any) -> str:
        return quote([line(quantity=5, **offers)], SILVER, rules()).lines[0].source

    ladder_950 = (Tier(5, 950),)
    assert source(campaign_price=950, level_price=950, ladder=ladder_950) == "campaign"
    assert source(level_price=950, ladder=ladder_950) == "level_price"
    assert source(ladder=ladder_950) == "quantity_ladder"  # Silver's 5 % off is also 9.50
    assert source() == "level_discount"


def test_an_offer_that_saves_nothing_is_not_used() -> None:
    q = quote([line(level_price=1200, campaign_price=1000)], GOLD, rules())
    (priced,) = q.lines
    assert (priced.unit_price, priced.source) == (1000, "regular")
    assert priced.why == (
        "regular price 10.00 CNY (also offered: Gold level price 12.00 CNY; "
        "campaign price: 10.00 CNY)",
    )


def test_event_tickets_take_the_event_discount() -> None:
    member = MemberInput(level_name="Silver", discount_bps=500, event_discount_bps=2000)
    q = quote(
        [line("g"), line("t", 5000, product=TICKET, name="Workshop", kind="event")],
        member,
        rules(),
    )
    assert [p.unit_price for p in q.lines] == [950, 4000]
    assert q.lines[1].why == ("Silver level: 20 % off 50.00 CNY -> 40.00 CNY",)


def test_level_discount_rounding_half_even_against_half_up() -> None:
    # 5 % of 10.50 is 0.525: half_even keeps 0.52 off, half_up takes 0.53 off.
    even = quote([line(regular=1050)], SILVER, rules(rounding="half_even"))
    up = quote([line(regular=1050)], SILVER, rules(rounding="half_up"))
    assert (even.lines[0].unit_price, up.lines[0].unit_price) == (998, 997)
    # 5 % of 10.70 is 0.535: both round to 0.54.
    even = quote([line(regular=1070)], SILVER, rules(rounding="half_even"))
    up = quote([line(regular=1070)], SILVER, rules(rounding="half_up"))
    assert (even.lines[0].unit_price, up.lines[0].unit_price) == (1016, 1016)


def test_a_discount_without_a_level_name_still_reads_well() -> None:
    q = quote([line(level_price=900)], MemberInput(discount_bps=250), rules())
    assert q.lines[0].why == (
        "level price 9.00 CNY instead of 10.00 CNY (also offered: member 2.5 % off: 9.75 CNY)",
    )
