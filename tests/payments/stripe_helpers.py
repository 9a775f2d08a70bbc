"""Build webhook requests the way Stripe signs them (independently of the ``stripe`` package).

Stripe documents the ``Stripe-Signature`` header as ``t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<raw body>" keyed with the endpoint's signing secret>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from tribekit.kit import clock


def stripe_signature(body: bytes, secret: str, timestamp: int) -> str:
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def signed_webhook(
    event: dict[str, Any], secret: str, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """The raw body and headers of a webhook POST that carries ``event``, signed with ``secret``.

    ``timestamp`` defaults to now on the Tribekit clock (so a frozen clock signs "now" too).
    """
    at = int(clock.now().timestamp()) if timestamp is None else timestamp
    body = json.dumps(event, separators=(",", ":")).encode()
    return body, {
        "Content-Type": "application/json",
        "Stripe-Signature": stripe_signature(body, secret, at),
    }
