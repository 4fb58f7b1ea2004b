"""API tokens, signed session cookies and CSRF tokens.

Tokens are ``goss_`` + 43 url-safe characters (256 bits); the database keeps
only their sha256 (a high-entropy token needs no slow hash) and a short prefix
to find the row; the hash is compared with :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

TOKEN_PREFIX = "goss_"
PREFIX_LEN = 12


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def token_prefix(token: str) -> str:
    return token[:PREFIX_LEN]


def hashes_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _sign(key: bytes, msg: str) -> str:
    return hmac.new(key, msg.encode(), hashlib.sha256).hexdigest()


def make_session(key: bytes, token_id: int, hours: float) -> str:
    """A cookie value ``<token id>.<expiry>.<hmac>`` for a web login."""
    expires = int(time.time() + hours * 3600)
    body = f"{token_id}.{expires}"
    return f"{body}.{_sign(key, 'session:' + body)}"


def read_session(key: bytes, value: str | None) -> int | None:
    """The token id of a valid, unexpired session cookie, else None."""
    if not value:
        return None
    parts = value.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    body = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(parts[2], _sign(key, "session:" + body)):
        return None
    if int(parts[1]) < time.time():
        return None
    return int(parts[0])


def new_csrf_nonce() -> str:
    return secrets.token_urlsafe(18)


def csrf_token(key: bytes, nonce: str) -> str:
    """The hidden-field value for a form, bound to the browser's CSRF cookie nonce."""
    return _sign(key, "csrf:" + nonce)


def csrf_ok(key: bytes, nonce: str | None, submitted: str | None) -> bool:
    if not nonce or not submitted:
        return False
    return hmac.compare_digest(csrf_token(key, nonce), submitted)
