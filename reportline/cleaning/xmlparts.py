"""Safe XML parsing and the attribute and element rules that remove names from Office parts."""

from __future__ import annotations

import posixpath

from lxml import etree

from reportline.cleaning.errors import FileRefused, RefusalReason

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
REL = "http://schemas.openxmlformats.org/package/2006/relationships"
X15AC = "http://schemas.microsoft.com/office/spreadsheetml/2010/11/ac"
_SML = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"

# No DTDs, no entities, no network, no huge trees: an Office part needs none of them.
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, dtd_validation=False
)
# Attributes that carry a person's name or account, in any namespace.
_PERSON_ATTRS = frozenset({"author", "initials", "userId", "providerId", "userName"})
# Elements whose own name or displayName attribute is a person (PowerPoint and Excel).
_PERSON_ELEMENTS = frozenset({"cmAuthor", "author", "person"})
_DECLARATION = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'


def parse(data: bytes) -> etree._Element:
    """Parse one part. Raises FileRefused(UNREADABLE) on bad XML or any DTD."""
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise FileRefused(RefusalReason.UNREADABLE) from exc
    if root.getroottree().docinfo.doctype:
        raise FileRefused(RefusalReason.UNREADABLE)
    return root


def serialise(root: etree._Element) -> bytes:
    """The part as UTF-8 with the declaration Office writes (double quotes, standalone)."""
    return _DECLARATION + etree.tostring(root, encoding="UTF-8")


def local(name: object) -> str:
    """The local part of a Clark-notation name (``{ns}local``)."""
    return etree.QName(name).localname if isinstance(name, str) else ""


def scrub_people(root: etree._Element, in_comments: bool) -> set[str]:
    """Blank names and initials of authors, drop revision dates and rsid session ids."""
    removed: set[str] = set()
    names_code = "comment-authors" if in_comments else "tracked-change-authors"
    for element in root.iter(etree.Element):
        for attr in list(element.attrib):
            name = local(attr)
            if name in _PERSON_ATTRS and element.attrib[attr]:
                element.attrib[attr] = ""
                removed.add(names_code)
            elif attr == f"{{{W}}}date":
                del element.attrib[attr]
                removed.add("edit-times")
            elif attr.startswith(f"{{{W}}}rsid"):
                del element.attrib[attr]
                removed.add("revision-ids")
        if local(element.tag) in _PERSON_ELEMENTS:
            removed |= _blank_person_element(element)
    return removed


def _blank_person_element(element: etree._Element) -> set[str]:
    """A PowerPoint comment author, an Excel person or a legacy Excel comment author."""
    changed = False
    for attr in ("name", "displayName"):
        if element.get(attr):
            element.set(attr, "")
            changed = True
    if element.tag == f"{{{_SML}}}author" and element.text:
        element.text = ""
        changed = True
    return {"comment-authors"} if changed else set()


def drop_elements(root: etree._Element, tags: dict[str, str]) -> set[str]:
    """Remove every element whose Clark name is a key of ``tags``; return their codes."""
    removed: set[str] = set()
    for element in list(root.iter(*tags)):
        parent = element.getparent()
        if parent is not None:
            parent.remove(element)
            removed.add(tags[element.tag])
    return removed


def scrub_relationships(root: etree._Element, rels_name: str, gone: set[str]) -> set[str]:
    """Drop relationships to removed parts; cut local file paths down to the file name."""
    removed: set[str] = set()
    source_dir = posixpath.dirname(posixpath.dirname(rels_name))
    for rel in list(root.iter(f"{{{REL}}}Relationship")):
        target = rel.get("Target", "")
        if rel.get("TargetMode") == "External":
            if _is_local_path(target):
                rel.set("Target", target.replace("\\", "/").rsplit("/", 1)[-1])
                removed.add("file-paths")
            continue
        resolved = posixpath.normpath(
            target.lstrip("/") if target.startswith("/") else posixpath.join(source_dir, target)
        )
        if resolved in gone:
            root.remove(rel)
    return removed


def _is_local_path(target: str) -> bool:
    lowered = target.lower()
    return lowered.startswith(("file:", "\\\\")) or (len(target) > 2 and target[1:3] == ":\\")
