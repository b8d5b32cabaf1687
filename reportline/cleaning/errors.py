"""Why a file is refused, as a reason code and a sentence for the reporter."""

from __future__ import annotations

from enum import StrEnum


class RefusalReason(StrEnum):
    """The reason a file was not accepted; the web layer may translate by this code."""

    EMPTY = "empty"
    TYPE_NOT_ALLOWED = "type-not-allowed"
    TOO_LARGE = "too-large"
    TOO_MANY_PIXELS = "too-many-pixels"
    DECOMPRESSION_BOMB = "decompression-bomb"
    MACRO_DOCUMENT = "macro-document"
    LEGACY_OFFICE = "legacy-office"
    MALWARE = "malware"
    UNREADABLE = "unreadable"
    CANNOT_CLEAN = "cannot-clean"


# One English sentence per reason, addressed to the reporter, saying what to do instead.
SENTENCES: dict[RefusalReason, str] = {
    RefusalReason.EMPTY: "The file is empty.",
    RefusalReason.TYPE_NOT_ALLOWED: (
        "This type of file is not accepted. Send pictures (JPEG, PNG, WebP, GIF, HEIC), "
        "PDF, Word, Excel, PowerPoint or OpenDocument files, plain text, audio or video."
    ),
    RefusalReason.TOO_LARGE: "The file is too large.",
    RefusalReason.TOO_MANY_PIXELS: (
        "The picture has too many pixels. Send a smaller version or a screenshot of it."
    ),
    RefusalReason.DECOMPRESSION_BOMB: (
        "The file would become far larger once unpacked, so it cannot be checked safely."
    ),
    RefusalReason.MACRO_DOCUMENT: (
        "Documents with macros are not accepted. Save it as a normal document "
        "(.docx, .xlsx or .pptx) or as a PDF and send that instead."
    ),
    RefusalReason.LEGACY_OFFICE: (
        "Old Office files (.doc, .xls, .ppt) are not accepted. Save it as .docx, .xlsx, "
        ".pptx or as a PDF and send that instead."
    ),
    RefusalReason.MALWARE: "The virus scanner found malicious content in the file.",
    RefusalReason.UNREADABLE: (
        "The file is damaged or protected by a password and cannot be read. "
        "Send an unprotected, complete copy."
    ),
    RefusalReason.CANNOT_CLEAN: (
        "This file cannot be cleaned of identifying details here, so it was not accepted."
    ),
}


class FileRefused(Exception):
    """A file was not accepted; ``reason`` says why and ``str(exc)`` tells the reporter."""

    def __init__(self, reason: RefusalReason, sentence: str | None = None) -> None:
        super().__init__(sentence or SENTENCES[reason])
        self.reason = reason
