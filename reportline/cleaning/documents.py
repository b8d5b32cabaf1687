"""Zip-based documents: told apart by their members, then cleaned by their own cleaner."""

from __future__ import annotations

from reportline.cleaning.archive import open_archive, read_member
from reportline.cleaning.errors import FileRefused, RefusalReason
from reportline.cleaning.model import CleanedFile, CleaningLimits
from reportline.cleaning.odf import ODF_TYPES, clean_odf
from reportline.cleaning.office import clean_ooxml


def clean_zip_document(data: bytes, limits: CleaningLimits, depth: int = 0) -> CleanedFile:
    """Clean an Office Open XML or OpenDocument document; any other zip (plain archives,
    e-books, Java or Android packages) is refused.

    Raises FileRefused (TYPE_NOT_ALLOWED, MACRO_DOCUMENT, DECOMPRESSION_BOMB, UNREADABLE, ...).
    """
    with open_archive(data, limits) as archive:
        names = set(archive.namelist())
        if "[Content_Types].xml" in names:
            member = archive.getinfo("[Content_Types].xml")
            content_types = read_member(archive, member, [limits.max_unzipped_bytes], limits)
            return clean_ooxml(archive, content_types, limits, depth)
        if "mimetype" in names:
            member = archive.getinfo("mimetype")
            mimetype = read_member(archive, member, [1024], limits).decode("ascii", "replace")
            if mimetype.strip() in ODF_TYPES:
                return clean_odf(archive, mimetype.strip(), limits)
        raise FileRefused(RefusalReason.TYPE_NOT_ALLOWED)
