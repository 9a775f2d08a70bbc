"""Signed tokens: a body comes back only from a token of the same purpose and secret, untouched."""

from __future__ import annotations

from tribekit.kit import signed

SECRET = "a-secret-key-that-is-long-enough"


def test_a_token_opens_only_for_its_purpose_and_secret_untouched() -> None:
    token = signed.seal(SECRET, "member-access", "tkm_", {"m": "shop", "e": 1})
    assert token.startswith("tkm_")
    assert signed.opened(SECRET, "member-access", "tkm_", token) == {"m": "shop", "e": 1}
    assert signed.opened(SECRET, "flash-token", "tkm_", token) is None  # another purpose
    assert signed.opened("another-secret-key-long-enough", "member-access", "tkm_", token) is None
    assert signed.opened(SECRET, "member-access", "tkf_", token) is None  # another prefix
    payload, signature = token.removeprefix("tkm_").split(".")
    assert signed.opened(SECRET, "member-access", "tkm_", f"tkm_{payload}x.{signature}") is None
    assert signed.opened(SECRET, "member-access", "tkm_", "tkm_no-dot") is None
    listed = signed.seal(SECRET, "member-access", "tkm_", {"a": 1}).replace("tkm_", "")
    assert signed.opened(SECRET, "member-access", "", listed) == {"a": 1}
