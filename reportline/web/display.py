"""Showing text that someone else typed: as typed, but unable to spoof what is around it.

A report or message may hold characters that reorder text (bidirectional
overrides and isolates) or that cannot be seen (zero-width spaces, joiners,
the byte-order mark). Shown raw, U+202E before "txt.exe" makes it read "exe.txt", and an
override could run on into the page's own words. So free text is rendered
inside `<bdi>`, which isolates its direction from the page, and each such
character is replaced by a visible marker naming it.
"""

from __future__ import annotations

import re
import unicodedata

from flask import Flask
from markupsafe import Markup, escape

# Characters that change the order of what follows, or that take no space.
INVISIBLE = {
    "\u00ad": "soft hyphen",
    "\u061c": "Arabic letter mark",
    "\u180e": "Mongolian vowel separator",
    "\u200b": "zero-width space",
    "\u200c": "zero-width non-joiner",
    "\u200d": "zero-width joiner",
    "\u200e": "left-to-right mark",
    "\u200f": "right-to-left mark",
    "\u202a": "left-to-right embedding",
    "\u202b": "right-to-left embedding",
    "\u202c": "pop directional formatting",
    "\u202d": "left-to-right override",
    "\u202e": "right-to-left override",
    "\u2060": "word joiner",
    "\u2061": "invisible function application",
    "\u2062": "invisible times",
    "\u2063": "invisible separator",
    "\u2064": "invisible plus",
    "\u2066": "left-to-right isolate",
    "\u2067": "right-to-left isolate",
    "\u2068": "first strong isolate",
    "\u2069": "pop directional isolate",
    "\ufeff": "zero-width no-break space",
}
ZERO_WIDTH_JOINER = "\u200d"


def _joins_emoji(text: str, index: int) -> bool:
    """Whether a zero-width joiner at `index` sits between two symbols (an emoji sequence
    such as a family), where it is how the emoji is written, not a hidden character."""
    before = text[index - 1] if index > 0 else ""
    after = text[index + 1] if index + 1 < len(text) else ""
    symbol = {"So", "Sk", "Mn"}  # symbols, and the variation selectors that follow them
    return bool(before and after) and {
        unicodedata.category(before),
        unicodedata.category(after),
    } <= symbol


# Letters that draw nothing (Hangul fillers) and a combining mark that joins nothing.
BLANK_LETTERS = {"\u034f", "\u115f", "\u1160", "\u3164", "\uffa0"}


def _hidden_name(char: str) -> str | None:
    """A name for `char` if it reorders text or cannot be seen, else None."""
    if char in INVISIBLE:
        return INVISIBLE[char]
    if unicodedata.category(char) == "Cf" or char in BLANK_LETTERS:
        return unicodedata.name(char, "invisible character").lower()
    return None


_NOT_ASCII = re.compile(r"[^\x00-\x7f]")


def free_text(value: object) -> Markup:
    """Escape `value`, mark each invisible or reordering character, and isolate it all.

    Every character that needs a marker lies outside ASCII, and escaping touches
    only ASCII ones, so the text is escaped whole and only its other characters
    are looked at.
    """
    text = str(escape("" if value is None else value))

    def mark(match: re.Match[str]) -> str:
        char = match.group()
        name = _hidden_name(char)
        if name is None or (char == ZERO_WIDTH_JOINER and _joins_emoji(text, match.start())):
            return char
        code = f"U+{ord(char):04X}"
        return f'<abbr class="hidden-char" title="{name} ({code})">{code}</abbr>'

    # The text was escaped whole above; markers are built from names we hold.
    return Markup(f"<bdi>{_NOT_ASCII.sub(mark, text)}</bdi>")  # noqa: S704  # nosec B704


def register(app: Flask) -> None:
    """Make `free_text` a template filter."""
    app.jinja_env.filters["free_text"] = free_text
