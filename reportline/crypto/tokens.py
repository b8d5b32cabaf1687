"""Signed tokens that a browser carries: `<body>.<HMAC-SHA256(key, body), 16 bytes, base64url>`.

Used for values the server hands out and must recognise later without
storing them: a report form's one-time value, an officer's device cookie.
The body is plain ASCII the caller chooses (dot-separated fields); the tag
stops anyone who lacks the key from making or changing one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

TAG_BYTES = 16


def b64(data: bytes) -> str:
    """URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    """Inverse of `b64`; raise ValueError for text that is not base64url."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError("not base64url") from exc


def _tag(key: bytes, body: str) -> bytes:
    return hmac.new(key, body.encode("ascii"), hashlib.sha256).digest()[:TAG_BYTES]


def sign(key: bytes, body: str) -> str:
    """`body` with its tag appended."""
    return f"{body}.{b64(_tag(key, body))}"


def verify(key: bytes, token: str) -> str | None:
    """The body of a token whose tag is right, or None (malformed, forged, not ASCII)."""
    if not token.isascii() or "." not in token:
        return None
    body, _, tag = token.rpartition(".")
    try:
        valid = hmac.compare_digest(unb64(tag), _tag(key, body))
    except ValueError:
        return None
    return body if valid else None
