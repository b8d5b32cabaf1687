"""The one entry point: decide a file's type by content, then clean it in memory."""

from __future__ import annotations

from reportline.cleaning.documents import clean_zip_document
from reportline.cleaning.errors import FileRefused, RefusalReason
from reportline.cleaning.images import clean_image
from reportline.cleaning.media import clean_media
from reportline.cleaning.model import CleanedFile, CleaningLimits
from reportline.cleaning.pdf import clean_pdf
from reportline.cleaning.sniff import Family, sniff
from reportline.cleaning.text import clean_text


def clean_file(data: bytes, limits: CleaningLimits) -> CleanedFile:
    """Return a cleaned copy of an uploaded file, its type decided by its content.

    Raises FileRefused: EMPTY, TOO_LARGE, TYPE_NOT_ALLOWED, LEGACY_OFFICE and the
    reasons of each cleaner (pixels, bombs, macros, damage, no ffmpeg).
    """
    if not data:
        raise FileRefused(RefusalReason.EMPTY)
    if len(data) > limits.max_bytes:
        raise FileRefused(RefusalReason.TOO_LARGE)
    family = sniff(data)
    if family is Family.IMAGE:
        return clean_image(data, limits.max_pixels)
    if family is Family.PDF:
        return clean_pdf(data)
    if family is Family.ZIP:
        return clean_zip_document(data, limits)
    if family is Family.OLE2:
        raise FileRefused(RefusalReason.LEGACY_OFFICE)
    if family is Family.MEDIA:
        return clean_media(data, limits)
    return clean_text(data)
