"""Secrets: password hashing (argon2id) and opaque bearer tokens stored only as keyed hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verified against when the user does not exist, so that a login takes as long either way.
_DUMMY_HASH = _hasher.hash("tribekit-no-such-user")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def new_token(kind: str) -> tuple[str, str]:
    """A fresh token ``tk<kind>_<prefix>_<secret>`` and its public prefix (shown in listings)."""
    prefix = secrets.token_hex(4)
    return f"tk{kind}_{prefix}_{secrets.token_urlsafe(32)}", prefix


def token_prefix(token: str) -> str | None:
    parts = token.split("_")
    if len(parts) < 3 or not parts[0].startswith("tk") or len(parts[1]) != 8:
        return None
    return parts[1]


def hash_token(secret_key: str, token: str) -> str:
    """Keyed hash: a copy of the database alone is not enough to check guesses offline."""
    return hmac.new(secret_key.encode(), token.encode(), hashlib.sha256).hexdigest()
