"""Removing metadata from JPEG and PNG pictures inside documents without decoding them.

Pictures inside PDF and Office files are drawn at a size the document fixes, so
they are not re-encoded: their metadata segments (JPEG) or chunks (PNG) are cut
out and the compressed pixels kept byte for byte.
"""

from __future__ import annotations

import struct

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG: kept APP0 (JFIF) and APP14 (Adobe colour transform); dropped APP1 (EXIF, XMP),
# APP2 (ICC profile, MPF previews), APP3-APP13 (maker data, IPTC), APP15 and COM.
_JPEG_DROPPED = frozenset({*range(0xE1, 0xEE), 0xEF, 0xFE})
# PNG ancillary chunks that describe how to show the pixels; every other ancillary
# chunk (tEXt, zTXt, iTXt, eXIf, iCCP, tIME, private ones) is dropped.
_PNG_KEPT_ANCILLARY = frozenset(
    {b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT", b"pHYs", b"bKGD", b"hIST"}
    | {b"acTL", b"fcTL", b"fdAT"}
)


def strip_picture_metadata(data: bytes) -> tuple[bytes, bool] | None:
    """(picture without metadata, whether anything was cut) for a JPEG or PNG;
    None for other formats or a picture too damaged to walk (kept as it is)."""
    if data.startswith(b"\xff\xd8"):
        return strip_jpeg_metadata(data)
    if data.startswith(_PNG_SIGNATURE):
        return strip_png_metadata(data)
    return None


def strip_jpeg_metadata(data: bytes) -> tuple[bytes, bool] | None:
    """The JPEG without EXIF, XMP, ICC, IPTC and comment segments; None if malformed."""
    out = bytearray(b"\xff\xd8")
    pos, dropped = 2, False
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA:  # start of scan: the rest is compressed pixels
            out += data[pos:]
            return bytes(out), dropped
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        end = pos + 2 + length
        if length < 2 or end > len(data):
            return None
        if marker in _JPEG_DROPPED:
            dropped = True
        else:
            out += data[pos:end]
        pos = end
    return None


def strip_png_metadata(data: bytes) -> tuple[bytes, bool] | None:
    """The PNG without text, EXIF, ICC, time and private chunks; None if malformed."""
    out = bytearray(_PNG_SIGNATURE)
    pos, dropped = len(_PNG_SIGNATURE), False
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            return None
        critical = kind[:1].isupper()
        if critical or kind in _PNG_KEPT_ANCILLARY:
            out += data[pos:end]
        else:
            dropped = True
        pos = end
        if kind == b"IEND":
            return bytes(out), dropped
    return None
