"""OpenDocument (odt, ods, odp): the zip rewritten in memory without names.

Removed: the metadata (creator, initial creator, dates, editing time and cycles,
generator, template path, user-defined fields; statistics are kept), the
thumbnail, printer names, the authors and dates of tracked changes and comments,
and metadata in embedded JPEG/PNG pictures. Documents with Basic macros or
scripts are refused; password-protected ones cannot be read.
"""

from __future__ import annotations

import io
import zipfile

from reportline.cleaning.archive import iter_members
from reportline.cleaning.errors import FileRefused, RefusalReason
from reportline.cleaning.model import CleanedFile, CleaningLimits
from reportline.cleaning.segments import strip_picture_metadata
from reportline.cleaning.xmlparts import local, parse, serialise

_ODF = "application/vnd.oasis.opendocument."
ODF_TYPES = {
    _ODF + "text": ".odt",
    _ODF + "spreadsheet": ".ods",
    _ODF + "presentation": ".odp",
}
_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_META = "urn:oasis:names:tc:opendocument:xmlns:meta:1.0"
_DC = "http://purl.org/dc/elements/1.1/"
_CONFIG = "urn:oasis:names:tc:opendocument:xmlns:config:1.0"
_MANIFEST = "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"
_KEPT_META = frozenset({f"{{{_META}}}document-statistic"})
_PRINTER_ITEMS = frozenset({"PrinterName", "PrinterSetup"})
_EPOCH = "1970-01-01T00:00:00"
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
ENCRYPTED_SENTENCE = (
    "The document is protected by a password. Save a copy without the password and send "
    "that instead."
)


def clean_odf(archive: zipfile.ZipFile, media_type: str, limits: CleaningLimits) -> CleanedFile:
    """Rewrite an OpenDocument package without identifying metadata.

    Raises FileRefused (MACRO_DOCUMENT, UNREADABLE, DECOMPRESSION_BOMB, TOO_MANY_PIXELS).
    """
    names = archive.namelist()
    if any(n.startswith(("Basic/", "Scripts/")) for n in names):
        raise FileRefused(RefusalReason.MACRO_DOCUMENT)
    removed: set[str] = set()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as rewritten:
        # The mimetype member must come first and be stored, so readers can sniff it.
        mimetype = zipfile.ZipInfo("mimetype", date_time=_ZIP_EPOCH)
        rewritten.writestr(mimetype, media_type.encode(), compress_type=zipfile.ZIP_STORED)
        for member, data in iter_members(archive, limits):
            if member.filename == "mimetype" or member.is_dir():
                continue
            if member.filename.startswith("Thumbnails/"):
                removed.add("thumbnail")
                continue
            cleaned, codes = _clean_part(member.filename, data)
            removed |= codes
            info = zipfile.ZipInfo(member.filename, date_time=_ZIP_EPOCH)
            rewritten.writestr(info, cleaned, compress_type=zipfile.ZIP_DEFLATED)
    return CleanedFile(
        data=out.getvalue(),
        media_type=media_type,
        kind="document",
        extension=ODF_TYPES[media_type],
        removed=tuple(sorted(removed)),
    )


def _clean_part(name: str, data: bytes) -> tuple[bytes, set[str]]:
    base = name.rsplit("/", 1)[-1]
    if name == "META-INF/manifest.xml":
        return _clean_manifest(data)
    if base == "meta.xml":
        return _clean_meta(data)
    if base in {"content.xml", "styles.xml"}:
        return _clean_content(data)
    if base == "settings.xml":
        return _clean_settings(data)
    if name.startswith("Pictures/"):
        found = strip_picture_metadata(data)
        if found is not None:
            return found[0], {"image-metadata"} if found[1] else set()
    return data, set()


def _clean_manifest(data: bytes) -> tuple[bytes, set[str]]:
    """Refuse encrypted documents; drop the thumbnail's entry."""
    root = parse(data)
    if next(root.iter(f"{{{_MANIFEST}}}encryption-data"), None) is not None:
        raise FileRefused(RefusalReason.UNREADABLE, ENCRYPTED_SENTENCE)
    path = f"{{{_MANIFEST}}}full-path"
    for entry in list(root.iter(f"{{{_MANIFEST}}}file-entry")):
        if entry.get(path, "").startswith("Thumbnails/"):
            root.remove(entry)
    return serialise(root), set()


def _clean_meta(data: bytes) -> tuple[bytes, set[str]]:
    """Keep only the document statistics of office:meta."""
    root = parse(data)
    removed: set[str] = set()
    for meta in root.iter(f"{{{_OFFICE}}}meta"):
        for child in list(meta):
            if child.tag in _KEPT_META:
                continue
            name = local(child.tag)
            removed.add(
                "author"
                if name in {"creator", "initial-creator"}
                else "edit-times"
                if "date" in name or "editing" in name
                else "document-info"
            )
            meta.remove(child)
    return serialise(root), removed


def _clean_content(data: bytes) -> tuple[bytes, set[str]]:
    """Blank the authors and dates of tracked changes and comments (annotations)."""
    root = parse(data)
    removed: set[str] = set()
    for element in root.iter(f"{{{_DC}}}creator", f"{{{_META}}}creator-initials", f"{{{_DC}}}date"):
        parent = element.getparent()
        in_comment = parent is not None and local(parent.tag) == "annotation"
        if element.tag == f"{{{_DC}}}date":
            element.text = _EPOCH
            removed.add("edit-times")
        elif element.text:
            element.text = ""
            removed.add("comment-authors" if in_comment else "tracked-change-authors")
    return serialise(root), removed


def _clean_settings(data: bytes) -> tuple[bytes, set[str]]:
    """Drop the printer name and setup (a printer's name can say whose desk it is on)."""
    root = parse(data)
    removed: set[str] = set()
    name = f"{{{_CONFIG}}}name"
    for item in list(root.iter(f"{{{_CONFIG}}}config-item")):
        if item.get(name) in _PRINTER_ITEMS:
            parent = item.getparent()
            if parent is not None:
                parent.remove(item)
                removed.add("document-info")
    return serialise(root), removed
