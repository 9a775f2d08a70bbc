"""Money: integer minor units, exact parsing, rounding in basis points, formatting."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tribekit.kit.money import Money


def test_parse_and_format() -> None:
    assert Money.parse("90.00", "CNY") == Money(9000, "CNY")
    assert Money.parse("85", "CNY") == Money(8500, "CNY")
    assert Money.parse("1000", "JPY") == Money(1000, "JPY")
    assert Money(9000, "CNY").format("zh_CN") == "¥90.00"
    assert Money(7500, "EUR").format("de_DE") == "75,00\xa0€"
    assert str(Money(199, "CNY")) == "1.99 CNY"


def test_parse_refuses_more_decimals_than_the_currency_has() -> None:
    with pytest.raises(ValueError, match="more decimals"):
        Money.parse("1.005", "CNY")
    with pytest.raises(ValueError, match="not an amount"):
        Money.parse("ten", "CNY")


def test_currencies_never_mix_and_are_checked() -> None:
    with pytest.raises(ValueError, match="cannot combine"):
        Money(1, "CNY") + Money(1, "EUR")
    with pytest.raises(ValueError, match="unknown currency"):
        Money(1, "XYZ")
    with pytest.raises(TypeError):
        Money(1.5, "CNY")  # type: ignore[arg-type]  # the wrong type is the point


def test_basis_points_round_half_up_or_to_even() -> None:
    assert Money(1005, "CNY").apply_bps(5000) == Money(503, "CNY")  # 502.5 -> 503
    assert Money(1005, "CNY").apply_bps(5000, "half_even") == Money(502, "CNY")
    assert Money(19900, "CNY").apply_bps(800) == Money(1592, "CNY")  # 8% of 199.00


@given(st.integers(-(10**12), 10**12), st.integers(-(10**12), 10**12))
def test_addition_is_exact(a: int, b: int) -> None:
    assert (Money(a, "CNY") + Money(b, "CNY")).amount == a + b
    assert (Money(a, "CNY") - Money(b, "CNY")).amount == a - b
    assert Money.parse(str(Money(a, "CNY").to_decimal()), "CNY") == Money(a, "CNY")
