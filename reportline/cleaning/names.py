"""The file name shown to officers and sent in Content-Disposition."""

from __future__ import annotations

import unicodedata

MAX_NAME_CHARS = 120


def safe_display_name(declared: str, extension: str) -> str:
    """A harmless name: the declared name's last path part, without control, format
    (bidi override) or leading-dot characters, its extension replaced by ``extension``
    (decided by content), at most 120 characters; ``"file" + extension`` when nothing is left.
    """
    base = declared.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] not in {"C", "Z"} or ch == " ")
    base = unicodedata.normalize("NFC", base).lstrip(". ").strip()
    stem, dot, _ = base.rpartition(".")
    stem = (stem if dot else base).rstrip(" .")
    room = MAX_NAME_CHARS - len(extension)
    stem = stem[:room].rstrip(" .")
    return (stem or "file") + extension
