"""Plain text: accepted as it is when it is valid UTF-8 without NULs and is not markup."""

from __future__ import annotations

from reportline.cleaning.errors import FileRefused, RefusalReason
from reportline.cleaning.model import CleanedFile

# Markup a browser or viewer would run or render; refused rather than stored as "text".
_MARKUP_STARTS = ("<!doctype", "<html", "<svg", "<?xml", "<script", "<head", "<body", "<iframe")
_ALLOWED_CONTROLS = frozenset("\t\n\r\f\v")


def clean_text(data: bytes) -> CleanedFile:
    """Accept UTF-8 text; nothing in plain text is metadata, so the bytes are kept.

    Raises FileRefused(TYPE_NOT_ALLOWED) for other encodings, binary data or markup.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise FileRefused(RefusalReason.TYPE_NOT_ALLOWED) from None
    if any(ch < " " and ch not in _ALLOWED_CONTROLS for ch in text) or "\x7f" in text:
        raise FileRefused(RefusalReason.TYPE_NOT_ALLOWED)
    opening = text[:512].lstrip("\ufeff \t\r\n").lower()
    if opening.startswith(_MARKUP_STARTS):
        raise FileRefused(RefusalReason.TYPE_NOT_ALLOWED)
    return CleanedFile(
        data=data,
        media_type="text/plain; charset=utf-8",
        kind="text",
        extension=".txt",
        removed=(),
    )
