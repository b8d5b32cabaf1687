"""Checks on public keys whose forgery would hand a database writer future secrets.

A writer who could plant a unit public key would have new reports sealed to
their key: the unit key's fingerprint is pinned in the instance config at
`init` (a file database access does not let anyone change) and every
submission checks it. One who could swap an officer's public key would be
given the unit key at the next grant: officer keys carry an HMAC under the
instance integrity key (derived from the pepper in the instance config), and
supervisors can compare the key fingerprint the officer reads from their own
account page (computed from the key their password unlocked) before granting.
One-time links are found by a token hash keyed the same way and carry a MAC,
so a link planted in the database does not work.
"""

from __future__ import annotations

import hashlib
import hmac

from reportline.crypto.context import context
from reportline.crypto.errors import DecryptionError
from reportline.crypto.keys import PublicKey
from reportline.models import Officer, UnitKey
from reportline.services.errors import SetupError


def _mac(key: bytes, header: bytes, public_key: bytes) -> bytes:
    return hmac.new(key, header + hashlib.sha256(public_key).digest(), "sha256").digest()


def officer_key_mac(key: bytes, officer_id: int, public_key: bytes) -> bytes:
    """The MAC over an officer's id and public key."""
    return _mac(key, context("officer-key-row", officer=officer_id), public_key)


def officer_role_mac(key: bytes, officer_id: int, role: str, epoch: int | None = None) -> bytes:
    """The MAC over an officer's id, role and access epoch (None: the form before epochs,
    read once by `reportline db upgrade`)."""
    owner: dict[str, object] = {"officer": officer_id, "role": role}
    if epoch is not None:
        owner["epoch"] = epoch
    return hmac.new(key, context("officer-role-row", **owner), "sha256").digest()


def officer_state_mac(key: bytes, officer_id: int, active: bool, epoch: int) -> bytes:
    """The MAC over an officer's id, whether they are active, and their access epoch."""
    header = context("officer-state-row", officer=officer_id, active=int(active), epoch=epoch)
    return hmac.new(key, header, "sha256").digest()


def key_grant_mac(
    key: bytes, kind: str, officer_id: int, key_id: int, epoch: int, sealed: bytes
) -> bytes:
    """The MAC over a grant of a `kind` key ("unit_key" or "exclusion_key") generation to
    an officer, bound to their access epoch."""
    purpose = f"{kind.replace('_', '-')}-grant-row"
    return _mac(key, context(purpose, officer=officer_id, epoch=epoch, **{kind: key_id}), sealed)


def reseal_waiting_mac(key: bytes, case_id: int, officer_id: int, epoch: int) -> bytes:
    """The MAC over a re-seal waiting row: a case that an officer read before a password
    reset, bound to their access epoch after it. A row planted in the database, or one
    kept from before a revoke or a role change, does not hold."""
    header = context("reseal-waiting-row", case=case_id, officer=officer_id, epoch=epoch)
    return hmac.new(key, header, "sha256").digest()


def unit_key_grant_mac(
    key: bytes, officer_id: int, unit_key_id: int, epoch: int, sealed: bytes
) -> bytes:
    """The MAC over a unit key grant to an officer, bound to their access epoch."""
    return key_grant_mac(key, "unit_key", officer_id, unit_key_id, epoch, sealed)


def check_unit_key(pinned_fingerprint: str | None, unit_key: UnitKey) -> None:
    """Raise DecryptionError unless the unit key is the one pinned in the instance config."""
    if pinned_fingerprint is None:
        raise SetupError("no unit key is pinned in the instance config (run `reportline init`)")
    check_pinned_key(pinned_fingerprint, unit_key.public_key, "the unit key")


def check_pinned_key(pinned_fingerprint: str, public_key: bytes, what: str) -> None:
    """Raise DecryptionError unless the public key's own fingerprint (computed here, never
    the one stored beside it) is the pinned one."""
    if not hmac.compare_digest(PublicKey(public_key).fingerprint, pinned_fingerprint):
        raise DecryptionError(f"{what} does not match the fingerprint pinned in the config")


def check_officer_key(key: bytes, officer: Officer) -> None:
    """Raise DecryptionError unless the officer's public key is the one they created."""
    if (
        officer.public_key is None
        or officer.key_mac is None
        or not hmac.compare_digest(
            officer.key_mac, officer_key_mac(key, officer.id, officer.public_key)
        )
    ):
        raise DecryptionError("an officer's public key failed its integrity check")


def link_token_hash(key: bytes, token: str) -> bytes:
    """What the database stores to find a one-time link by its token."""
    return hmac.new(key, b"reportline:v1:link-token:" + token.encode("ascii"), "sha256").digest()


def link_mac(key: bytes, token_hash: bytes, officer_id: int, purpose: str, expires: str) -> bytes:
    """The MAC binding a one-time link to its officer, purpose and expiry."""
    header = context("link-row", officer=officer_id, kind=purpose, expires=expires)
    return hmac.new(key, header + token_hash, "sha256").digest()
