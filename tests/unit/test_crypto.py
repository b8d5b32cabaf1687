"""The ciphertext formats: round trips for any input, and any tampering detected."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reportline.crypto import aead
from reportline.crypto.context import context
from reportline.crypto.envelope import Recipient, open_envelope, seal_envelope
from reportline.crypto.errors import CiphertextFormatError, DecryptionError
from reportline.crypto.kdf import Argon2Cost
from reportline.crypto.keys import (
    PRIVATE_KEY_BYTES,
    PUBLIC_KEY_BYTES,
    PrivateKey,
    PublicKey,
    generate_private_key,
    open_sealed,
    private_key_from_seed,
    seal,
)
from reportline.crypto.password import (
    derive_password_key,
    new_params,
    read_params,
    unwrap_private_key,
    wrap_private_key,
)

FAST = Argon2Cost(1, 1024, 1)
ALICE = generate_private_key()
BOB = generate_private_key()
CTX = context("case-report", case=42)


@given(st.binary(max_size=70_000), st.binary(max_size=64))
@settings(max_examples=60, deadline=None)
def test_symmetric_ciphertexts_round_trip_any_plaintext(plaintext: bytes, extra: bytes) -> None:
    key = aead.new_key()
    assert aead.decrypt(key, aead.encrypt(key, plaintext, CTX + extra), CTX + extra) == plaintext


@given(st.binary(max_size=5000))
@settings(max_examples=40, deadline=None)
def test_ciphertext_length_reveals_only_the_size_bucket(plaintext: bytes) -> None:
    ciphertext = aead.encrypt(aead.new_key(), plaintext, CTX)
    overhead = 1 + aead.NONCE_BYTES + aead.TAG_BYTES
    assert len(ciphertext) - overhead in aead.BUCKETS


def test_every_flipped_byte_of_a_symmetric_ciphertext_is_detected() -> None:
    key = aead.new_key()
    ciphertext = aead.encrypt(key, b"the sergeant took the money", CTX)
    for index in range(len(ciphertext)):
        damaged = bytearray(ciphertext)
        damaged[index] ^= 0x01
        with pytest.raises(DecryptionError):
            aead.decrypt(key, bytes(damaged), CTX)


def test_a_ciphertext_moved_to_another_owner_does_not_open() -> None:
    key = aead.new_key()
    ciphertext = aead.encrypt(key, b"report of case 42", context("case-report", case=42))
    with pytest.raises(DecryptionError, match="altered, moved or wrong key"):
        aead.decrypt(key, ciphertext, context("case-report", case=43))


def test_the_wrong_key_is_detected_with_a_clear_exception() -> None:
    ciphertext = aead.encrypt(aead.new_key(), b"secret", CTX)
    with pytest.raises(DecryptionError, match="failed authentication"):
        aead.decrypt(aead.new_key(), ciphertext, CTX)


def test_truncated_or_unknown_version_ciphertexts_are_format_errors() -> None:
    ciphertext = aead.encrypt(aead.new_key(), b"secret", CTX)
    with pytest.raises(CiphertextFormatError):
        aead.decrypt(aead.new_key(), ciphertext[:10], CTX)
    with pytest.raises(CiphertextFormatError, match="version"):
        aead.decrypt(aead.new_key(), b"\x02" + ciphertext[1:], CTX)


def test_context_encoding_is_canonical_and_refuses_separators() -> None:
    assert context("x", b=2, a=1) == context("x", a=1, b=2) == b"reportline:v1:x|a=1|b=2"
    with pytest.raises(ValueError):
        context("x", a="1|b=2")


@given(st.binary(min_size=32, max_size=64))
@settings(max_examples=10, deadline=None)
def test_keys_derived_from_the_same_seed_are_the_same(seed: bytes) -> None:
    one, two = private_key_from_seed(seed), private_key_from_seed(seed)
    assert one.raw == two.raw and len(one.raw) == PRIVATE_KEY_BYTES
    assert one.public_key().raw == two.public_key().raw
    assert len(one.public_key().raw) == PUBLIC_KEY_BYTES


def test_private_keys_never_show_in_their_repr() -> None:
    assert ALICE.raw.hex() not in repr(ALICE) and "secret" in repr(ALICE)


@given(st.binary(max_size=200))
@settings(max_examples=15, deadline=None)
def test_sealed_keys_open_only_for_their_recipient_and_context(plaintext: bytes) -> None:
    sealed = seal(plaintext, ALICE.public_key(), CTX)
    assert open_sealed(sealed, ALICE, CTX) == plaintext
    with pytest.raises(DecryptionError):
        open_sealed(sealed, BOB, CTX)
    with pytest.raises(DecryptionError):
        open_sealed(sealed, ALICE, context("case-report", case=43))


def test_every_flipped_byte_of_a_sealed_key_is_detected() -> None:
    sealed = seal(b"k" * 32, ALICE.public_key(), CTX)
    for index in range(0, len(sealed), 7):
        damaged = bytearray(sealed)
        damaged[index] ^= 0x80
        with pytest.raises(DecryptionError):
            open_sealed(bytes(damaged), ALICE, CTX)


@given(st.binary(max_size=3000))
@settings(max_examples=15, deadline=None)
def test_envelopes_open_for_each_recipient(plaintext: bytes) -> None:
    envelope = seal_envelope(
        plaintext, {Recipient.CASE: ALICE.public_key(), Recipient.REPORTER: BOB.public_key()}, CTX
    )
    assert open_envelope(envelope, Recipient.CASE, ALICE, CTX) == plaintext
    assert open_envelope(envelope, Recipient.REPORTER, BOB, CTX) == plaintext


def test_an_envelope_does_not_open_as_the_wrong_recipient_or_owner() -> None:
    envelope = seal_envelope(b"hello", {Recipient.CASE: ALICE.public_key()}, CTX)
    with pytest.raises(CiphertextFormatError, match="not sealed for this recipient"):
        open_envelope(envelope, Recipient.REPORTER, ALICE, CTX)
    with pytest.raises(DecryptionError):
        open_envelope(envelope, Recipient.CASE, BOB, CTX)
    with pytest.raises(DecryptionError):
        open_envelope(envelope, Recipient.CASE, ALICE, context("message", case=42, seq=2))


def test_a_flipped_byte_anywhere_in_an_envelope_is_detected_even_in_another_readers_slot() -> None:
    envelope = seal_envelope(
        b"question for the reporter",
        {Recipient.CASE: ALICE.public_key(), Recipient.REPORTER: BOB.public_key()},
        CTX,
    )
    for index in [*list(range(0, len(envelope), 13)), len(envelope) - 1]:
        damaged = bytearray(envelope)
        damaged[index] ^= 0x04
        with pytest.raises(DecryptionError):
            open_envelope(bytes(damaged), Recipient.CASE, ALICE, CTX)


def test_password_wrapped_keys_open_only_with_the_password_and_owner() -> None:
    params = new_params(FAST)
    wrapped = wrap_private_key(
        ALICE, params, derive_password_key("correct horse", params), context("k", officer=1)
    )
    assert read_params(wrapped).cost == FAST
    opened = unwrap_private_key(
        wrapped, derive_password_key("correct horse", read_params(wrapped)), context("k", officer=1)
    )
    assert opened.raw == ALICE.raw
    with pytest.raises(DecryptionError):
        unwrap_private_key(
            wrapped,
            derive_password_key("wrong horse", read_params(wrapped)),
            context("k", officer=1),
        )
    with pytest.raises(DecryptionError):
        unwrap_private_key(
            wrapped,
            derive_password_key("correct horse", read_params(wrapped)),
            context("k", officer=2),
        )


def test_malformed_keys_are_refused() -> None:
    with pytest.raises(CiphertextFormatError):
        PublicKey(b"\x01" * 10)
    with pytest.raises(CiphertextFormatError):
        PrivateKey(b"\x02" + ALICE.raw[1:])


def test_a_stored_key_with_absurd_argon2_costs_is_refused_before_any_work() -> None:
    import struct

    params = new_params(FAST)
    wrapped = wrap_private_key(ALICE, params, derive_password_key("pw", params), b"c")
    inflated = wrapped[:17] + struct.pack(">I", 10**6) + wrapped[21:]
    with pytest.raises(CiphertextFormatError, match="out-of-range"):
        read_params(inflated)


def test_an_envelope_whose_slots_hold_different_keys_is_refused() -> None:
    """Key commitment: a writer cannot show one reader one text and another reader another."""
    from reportline.crypto.envelope import COMMIT_BYTES, SEALED_KEY_BYTES, _slot_info

    envelope = seal_envelope(
        b"the same words for both",
        {Recipient.CASE: ALICE.public_key(), Recipient.REPORTER: BOB.public_key()},
        CTX,
    )
    # Replace the reporter's slot with a different content key sealed to the reporter.
    other_key = aead.new_key()
    start = 2 + (1 + SEALED_KEY_BYTES) + 1
    forged = (
        envelope[:start]
        + seal(other_key, BOB.public_key(), _slot_info(CTX, int(Recipient.REPORTER)))
        + envelope[start + SEALED_KEY_BYTES :]
    )
    assert len(forged) == len(envelope)
    with pytest.raises(DecryptionError, match="commitment"):
        open_envelope(forged, Recipient.REPORTER, BOB, CTX)
    assert COMMIT_BYTES == 32
