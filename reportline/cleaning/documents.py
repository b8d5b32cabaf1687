"""Zip-based documents: told apart by their members, then cleaned by their own cleaner."""

from __future__ import annotations

from reportline.cleaning.archive import open_archive, read_member
from reportline.cleaning.errors import FileRefused, RefusalReason
from reportline.cleaning.model import CleanedFile, CleaningLimits
from reportline.cleaning.office import clean_ooxml


def clean_zip_document(data: bytes, limits: CleaningLimits, depth: int = 0) -> CleanedFile:
    """Clean an Office Open XML document; any other zip (plain archives, OpenDocument,
    e-books, Java or Android packages) is refused.

    Raises FileRefused (TYPE_NOT_ALLOWED, MACRO_DOCUMENT, DECOMPRESSION_BOMB, UNREADABLE, ...).
    """
    with open_archive(data, limits) as archive:
        try:
            types_member = archive.getinfo("[Content_Types].xml")
        except KeyError:
            raise FileRefused(RefusalReason.TYPE_NOT_ALLOWED) from None
        content_types = read_member(archive, types_member, [limits.max_unzipped_bytes], limits)
        return clean_ooxml(archive, content_types, limits, depth)
