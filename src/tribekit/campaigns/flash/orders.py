"""The rows a won attempt becomes: its ``flash_reservations`` row, its order (pending payment,
one line at the sale price, ``campaign_id`` the sale, expiring with the reservation) and the
order's ``placed`` event. Plain dicts keyed by column name, built without I/O, so that the SQL
engine inserts them in its one statement and the Redis engine's drain inserts (or COPYs) them
in batches: both engines write exactly the same rows.

The order's id is the reservation's id, so a replayed stream entry conflicts on both primary
keys; the order number is made from it as checkout makes every number.

The sale's price is the whole of a flash order's discount: no coupons, no points redeemed, none
earned (``points_to_earn`` 0), store pickup. A flash order's stock is the sale's allotment, not
the product's: its line says so (``price_source`` ``flash_sale``), and closing the order unpaid
gives the units back to the sale (``settle.py``), never to the product's stock.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tribekit.kit.ids import new_id
from tribekit.kit.money import Money
from tribekit.models.enums import Fulfilment, OrderStatus, ProductKind
from tribekit.orders.events import OrderPlaced
from tribekit.orders.numbers import order_number

from .engine import Attempt

#: The ``order_lines.price_source`` of a unit sold by a flash sale.
PRICE_SOURCE = "flash_sale"
RESERVED = "reserved"


def actor_of(member_id: uuid.UUID) -> str:
    return f"member:{member_id}"


@dataclass
class FlashRows:
    """Rows for a batch of won attempts, table by table, in the order they are inserted
    (orders first: the reservations and lines point at them)."""

    orders: list[dict[str, Any]] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)
    reservations: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


def rows_for(attempts: Sequence[Attempt], *, stream_ids: Sequence[str | None] = ()) -> FlashRows:
    """The rows of each won attempt (``stream_ids``: the Redis stream entry of each, if any)."""
    rows = FlashRows()
    for index, attempt in enumerate(attempts):
        stream_id = stream_ids[index] if index < len(stream_ids) else None
        _add(rows, attempt, stream_id)
    return rows


def _add(rows: FlashRows, attempt: Attempt, stream_id: str | None) -> None:
    sale = attempt.sale
    order_id = attempt.reservation_id
    quantity = attempt.quantity
    total = sale.price * quantity
    regular = sale.regular_price * quantity
    actor = actor_of(attempt.member_id)
    expires_at = attempt.expires_at
    saved = Money(max(sale.regular_price - sale.price, 0), sale.currency)
    rows.orders.append(
        {
            "id": order_id,
            "merchant_id": sale.merchant_id,
            "number": order_number(order_id, sale.timezone, attempt.at),
            "member_id": attempt.member_id,
            "status": OrderStatus.PLACED.value,
            "currency": sale.currency,
            "undiscounted_subtotal": regular,
            "subtotal": total,
            "coupon_discount": 0,
            "coupon_codes": [],
            "points_redeemed": 0,
            "points_discount": 0,
            "points_hold_entry_id": None,
            "shipping": 0,
            "total": total,
            "refunded_amount": 0,
            "points_to_earn": 0,
            "why": [f"flash sale {sale.name!r}: {saved} off each unit"],
            "channel": attempt.channel,
            "community_id": attempt.community_id,
            "referral_code": None,
            "referrer_id": None,
            "campaign_id": sale.id,
            "fulfilment": Fulfilment.STORE_PICKUP.value,
            "pickup_point_id": None,
            "address": None,
            "address_key": None,
            "note": None,
            "placed_by": actor,
            "placed_at": attempt.at,
            "expires_at": expires_at,
            "paid_at": None,
            "fulfilled_at": None,
            "completed_at": None,
            "closed_at": None,
            "close_reason": None,
        }
    )
    rows.lines.append(
        {
            "id": new_id(),
            "merchant_id": sale.merchant_id,
            "order_id": order_id,
            "line_no": 1,
            "product_id": sale.product_id,
            "name": sale.product_name,
            "kind": ProductKind.GOODS.value,
            "quantity": quantity,
            "regular_unit_price": sale.regular_price,
            "unit_price": sale.price,
            "price_source": PRICE_SOURCE,
            "base_total": total,
            "coupon_discount": 0,
            "points_discount": 0,
            "total": total,
            "refunded_quantity": 0,
            "refunded_amount": 0,
            "attendance": None,
            "checked_in_at": None,
            "unit_cost": sale.unit_cost,
        }
    )
    rows.reservations.append(
        {
            "id": attempt.reservation_id,
            "merchant_id": sale.merchant_id,
            "sale_id": sale.id,
            "member_id": attempt.member_id,
            "quantity": quantity,
            "unit_price": sale.price,
            "status": RESERVED,
            "order_id": order_id,
            "community_id": attempt.community_id,
            "stream_id": stream_id,
            "reserved_at": attempt.at,
            "expires_at": expires_at,
            "settled_at": None,
        }
    )
    payload = OrderPlaced(member_id=attempt.member_id, total=total)
    rows.events.append(
        {
            "id": new_id(),
            "merchant_id": sale.merchant_id,
            "order_id": order_id,
            "kind": payload.kind,
            "version": payload.version,
            "position": None,
            "amount": payload.amount,
            "data": payload.model_dump(mode="json"),
            "actor": actor,
            "at": attempt.at,
        }
    )
