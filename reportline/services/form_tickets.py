"""The one-time value every report form carries (its "ticket").

A ticket is 16 random bytes and the moment the form was first fetched, signed
(`reportline.crypto.tokens`) with a key derived from the instance's `secret_key`:

    v1.<nonce, base64url>.<issued, base36 Unix seconds>.<tag>

It lives only in the form the browser holds; the server keeps nothing until
the report is stored, and then only a keyed hash of the nonce (`SpentForm`).
The issue time lets the server refuse a form sent too soon after it was
fetched (a script) or too long after (24 hours by default, then the form is
shown again with a fresh ticket and everything typed kept). A re-displayed
form keeps its ticket, so the minimum time counts from the first fetch.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from reportline.crypto import tokens
from reportline.crypto.kdf import hkdf

NONCE_BYTES = 16
_SHAPE = re.compile(r"v1\.[A-Za-z0-9_-]{22}\.[0-9a-z]{1,8}\.[A-Za-z0-9_-]{22}")


@dataclass(frozen=True, repr=False)
class FormTicket:
    """A checked ticket: its nonce (secret) and when its form was first fetched."""

    nonce: bytes
    issued_at: datetime
    text: str

    def __repr__(self) -> str:
        return "FormTicket(<secret>)"

    def age(self, now: datetime) -> timedelta:
        """How long ago the form was first fetched."""
        return now - self.issued_at

    def receipt_key(self) -> bytes:
        """The key the receipt of this form's report is kept under for a few minutes."""
        return hkdf(self.nonce, "form-ticket:receipt")


def _epoch(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp())


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
        if not number:
            return text


def issue(key: bytes, now: datetime) -> str:
    """A fresh ticket for a form fetched `now`."""
    return tokens.sign(
        key, f"v1.{tokens.b64(secrets.token_bytes(NONCE_BYTES))}.{_base36(_epoch(now))}"
    )


def read(key: bytes, text: str | None) -> FormTicket | None:
    """The ticket in `text`, or None if it is missing, malformed or not one we made."""
    if not text or len(text) > 80 or _SHAPE.fullmatch(text) is None:
        return None
    body = tokens.verify(key, text)
    if body is None:
        return None
    _version, nonce_text, issued_text = body.split(".")
    nonce = tokens.unb64(nonce_text)
    if len(nonce) != NONCE_BYTES:
        return None
    issued = datetime.fromtimestamp(int(issued_text, 36), UTC).replace(tzinfo=None)
    return FormTicket(nonce=nonce, issued_at=issued, text=text)
