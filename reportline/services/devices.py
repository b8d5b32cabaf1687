"""The browser an officer signed in from before: a signed cookie that earns its own budget.

Anyone who knows an officer's e-mail address can try passwords for it. If
those failures counted against the officer, strangers could keep the officer
out. So a successful sign-in gives the browser a device token, and attempts
that bring a valid token for the account are counted against that device
alone: strangers exhaust the account's stranger budget, the officer's own
browser keeps its own.

    v1.<officer id>.<16 random bytes, base64url>.<tag>

signed (`reportline.crypto.tokens`) with a key derived from `secret_key`. The
token proves only that this browser once signed in to this account; it unlocks
nothing by itself.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from reportline.crypto import tokens

_SHAPE = re.compile(r"v1\.[0-9]{1,12}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{22}")


@dataclass(frozen=True, repr=False)
class DeviceToken:
    """A checked device token: the account it was earned for, and its own name."""

    officer_id: int
    nonce: bytes

    def __repr__(self) -> str:
        return f"DeviceToken(officer={self.officer_id}, <secret>)"

    @property
    def bucket_name(self) -> str:
        """A name for this device's attempt budget (the nonce itself is never stored)."""
        return hashlib.sha256(b"reportline:v1:device:" + self.nonce).hexdigest()[:24]


def issue(key: bytes, officer_id: int) -> str:
    """A new device token for a browser that just signed in to `officer_id`."""
    return tokens.sign(key, f"v1.{officer_id}.{tokens.b64(secrets.token_bytes(16))}")


def read(key: bytes, text: str | None) -> DeviceToken | None:
    """The token in a cookie value, or None if it is missing, malformed or forged."""
    if not text or len(text) > 100 or _SHAPE.fullmatch(text) is None:
        return None
    body = tokens.verify(key, text)
    if body is None:
        return None
    _version, officer_id, nonce_text = body.split(".")
    nonce = tokens.unb64(nonce_text)
    return DeviceToken(int(officer_id), nonce) if len(nonce) == 16 else None
