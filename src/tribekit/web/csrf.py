"""CSRF tokens for the web community's forms: a signed double-submit token tied to the
session.

The token is an HMAC of the caller's session cookie (member or staff) under the server's secret
key. The page puts it in every form and in a cookie; a post must send it in both, equal, and it
must be the one of the session the post comes with. A page on another site can neither read the
cookie nor compute the token, and a token taken from one session is worthless with another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from tribekit.kit.errors import PermissionDenied

COOKIE = "tribekit_csrf"
FIELD = "csrf"


class CsrfRefused(PermissionDenied):
    code = "csrf_refused"
    title = "The form's security token is missing or wrong"


def token(secret_key: str, session_secret: str) -> str:
    mac = hmac.new(f"web-csrf:{secret_key}".encode(), session_secret.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def check(secret_key: str, session_secret: str, sent: str | None, cookie: str | None) -> None:
    expected = token(secret_key, session_secret)
    if not sent or not cookie:
        raise CsrfRefused("the form's security token is missing; reload the page and try again")
    if not (hmac.compare_digest(sent, cookie) and hmac.compare_digest(sent, expected)):
        raise CsrfRefused("the form's security token is not valid; reload the page and try again")
