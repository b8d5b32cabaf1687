"""Symmetric AES-256-GCM ciphertexts with length padding (format S1).

    S1 = version (0x01, 1 byte) || nonce (12 bytes) || AES-256-GCM(padded plaintext)

The associated data is the version byte followed by the caller's context.
Plaintext is padded to a size bucket before encryption so that a stored
ciphertext's length reveals only the bucket.
"""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from reportline.crypto.errors import CiphertextFormatError, DecryptionError

VERSION = 0x01
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32
LENGTH_PREFIX_BYTES = 4
BUCKETS = (64, 256, 1024, 4096, 16384, 65536)
LARGE_STEP = 65536
MAX_PLAINTEXT = 64 * 1024 * 1024


def new_key() -> bytes:
    """A fresh random 256-bit key."""
    return secrets.token_bytes(KEY_BYTES)


def padded_size(length: int) -> int:
    """The bucket a plaintext of `length` bytes is padded to (length prefix included)."""
    needed = length + LENGTH_PREFIX_BYTES
    for bucket in BUCKETS:
        if needed <= bucket:
            return bucket
    return -(-needed // LARGE_STEP) * LARGE_STEP


def pad(plaintext: bytes) -> bytes:
    """Prefix the length and fill with zeros to the bucket size."""
    if len(plaintext) > MAX_PLAINTEXT:
        raise ValueError("plaintext too large to seal")
    size = padded_size(len(plaintext))
    body = len(plaintext).to_bytes(LENGTH_PREFIX_BYTES, "big") + plaintext
    return body + bytes(size - len(body))


def unpad(padded: bytes) -> bytes:
    """Undo `pad`; raise CiphertextFormatError if the length prefix is impossible."""
    length = int.from_bytes(padded[:LENGTH_PREFIX_BYTES], "big")
    if length > len(padded) - LENGTH_PREFIX_BYTES:
        raise CiphertextFormatError("padded plaintext has an impossible length")
    return padded[LENGTH_PREFIX_BYTES : LENGTH_PREFIX_BYTES + length]


def encrypt(key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    """Encrypt `plaintext` under `key` (32 bytes), bound to `associated_data`."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    header = bytes([VERSION])
    sealed = AESGCM(key).encrypt(nonce, pad(plaintext), header + associated_data)
    return header + nonce + sealed


def decrypt(key: bytes, ciphertext: bytes, associated_data: bytes) -> bytes:
    """Open an S1 ciphertext; raise DecryptionError if anything about it is wrong."""
    if len(ciphertext) < 1 + NONCE_BYTES + TAG_BYTES + LENGTH_PREFIX_BYTES:
        raise CiphertextFormatError("ciphertext is truncated")
    if ciphertext[0] != VERSION:
        raise CiphertextFormatError(f"unknown ciphertext version {ciphertext[0]}")
    nonce = ciphertext[1 : 1 + NONCE_BYTES]
    try:
        padded = AESGCM(key).decrypt(
            nonce, ciphertext[1 + NONCE_BYTES :], ciphertext[:1] + associated_data
        )
    except InvalidTag as exc:
        raise DecryptionError(
            "ciphertext failed authentication: altered, moved or wrong key"
        ) from exc
    return unpad(padded)
