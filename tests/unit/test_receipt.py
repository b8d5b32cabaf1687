"""Receipts: high entropy, forgiving to type, precise about typos, never shown in a repr."""

from __future__ import annotations

import pytest

from reportline.crypto.receipt import (
    WORD_COUNT,
    MalformedReceipt,
    entropy_bits,
    generate_receipt,
    parse_receipt,
    wordlist,
)

PEPPER = b"p" * 32


def test_a_receipt_carries_at_least_128_bits_of_randomness() -> None:
    assert entropy_bits() >= 128
    assert len(generate_receipt().words) == WORD_COUNT
    assert len({generate_receipt().text for _ in range(50)}) == 50


def test_receipts_are_read_forgiving_case_spaces_hyphens_and_line_breaks() -> None:
    receipt = generate_receipt()
    messy = "  " + "-".join(receipt.words[:4]).upper() + "\n" + "  ".join(receipt.words[4:]) + "\n"
    parsed = parse_receipt(messy)
    assert parsed == receipt
    assert parsed.lookup_hmac(PEPPER) == receipt.lookup_hmac(PEPPER)


def test_a_misspelt_word_is_named_with_its_position_and_a_suggestion() -> None:
    receipt = generate_receipt()
    words = list(receipt.words)
    words[3] = "abdomne"  # "abdomen" mistyped
    with pytest.raises(MalformedReceipt) as caught:
        parse_receipt(" ".join(words))
    problem = caught.value.problem
    assert (problem.kind, problem.position, problem.word) == ("unknown_word", 4, "abdomne")
    assert "abdomen" in problem.suggestions


def test_too_few_words_and_empty_input_are_explained() -> None:
    receipt = generate_receipt()
    with pytest.raises(MalformedReceipt) as caught:
        parse_receipt(" ".join(receipt.words[:9]))
    assert (caught.value.problem.kind, caught.value.problem.count) == ("count", 9)
    with pytest.raises(MalformedReceipt) as caught:
        parse_receipt("   \n ")
    assert caught.value.problem.kind == "empty"


def test_different_receipts_give_different_lookups_and_reporter_keys() -> None:
    one, two = generate_receipt(), generate_receipt()
    assert one.lookup_hmac(PEPPER) != two.lookup_hmac(PEPPER)
    assert one.lookup_hmac(PEPPER) != one.lookup_hmac(b"q" * 32)
    assert one.reporter_private_key().raw == parse_receipt(one.text).reporter_private_key().raw
    assert one.reporter_private_key().raw != two.reporter_private_key().raw


def test_a_receipt_never_appears_in_its_repr() -> None:
    receipt = generate_receipt()
    assert all(word not in repr(receipt) for word in receipt.words)


def test_the_word_list_has_no_words_that_break_on_separators() -> None:
    assert all(word.isalpha() and word.islower() for word in wordlist())
    assert len(wordlist()) == 7772
