"""Reporter receipts: ten words from the EFF large word list (129 bits).

From a receipt we derive, with HKDF (the receipt is high-entropy, so no slow KDF
is needed):

* a lookup token, which the server stores only as HMAC-SHA256(pepper, token);
* the reporter's key pair, whose public half is stored so officers can seal
  messages that only the receipt holder can read.
"""

from __future__ import annotations

import difflib
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from reportline.crypto.kdf import hkdf
from reportline.crypto.keys import PrivateKey, private_key_from_seed

WORD_COUNT = 10
_SEPARATORS = re.compile(r"[\s\-_.,;:/]+")


@cache
def wordlist() -> tuple[str, ...]:
    """The receipt word list, in order (loaded once)."""
    text = resources.files("reportline").joinpath("wordlists/eff_large.txt").read_text("utf-8")
    words = tuple(line.strip() for line in text.splitlines() if line and not line.startswith("#"))
    if len(words) != len(set(words)) or len(words) < 7000:
        raise RuntimeError("receipt word list is damaged")
    return words


@cache
def _word_set() -> frozenset[str]:
    return frozenset(wordlist())


def entropy_bits() -> float:
    """Bits of randomness in one receipt."""
    import math

    return WORD_COUNT * math.log2(len(wordlist()))


@dataclass(frozen=True, repr=False)
class Receipt:
    """A well-formed receipt: ten words from the list. Never logged: repr hides it."""

    words: tuple[str, ...]

    def __repr__(self) -> str:
        return "Receipt(<secret>)"

    @property
    def text(self) -> str:
        """The receipt as a person writes it: words separated by single spaces."""
        return " ".join(self.words)

    def _secret(self) -> bytes:
        return self.text.encode("ascii")

    def lookup_hmac(self, pepper: bytes) -> bytes:
        """What the database stores to find a report by this receipt."""
        token = hkdf(self._secret(), "receipt:lookup")
        return hmac.new(pepper, token, hashlib.sha256).digest()

    def reporter_private_key(self) -> PrivateKey:
        """The reporter's private key; only the receipt holder can compute it."""
        return private_key_from_seed(hkdf(self._secret(), "receipt:reporter-key"))


def generate_receipt() -> Receipt:
    """A new random receipt."""
    words = wordlist()
    return Receipt(tuple(secrets.choice(words) for _ in range(WORD_COUNT)))


@dataclass(frozen=True)
class ReceiptProblem:
    """Why typed text is not a well-formed receipt, in terms a reporter can act on."""

    kind: str  # "empty", "count", "unknown_word"
    count: int = 0
    position: int = 0
    word: str = ""
    suggestions: tuple[str, ...] = field(default_factory=tuple)


class MalformedReceipt(ValueError):
    """Typed text is not ten words from the list; `.problem` says what is wrong."""

    def __init__(self, problem: ReceiptProblem) -> None:
        super().__init__(problem.kind)
        self.problem = problem


def parse_receipt(typed: str) -> Receipt:
    """Read a receipt as typed, forgiving case, spaces, hyphens and line breaks.

    Raises MalformedReceipt naming the first word not on the list (with the
    closest words as suggestions) or saying how many words were found.
    """
    words = tuple(w for w in _SEPARATORS.split(typed.strip().lower()) if w)
    if not words:
        raise MalformedReceipt(ReceiptProblem("empty"))
    known = _word_set()
    for position, word in enumerate(words, start=1):
        if word not in known:
            suggestions = tuple(difflib.get_close_matches(word, wordlist(), n=3, cutoff=0.75))
            raise MalformedReceipt(
                ReceiptProblem(
                    "unknown_word", position=position, word=word[:40], suggestions=suggestions
                )
            )
    if len(words) != WORD_COUNT:
        raise MalformedReceipt(ReceiptProblem("count", count=len(words)))
    return Receipt(words)
