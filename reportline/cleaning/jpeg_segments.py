"""Removing metadata segments from a JPEG without decoding it (for pictures inside PDFs)."""

from __future__ import annotations

# Kept: APP0 (JFIF), APP2 (ICC colours), APP14 (Adobe colour transform). Dropped:
# APP1 (EXIF, XMP), APP3-APP13 (maker data, IPTC in APP13), APP15 and COM.
_DROPPED = frozenset({0xE1, *range(0xE3, 0xEE), 0xEF, 0xFE})


def strip_jpeg_metadata(data: bytes) -> bytes | None:
    """The JPEG without EXIF, XMP, IPTC and comment segments, or None if it is not a
    well-formed JPEG (then the caller keeps or refuses it) or nothing was dropped.
    """
    if not data.startswith(b"\xff\xd8"):
        return None
    out = bytearray(b"\xff\xd8")
    pos = 2
    dropped = False
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA:  # start of scan: the rest is image data
            out += data[pos:]
            return bytes(out) if dropped else None
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        end = pos + 2 + length
        if length < 2 or end > len(data):
            return None
        if marker in _DROPPED:
            dropped = True
        else:
            out += data[pos:end]
        pos = end
    return None
