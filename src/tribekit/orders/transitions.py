"""The order's state machine, as data: from each status, the statuses it may move to and the
action that moves it. ``Orders.transition`` refuses (``UndeclaredTransition``, a programming
error) a move that is not declared here; ``docs/orders.md`` shows the same table (a test
compares them)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tribekit.models.enums import OrderStatus

S = OrderStatus

#: status -> {status it may move to: the action that moves it}
TRANSITIONS: Mapping[OrderStatus, Mapping[OrderStatus, str]] = {
    S.PLACED: {S.PAID: "pay", S.CANCELLED: "cancel", S.EXPIRED: "expire"},
    S.PAID: {S.FULFILLED: "fulfil", S.COMPLETED: "complete", S.REFUNDED: "refund"},
    S.FULFILLED: {S.COMPLETED: "complete", S.REFUNDED: "refund"},
    S.COMPLETED: {S.REFUNDED: "refund"},
    # A flash sale's order paid after its reservation closed: its units are taken again if
    # they are there, else the payment is refunded at once (``service/paying.py``).
    S.CANCELLED: {S.PAID: "pay_late"},
    S.EXPIRED: {S.PAID: "pay_late"},
    S.REFUNDED: {},
}

#: Orders whose money has been taken and not wholly given back.
PAID_STATES = (S.PAID, S.FULFILLED, S.COMPLETED)


class UndeclaredTransition(RuntimeError):
    """Code asked for a status change the table does not declare: a bug, not bad input."""


def check(from_states: Iterable[OrderStatus], to: OrderStatus) -> None:
    """Raise ``UndeclaredTransition`` unless every ``from_states`` may move to ``to``."""
    for state in from_states:
        if to not in TRANSITIONS[state]:
            raise UndeclaredTransition(f"an order does not move from {state} to {to}")


def action(from_state: OrderStatus, to: OrderStatus) -> str:
    """The name of the action that moves an order from ``from_state`` to ``to``."""
    check([from_state], to)
    return TRANSITIONS[from_state][to]
