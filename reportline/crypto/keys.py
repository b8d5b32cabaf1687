"""Hybrid post-quantum key pairs and HPKE sealing (format K1).

A key pair is ML-KEM-768 + X25519 as used by HPKE's `KEM.MLKEM768_X25519`.

    private key bytes = 0x01 || ML-KEM-768 seed (64) || X25519 private (32)  = 97 bytes
    public key bytes  = 0x01 || ML-KEM-768 public (1184) || X25519 public (32) = 1217 bytes
    K1 (sealed)       = 0x01 || HPKE single-shot ciphertext (enc 1120 || ct || tag 16)

HPKE runs in base mode with HKDF-SHA256 and AES-256-GCM; the caller's context
is the HPKE `info`, so a sealed key opens only for the owner it was sealed for.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from functools import cached_property

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

from reportline.crypto.errors import CiphertextFormatError, DecryptionError
from reportline.crypto.kdf import hkdf

KEY_VERSION = 0x01
SEAL_VERSION = 0x01
MLKEM_SEED_BYTES = 64
X25519_BYTES = 32
MLKEM_PUBLIC_BYTES = 1184
PRIVATE_KEY_BYTES = 1 + MLKEM_SEED_BYTES + X25519_BYTES
PUBLIC_KEY_BYTES = 1 + MLKEM_PUBLIC_BYTES + X25519_BYTES
SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
ENC_BYTES = hpke.KEM.MLKEM768_X25519.enc_length()
SEAL_OVERHEAD = 1 + ENC_BYTES + 16


@dataclass(frozen=True)
class PublicKey:
    """The public half of a hybrid key pair."""

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != PUBLIC_KEY_BYTES or self.raw[0] != KEY_VERSION:
            raise CiphertextFormatError("not a ReportLine public key")

    @property
    def fingerprint(self) -> str:
        """A short, stable name for the key: 16 hex digits of its SHA-256."""
        return hashlib.sha256(self.raw).hexdigest()[:16]

    def _hpke(self) -> hpke.MLKEM768X25519PublicKey:
        return self._hpke_key

    # Built once per key object: a queue page seals or opens fifty times with one key.
    @cached_property
    def _hpke_key(self) -> hpke.MLKEM768X25519PublicKey:
        kem_part = self.raw[1 : 1 + MLKEM_PUBLIC_BYTES]
        x_part = self.raw[1 + MLKEM_PUBLIC_BYTES :]
        return hpke.MLKEM768X25519PublicKey(
            mlkem.MLKEM768PublicKey.from_public_bytes(kem_part),
            x25519.X25519PublicKey.from_public_bytes(x_part),
        )


@dataclass(frozen=True, repr=False)
class PrivateKey:
    """The private half of a hybrid key pair. Its repr never shows the key."""

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != PRIVATE_KEY_BYTES or self.raw[0] != KEY_VERSION:
            raise CiphertextFormatError("not a ReportLine private key")

    def __repr__(self) -> str:
        return "PrivateKey(<secret>)"

    def _parts(self) -> tuple[mlkem.MLKEM768PrivateKey, x25519.X25519PrivateKey]:
        return (
            mlkem.MLKEM768PrivateKey.from_seed_bytes(self.raw[1 : 1 + MLKEM_SEED_BYTES]),
            x25519.X25519PrivateKey.from_private_bytes(self.raw[1 + MLKEM_SEED_BYTES :]),
        )

    def _hpke(self) -> hpke.MLKEM768X25519PrivateKey:
        return self._hpke_key

    # Built once per key object (it lives no longer than the request that unlocked
    # it): expanding the ML-KEM seed is most of the cost of opening a sealed key.
    @cached_property
    def _hpke_key(self) -> hpke.MLKEM768X25519PrivateKey:
        return hpke.MLKEM768X25519PrivateKey(*self._parts())

    def public_key(self) -> PublicKey:
        """Compute the matching public key."""
        kem_key, x_key = self._parts()
        return PublicKey(
            bytes([KEY_VERSION])
            + kem_key.public_key().public_bytes_raw()
            + x_key.public_key().public_bytes_raw()
        )


def generate_private_key() -> PrivateKey:
    """A fresh random hybrid private key."""
    return private_key_from_seed(secrets.token_bytes(32))


def private_key_from_seed(seed: bytes) -> PrivateKey:
    """Derive a hybrid private key deterministically from a secret seed (>= 32 bytes)."""
    if len(seed) < 32:
        raise ValueError("a key seed must be at least 32 bytes")
    return PrivateKey(
        bytes([KEY_VERSION])
        + hkdf(seed, "keypair:mlkem768", MLKEM_SEED_BYTES)
        + hkdf(seed, "keypair:x25519", X25519_BYTES)
    )


def seal(plaintext: bytes, recipient: PublicKey, context: bytes) -> bytes:
    """HPKE-seal `plaintext` (a key, normally) to `recipient`, bound to `context`."""
    return bytes([SEAL_VERSION]) + SUITE.encrypt(plaintext, recipient._hpke(), info=context)


def open_sealed(sealed: bytes, private_key: PrivateKey, context: bytes) -> bytes:
    """Open a K1 ciphertext; raise DecryptionError if it was altered or is not ours."""
    if len(sealed) < SEAL_OVERHEAD:
        raise CiphertextFormatError("sealed key is truncated")
    if sealed[0] != SEAL_VERSION:
        raise CiphertextFormatError(f"unknown sealed-key version {sealed[0]}")
    try:
        return SUITE.decrypt(sealed[1:], private_key._hpke(), info=context)
    except (InvalidTag, ValueError) as exc:
        raise DecryptionError("sealed key failed to open: altered, moved or wrong key") from exc
