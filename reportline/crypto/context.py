"""Associated data that binds a ciphertext to what it belongs to."""

from __future__ import annotations

PREFIX = b"reportline:v1:"


def context(purpose: str, **owner: object) -> bytes:
    """Encode a purpose and its owner (ids, field names) as associated data.

    Keys are sorted so the same owner always encodes the same way, e.g.
    ``context("case-body", case=42)`` -> ``b"reportline:v1:case-body|case=42"``.
    Values must not contain ``|`` or ``=`` so that no two owners encode alike.
    """
    parts = [purpose]
    for key in sorted(owner):
        value = str(owner[key])
        if "|" in value or "=" in value or "|" in key or "=" in key:
            raise ValueError(f"context value for {key!r} contains a separator")
        parts.append(f"{key}={value}")
    return PREFIX + "|".join(parts).encode("utf-8")
