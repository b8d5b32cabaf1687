"""Private keys wrapped under an officer's password (format P1).

    P1 = 0x01 || salt (16) || time_cost (u32) || memory_kib (u32) || parallelism (u8)
         || S1 ciphertext of the private key under HKDF(Argon2id(password, salt), "password:wrap")

A wrong password is detected by the AES-GCM tag; there is no separate
password hash to steal or to crack offline faster than the wrapped key.
"""

from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass

from reportline.crypto import aead
from reportline.crypto.errors import CiphertextFormatError, DecryptionError
from reportline.crypto.kdf import Argon2Cost, argon2id, hkdf
from reportline.crypto.keys import PrivateKey

VERSION = 0x01
SALT_BYTES = 16
_HEADER = struct.Struct(">B16sIIB")
MAX_TIME_COST = 20
MAX_MEMORY_KIB = 4 * 1024 * 1024
MAX_PARALLELISM = 16


@dataclass(frozen=True)
class WrapParams:
    """The public parameters at the front of a P1 blob."""

    salt: bytes
    cost: Argon2Cost


@dataclass(frozen=True, repr=False)
class PasswordKey:
    """The key an officer's password stretches to. Its repr never shows it."""

    key: bytes

    def __repr__(self) -> str:
        return "PasswordKey(<secret>)"


def new_params(cost: Argon2Cost) -> WrapParams:
    """Parameters for a new wrapping: a fresh random salt and the configured cost."""
    return WrapParams(salt=secrets.token_bytes(SALT_BYTES), cost=cost)


def derive_password_key(password: str, params: WrapParams) -> PasswordKey:
    """Run Argon2id once (the expensive step of a login)."""
    return PasswordKey(hkdf(argon2id(password, params.salt, params.cost), "password:wrap"))


def read_params(wrapped: bytes) -> WrapParams:
    """Read the salt and cost from a P1 blob without needing the password."""
    if len(wrapped) < _HEADER.size or wrapped[0] != VERSION:
        raise CiphertextFormatError("not a password-wrapped key")
    _, salt, time_cost, memory, parallelism = _HEADER.unpack_from(wrapped)
    if not (
        1 <= time_cost <= MAX_TIME_COST
        and 8 <= memory <= MAX_MEMORY_KIB
        and 1 <= parallelism <= MAX_PARALLELISM
    ):
        # A stored blob must not make a sign-in burn minutes of CPU or gigabytes of memory.
        raise CiphertextFormatError("password-wrapped key has out-of-range Argon2 costs")
    return WrapParams(salt=salt, cost=Argon2Cost(time_cost, memory, parallelism))


def wrap_private_key(
    private_key: PrivateKey, params: WrapParams, key: PasswordKey, context: bytes
) -> bytes:
    """Encrypt a private key under a password-derived key, bound to `context`."""
    header = _HEADER.pack(
        VERSION,
        params.salt,
        params.cost.time_cost,
        params.cost.memory_cost_kib,
        params.cost.parallelism,
    )
    return header + aead.encrypt(key.key, private_key.raw, header + context)


def unwrap_private_key(wrapped: bytes, key: PasswordKey, context: bytes) -> PrivateKey:
    """Decrypt a P1 blob; raise DecryptionError for a wrong password or an altered blob."""
    read_params(wrapped)
    header = wrapped[: _HEADER.size]
    raw = aead.decrypt(key.key, wrapped[_HEADER.size :], header + context)
    try:
        return PrivateKey(raw)
    except CiphertextFormatError as exc:  # authentic but not a key: treat as corrupt
        raise DecryptionError("wrapped blob holds no valid private key") from exc
