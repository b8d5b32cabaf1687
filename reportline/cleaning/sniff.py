"""Deciding what a file is from its first bytes, never from its name."""

from __future__ import annotations

from enum import StrEnum


class Family(StrEnum):
    """The cleaner a file goes to."""

    IMAGE = "image"
    PDF = "pdf"
    ZIP = "zip"  # Office Open XML or OpenDocument, decided by its members
    OLE2 = "ole2"  # legacy Office (.doc, .xls, .ppt): refused
    MEDIA = "media"  # audio or video, decided by ffprobe
    TEXT = "text"
    UNKNOWN = "unknown"


# ISO base media "ftyp" brands of HEIF/HEIC and AVIF pictures (the rest are MP4/MOV/M4A).
_PICTURE_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}
)
# QuickTime files without "ftyp" start with one of these atoms.
_QUICKTIME_ATOMS = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})
_PDF_SEARCH = 1024  # readers accept a few bytes of junk before %PDF-


def sniff(data: bytes) -> Family:
    """The family of a file by its magic bytes (TEXT only if nothing else matched)."""
    head = data[:64]
    if head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")):
        return Family.IMAGE
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Family.IMAGE
    if head[4:8] == b"ftyp":
        return Family.IMAGE if head[8:12] in _PICTURE_BRANDS else Family.MEDIA
    if b"%PDF-" in data[:_PDF_SEARCH]:
        return Family.PDF
    if head.startswith(b"PK\x03\x04"):
        return Family.ZIP
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return Family.OLE2
    if _looks_like_media(head):
        return Family.MEDIA
    return Family.TEXT


def _looks_like_media(head: bytes) -> bool:
    """Audio and video containers ffprobe is then asked to confirm."""
    if head.startswith((b"ID3", b"OggS", b"fLaC", b"\x1a\x45\xdf\xa3")):
        return True
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return True
    if head[4:8] in _QUICKTIME_ATOMS:
        return True
    # MPEG audio frame or ADTS AAC: 11 sync bits.
    return len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0
