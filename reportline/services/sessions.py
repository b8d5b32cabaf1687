"""Server-side sessions whose secrets live only in the visitor's cookie.

A token is 32 random bytes of id and 32 of key. The row stores SHA-256(id)
and a blob sealed under the key, so neither the database nor the cookie alone
reveals what the session holds, and deleting the row ends the session for good.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

from reportline.crypto import aead
from reportline.crypto.context import context
from reportline.crypto.errors import DecryptionError
from reportline.services.errors import SessionExpired

TOKEN_PART_BYTES = 32


@dataclass(frozen=True, repr=False)
class SessionToken:
    """The cookie half of a session. repr hides it."""

    session_id: bytes
    key: bytes

    def __repr__(self) -> str:
        return "SessionToken(<secret>)"

    @property
    def id_hash(self) -> bytes:
        """What the database stores to find the session."""
        return hashlib.sha256(self.session_id).digest()

    def encode(self) -> str:
        """The cookie value."""
        return base64.urlsafe_b64encode(self.session_id + self.key).decode("ascii")


def new_token() -> SessionToken:
    """A fresh random session token."""
    return SessionToken(
        secrets.token_bytes(TOKEN_PART_BYTES), secrets.token_bytes(TOKEN_PART_BYTES)
    )


def decode_token(value: str | None) -> SessionToken:
    """Parse a cookie value; raise SessionExpired if it is missing or malformed."""
    if not value or len(value) > 200:
        raise SessionExpired("no session")
    try:
        raw = base64.urlsafe_b64decode(value.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise SessionExpired("malformed session") from exc
    if len(raw) != 2 * TOKEN_PART_BYTES:
        raise SessionExpired("malformed session")
    return SessionToken(raw[:TOKEN_PART_BYTES], raw[TOKEN_PART_BYTES:])


def seal_payload(token: SessionToken, purpose: str, payload: dict[str, Any]) -> bytes:
    """Encrypt a session's contents under the cookie's key, bound to the session id."""
    return aead.encrypt(
        token.key,
        json.dumps(payload, separators=(",", ":")).encode("utf-8"),
        context(purpose, sid=token.id_hash.hex()),
    )


def open_payload(token: SessionToken, purpose: str, sealed: bytes) -> dict[str, Any]:
    """Decrypt a session's contents; raise SessionExpired if the key does not fit."""
    try:
        data = aead.decrypt(token.key, sealed, context(purpose, sid=token.id_hash.hex()))
    except DecryptionError as exc:
        raise SessionExpired("session does not open") from exc
    payload: dict[str, Any] = json.loads(data)
    return payload


def b64(data: bytes) -> str:
    """Bytes as base64 text for a JSON payload."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    """Inverse of `b64`."""
    return base64.b64decode(text.encode("ascii"))
