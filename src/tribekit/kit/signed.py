"""Signed tokens: ``<prefix><base64url(json)>.<base64url(hmac-sha256)>``.

The key is the server's secret key under a ``purpose`` (``member-access``, ``flash-token``,
``coupon-claim``...), so that a token made for one purpose is never taken for another. What the
JSON holds (ids, an expiry) is the caller's to write and to check.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret_key: str, purpose: str, payload: str) -> str:
    mac = hmac.new(f"{purpose}:{secret_key}".encode(), payload.encode(), hashlib.sha256)
    return _b64(mac.digest())


def seal(secret_key: str, purpose: str, prefix: str, body: dict[str, Any]) -> str:
    """``body`` as a token of ``purpose``, starting with ``prefix``."""
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    return f"{prefix}{payload}.{_signature(secret_key, purpose, payload)}"


def opened(secret_key: str, purpose: str, prefix: str, token: str) -> dict[str, Any] | None:
    """The body of a token of ``purpose`` whose signature holds; None for anything else (another
    prefix, a wrong shape or signature, a body that is not a JSON object)."""
    if not token.startswith(prefix) or token.count(".") != 1:
        return None
    payload, signature = token[len(prefix) :].split(".")
    if not hmac.compare_digest(signature, _signature(secret_key, purpose, payload)):
        return None
    try:
        body = json.loads(_unb64(payload))
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
