"""Content sealed to one or more public keys (format E1).

    E1 = 0x01 || n (1 byte, 1..8)
         || n x ( recipient tag (1 byte) || K1 sealed content key (fixed length) )
         || commitment (32 bytes) = HMAC-SHA256(content key, "reportline:v1:e1-commit" || context)
         || S1 ciphertext of the padded content under the content key

Each content key is sealed with HPKE info = context || ":to=" || tag, and the
S1 part is bound to context || SHA-256(everything before it), so changing any
byte anywhere — including a recipient slot the reader does not use — fails.
AES-GCM does not commit to its key, so without the commitment one envelope
could hold two content keys that decrypt the same body to different texts for
different readers; every reader checks the commitment against the key they
unsealed, so all readers see the same text.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from enum import IntEnum

from reportline.crypto import aead
from reportline.crypto.errors import CiphertextFormatError, DecryptionError
from reportline.crypto.keys import ENC_BYTES, PrivateKey, PublicKey, open_sealed, seal

VERSION = 0x01
MAX_RECIPIENTS = 8
SEALED_KEY_BYTES = 1 + ENC_BYTES + aead.KEY_BYTES + aead.TAG_BYTES
COMMIT_BYTES = 32
COMMIT_LABEL = b"reportline:v1:e1-commit"


class Recipient(IntEnum):
    """Who a content key is sealed for."""

    CASE = 1
    REPORTER = 2


def _slot_info(context: bytes, tag: int) -> bytes:
    return context + b":to=" + str(tag).encode("ascii")


def _commitment(content_key: bytes, context: bytes) -> bytes:
    return hmac.new(content_key, COMMIT_LABEL + context, hashlib.sha256).digest()


def seal_envelope(
    plaintext: bytes, recipients: Mapping[Recipient, PublicKey], context: bytes
) -> bytes:
    """Encrypt `plaintext` once and seal its key to every recipient."""
    if not 1 <= len(recipients) <= MAX_RECIPIENTS:
        raise ValueError("an envelope needs between 1 and 8 recipients")
    content_key = aead.new_key()
    header = bytearray([VERSION, len(recipients)])
    for tag in sorted(recipients):
        header.append(int(tag))
        header += seal(content_key, recipients[tag], _slot_info(context, int(tag)))
    header += _commitment(content_key, context)
    body_ad = context + hashlib.sha256(header).digest()
    return bytes(header) + aead.encrypt(content_key, plaintext, body_ad)


def open_envelope(
    envelope: bytes, recipient: Recipient, private_key: PrivateKey, context: bytes
) -> bytes:
    """Open an E1 envelope as `recipient`; raise DecryptionError if anything is wrong."""
    if len(envelope) < 2 or envelope[0] != VERSION:
        raise CiphertextFormatError("not an envelope")
    count = envelope[1]
    slots_end = 2 + count * (1 + SEALED_KEY_BYTES)
    header_end = slots_end + COMMIT_BYTES
    if not 1 <= count <= MAX_RECIPIENTS or len(envelope) <= header_end:
        raise CiphertextFormatError("envelope header is malformed")
    sealed_key = None
    for index in range(count):
        start = 2 + index * (1 + SEALED_KEY_BYTES)
        if envelope[start] == int(recipient):
            sealed_key = envelope[start + 1 : start + 1 + SEALED_KEY_BYTES]
    if sealed_key is None:
        raise CiphertextFormatError("envelope is not sealed for this recipient")
    content_key = open_sealed(sealed_key, private_key, _slot_info(context, int(recipient)))
    if not hmac.compare_digest(envelope[slots_end:header_end], _commitment(content_key, context)):
        raise DecryptionError("envelope key does not match its commitment")
    body_ad = context + hashlib.sha256(envelope[:header_end]).digest()
    return aead.decrypt(content_key, envelope[header_end:], body_ad)
