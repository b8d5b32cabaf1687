"""Key derivation: HKDF-SHA256 for high-entropy inputs, Argon2id for passwords."""

from __future__ import annotations

from dataclasses import dataclass

from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

HKDF_SALT = b"reportline:v1:hkdf"


def hkdf(secret: bytes, info: str, length: int = 32) -> bytes:
    """Derive `length` bytes from a high-entropy `secret` for the purpose named by `info`."""
    return HKDF(
        algorithm=hashes.SHA256(), length=length, salt=HKDF_SALT, info=info.encode("ascii")
    ).derive(secret)


@dataclass(frozen=True)
class Argon2Cost:
    """Argon2id parameters, stored beside every password-wrapped key."""

    time_cost: int
    memory_cost_kib: int
    parallelism: int


def argon2id(password: str, salt: bytes, cost: Argon2Cost) -> bytes:
    """Stretch a password into 32 bytes of key material."""
    return hash_secret_raw(
        secret=password.encode("utf-8"),
        salt=salt,
        time_cost=cost.time_cost,
        memory_cost=cost.memory_cost_kib,
        parallelism=cost.parallelism,
        hash_len=32,
        type=Type.ID,
    )
