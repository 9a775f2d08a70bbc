"""Every in-transaction subscriber to the order event stream, listed explicitly (like
``sweeps.py``). Orders emits its events without knowing who listens; this composition root,
above the domains, says who does. Nothing registers itself by being imported."""

from __future__ import annotations

from tribekit.campaigns.group_buys import settle as group_buys
from tribekit.membership import subscribers as membership
from tribekit.orders.events import OrderPaid, OrderRefunded, Subscribers


def order_subscribers() -> Subscribers:
    return (
        Subscribers()
        .on(OrderPaid, membership.points_on_payment)
        .on(OrderPaid, membership.plans_on_payment)
        .on(OrderPaid, group_buys.paid)  # the participant is paid with the order
        .on(OrderRefunded, membership.points_on_refund)
        .on(OrderRefunded, membership.plans_on_refund)
    )
