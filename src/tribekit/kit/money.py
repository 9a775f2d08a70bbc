"""Money: integer minor units plus an ISO 4217 currency. Never floats."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Literal

from babel.numbers import format_currency, get_currency_precision, list_currencies

Rounding = Literal["half_even", "half_up"]
#: How points earned on an amount are rounded to whole points.
PointsRounding = Literal["floor", "half_up", "half_even"]
_ROUNDING = {"half_even": ROUND_HALF_EVEN, "half_up": ROUND_HALF_UP}
_KNOWN_CURRENCIES: frozenset[str] = frozenset(list_currencies())


def check_currency(code: str) -> str:
    code = code.upper()
    if code not in _KNOWN_CURRENCIES:
        raise ValueError(f"unknown currency {code!r}; use an ISO 4217 code such as CNY or EUR")
    return code


def minor_digits(currency: str) -> int:
    return int(get_currency_precision(currency))


@dataclass(frozen=True, slots=True)
class Money:
    amount: int  # minor units (fen for CNY, cents for EUR)
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, int) or isinstance(self.amount, bool):
            raise TypeError("Money.amount is an int of minor units")
        check_currency(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def parse(cls, text: str, currency: str) -> Money:
        """``Money.parse("90.00", "CNY") == Money(9000, "CNY")``. More decimals than the currency
        has is an error rather than a silent rounding."""
        try:
            value = Decimal(text.strip())
        except InvalidOperation as exc:
            raise ValueError(f"{text!r} is not an amount; write it like 90.00") from exc
        scaled = value.scaleb(minor_digits(currency))
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{text!r} has more decimals than {currency} allows")
        return cls(int(scaled), currency)

    def to_decimal(self) -> Decimal:
        return Decimal(self.amount).scaleb(-minor_digits(self.currency))

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def times(self, quantity: int) -> Money:
        return Money(self.amount * quantity, self.currency)

    def apply_bps(self, basis_points: int, rounding: Rounding = "half_up") -> Money:
        """This amount times ``basis_points / 10000``, rounded to a whole minor unit."""
        exact = Decimal(self.amount) * basis_points / 10_000
        return Money(int(exact.quantize(Decimal(1), rounding=_ROUNDING[rounding])), self.currency)

    def format(self, locale: str = "en") -> str:
        return str(format_currency(self.to_decimal(), self.currency, locale=locale))

    def __str__(self) -> str:
        return f"{self.to_decimal()} {self.currency}"
