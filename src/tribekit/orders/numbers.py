"""Order numbers people can read out: the shop's date and 10 characters of the order id's
random part (50 bits: a clash is practically impossible, and the unique constraint would stop
it). Pure, so that orders written in bulk (a flash sale's reservation stream) are numbered
exactly as checkout numbers them."""

from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def order_number(order_id: uuid.UUID, timezone: str, at: datetime) -> str:
    """The number of the order ``order_id`` placed at ``at`` in a shop of ``timezone``."""
    day = at.astimezone(ZoneInfo(timezone)).strftime("%y%m%d")
    bits = order_id.int & ((1 << 50) - 1)
    code = "".join(_CROCKFORD[(bits >> shift) & 31] for shift in range(45, -1, -5))
    return f"{day}-{code[:5]}-{code[5:]}"
