"""Plain text: accepted as it is when it is valid UTF-8 without NULs and is not markup."""

from __future__ import annotations

import codecs
import re

from reportline.cleaning.errors import FileRefused, RefusalReason
from reportline.cleaning.model import CleanedFile

# Markup a browser or viewer would run or render; refused rather than stored as "text".
_MARKUP_STARTS = ("<!doctype", "<html", "<svg", "<?xml", "<script", "<head", "<body", "<iframe")
# Control characters other than tab, line feed, vertical tab, form feed and carriage return.
_CONTROL = re.compile(rb"[\x00-\x08\x0e-\x1f\x7f]")
_CHUNK = 1024 * 1024


def clean_text(data: bytes) -> CleanedFile:
    """Accept UTF-8 text; nothing in plain text is metadata, so the bytes are kept.

    Raises FileRefused(TYPE_NOT_ALLOWED) for other encodings, binary data or markup.
    """
    if _CONTROL.search(data) or not _is_utf8(data):
        raise FileRefused(RefusalReason.TYPE_NOT_ALLOWED)
    opening = data[:512].decode("utf-8", "ignore").lstrip("\ufeff \t\r\n").lower()
    if opening.startswith(_MARKUP_STARTS):
        raise FileRefused(RefusalReason.TYPE_NOT_ALLOWED)
    return CleanedFile(
        data=data,
        media_type="text/plain; charset=utf-8",
        kind="text",
        extension=".txt",
        removed=(),
    )


def _is_utf8(data: bytes) -> bool:
    """Whether the bytes are valid UTF-8, checked in chunks so no large str is built."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    try:
        for start in range(0, len(view), _CHUNK):
            decoder.decode(view[start : start + _CHUNK])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True
