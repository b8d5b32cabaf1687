"""Office Open XML (docx, xlsx, pptx): the zip rewritten in memory without names.

Removed: core and extended properties that name people, places or times, custom
properties, the thumbnail, Word's people list, comment and tracked-change
authors, revision session ids, local file paths, and metadata in embedded
JPEG/PNG pictures. Macro-enabled documents and ActiveX controls are refused.
"""

from __future__ import annotations

import io
import posixpath
import zipfile

from reportline.cleaning.archive import iter_members
from reportline.cleaning.errors import FileRefused, RefusalReason
from reportline.cleaning.model import CleanedFile, CleaningLimits
from reportline.cleaning.segments import strip_picture_metadata
from reportline.cleaning.xmlparts import (
    X15AC,
    W,
    drop_elements,
    local,
    parse,
    scrub_people,
    scrub_relationships,
    serialise,
)

_CT = "http://schemas.openxmlformats.org/package/2006/content-types"
_EP = "http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"
_OOXML = "application/vnd.openxmlformats-officedocument."
# Main part content type -> (extension, media type of the whole file).
MAIN_TYPES = {
    _OOXML + "wordprocessingml.document.main+xml": (".docx", _OOXML + "wordprocessingml.document"),
    _OOXML + "spreadsheetml.sheet.main+xml": (".xlsx", _OOXML + "spreadsheetml.sheet"),
    _OOXML + "presentationml.presentation.main+xml": (
        ".pptx",
        _OOXML + "presentationml.presentation",
    ),
}
_APP_DROPPED = {
    f"{{{_EP}}}Company": "company",
    f"{{{_EP}}}Manager": "company",
    f"{{{_EP}}}TotalTime": "edit-times",
    f"{{{_EP}}}Template": "document-info",
    f"{{{_EP}}}HyperlinkBase": "document-info",
}
_CORE_CODES = {"creator": "author", "lastModifiedBy": "author", "created": "edit-times"}
_CORE_CODES |= {"modified": "edit-times", "lastPrinted": "edit-times"}
EMBEDDED_SENTENCE = (
    "The document contains an embedded object from another program that cannot be "
    "cleaned. Save it as a PDF and send that instead."
)
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def clean_ooxml(
    archive: zipfile.ZipFile, content_types: bytes, limits: CleaningLimits, depth: int = 0
) -> CleanedFile:
    """Rewrite an Office Open XML package without identifying metadata.

    Raises FileRefused (MACRO_DOCUMENT, TYPE_NOT_ALLOWED, CANNOT_CLEAN for an embedded
    object, UNREADABLE, DECOMPRESSION_BOMB).
    """
    extension, media_type = _main_type(archive, content_types)
    names = archive.namelist()
    gone = {n for n in names if _is_dropped_part(n)}
    removed: set[str] = set()
    if any(n.startswith("docProps/custom") for n in gone):
        removed.add("custom-properties")
    if any(n.startswith("docProps/thumbnail") for n in gone):
        removed.add("thumbnail")
    if "word/people.xml" in gone:
        removed.add("author")  # Word's list of everyone who commented or changed the text
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as rewritten:
        for member, data in iter_members(archive, limits):
            if member.filename in gone or member.is_dir():
                continue
            cleaned, codes = _clean_part(member.filename, data, gone, limits, depth)
            removed |= codes
            rewritten.writestr(_fresh_info(member.filename), cleaned)
    return CleanedFile(
        data=out.getvalue(),
        media_type=media_type,
        kind="document",
        extension=extension,
        removed=tuple(sorted(removed)),
    )


def _main_type(archive: zipfile.ZipFile, content_types: bytes) -> tuple[str, str]:
    """The document's extension and media type; refuses macros and ActiveX."""
    lowered = [n.lower() for n in archive.namelist()]
    if any(n.endswith("vbaproject.bin") or "/activex/" in n for n in lowered):
        raise FileRefused(RefusalReason.MACRO_DOCUMENT)
    root = parse(content_types)
    types = [el.get("ContentType", "") for el in root.iter(f"{{{_CT}}}Override")]
    types += [el.get("ContentType", "") for el in root.iter(f"{{{_CT}}}Default")]
    if any("macroenabled" in t.lower() or "vbaproject" in t.lower() for t in types):
        raise FileRefused(RefusalReason.MACRO_DOCUMENT)
    for content_type in types:
        if content_type in MAIN_TYPES:
            return MAIN_TYPES[content_type]
    raise FileRefused(RefusalReason.TYPE_NOT_ALLOWED)


def _is_dropped_part(name: str) -> bool:
    return (
        name == "docProps/custom.xml"
        or name.startswith("docProps/thumbnail")
        or name == "word/people.xml"
    )


def _fresh_info(name: str) -> zipfile.ZipInfo:
    """A member header without the original's times, extra fields or comment."""
    info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _clean_part(
    name: str, data: bytes, gone: set[str], limits: CleaningLimits, depth: int
) -> tuple[bytes, set[str]]:
    """One member, cleaned according to what it is."""
    folder = name.split("/", 1)[0]
    if name.endswith((".xml", ".rels")):
        return _clean_xml_part(name, data, gone)
    if "/media/" in name:
        found = strip_picture_metadata(data)
        if found is None:
            return data, set()
        return found[0], {"image-metadata"} if found[1] else set()
    if "/embeddings/" in name and folder in {"word", "xl", "ppt"}:
        return _clean_embedded(name, data, limits, depth)
    return data, set()


def _clean_xml_part(name: str, data: bytes, gone: set[str]) -> tuple[bytes, set[str]]:
    """XML parts that can hold names are parsed and rewritten; the rest are copied."""
    if name == "docProps/core.xml":
        return _clean_core(data)
    if name == "docProps/app.xml":
        root = parse(data)
        removed = drop_elements(root, _APP_DROPPED)
        return serialise(root), removed
    if name.endswith(".rels"):
        root = parse(data)
        removed = scrub_relationships(root, name, gone)
        return serialise(root), removed
    if name == "[Content_Types].xml":
        root = parse(data)
        for override in list(root.iter(f"{{{_CT}}}Override")):
            if override.get("PartName", "").lstrip("/") in gone:
                root.remove(override)
        return serialise(root), set()
    if _may_name_people(name):
        root = parse(data)
        removed = scrub_people(root, in_comments="comment" in name.lower() or "author" in name)
        removed |= drop_elements(
            root, {f"{{{X15AC}}}absPath": "file-paths", f"{{{W}}}rsids": "revision-ids"}
        )
        return serialise(root), removed
    return data, set()


def _may_name_people(name: str) -> bool:
    """Parts where tracked changes, comments, persons or paths can appear."""
    if name.startswith("word/"):
        return True
    if name.startswith("xl/"):
        base = posixpath.basename(name)
        return base == "workbook.xml" or any(
            part in name for part in ("comments", "persons/", "revisions/", "threadedComments")
        )
    return name.startswith("ppt/") and ("comment" in name.lower() or "authors" in name)


def _clean_core(data: bytes) -> tuple[bytes, set[str]]:
    """Empty the core properties: every one of them can name or date the author."""
    root = parse(data)
    removed: set[str] = set()
    for child in list(root):
        if isinstance(child.tag, str):
            removed.add(_CORE_CODES.get(local(child.tag), "document-info"))
        root.remove(child)
    return serialise(root), removed


def _clean_embedded(
    name: str, data: bytes, limits: CleaningLimits, depth: int
) -> tuple[bytes, set[str]]:
    """An embedded Office file (a chart's workbook) is cleaned like the document; any other
    embedded object cannot be, so the document is refused."""
    from reportline.cleaning.documents import clean_zip_document

    if depth == 0 and name.lower().endswith((".docx", ".xlsx", ".pptx")):
        cleaned = clean_zip_document(data, limits, depth=depth + 1)
        return cleaned.data, set(cleaned.removed)
    raise FileRefused(RefusalReason.CANNOT_CLEAN, EMBEDDED_SENTENCE)
