"""Reading zip-based documents within limits: members, total size and ratios checked
before reading, then the bytes actually produced counted while reading (a declared
size can lie)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator

from reportline.cleaning.errors import FileRefused, RefusalReason
from reportline.cleaning.model import CleaningLimits

# Below this size a member cannot be a bomb whatever its ratio (XML compresses well).
_RATIO_FLOOR = 1024 * 1024
_CHUNK = 64 * 1024


def open_archive(data: bytes, limits: CleaningLimits) -> zipfile.ZipFile:
    """Open a zip and check its directory against the limits.

    Raises FileRefused (UNREADABLE for a damaged, encrypted or ambiguous zip,
    DECOMPRESSION_BOMB over a limit).
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise FileRefused(RefusalReason.UNREADABLE) from exc
    if len(members) > limits.max_zip_members:
        raise FileRefused(RefusalReason.DECOMPRESSION_BOMB)
    names = [member.filename for member in members]
    if len(set(names)) != len(names):
        raise FileRefused(RefusalReason.UNREADABLE)  # two members with one name: ambiguous
    total = 0
    for member in members:
        if member.flag_bits & 0x1:
            raise FileRefused(RefusalReason.UNREADABLE)  # encrypted member
        _check_ratio(member.file_size, member.compress_size, limits)
        total += member.file_size
    if total > limits.max_unzipped_bytes:
        raise FileRefused(RefusalReason.DECOMPRESSION_BOMB)
    _check_ratio(total, len(data), limits)
    return archive


def read_member(
    archive: zipfile.ZipFile, member: zipfile.ZipInfo, budget: list[int], limits: CleaningLimits
) -> bytes:
    """A member's bytes, refusing as soon as it yields more than it declared, or the
    archive more than ``limits.max_unzipped_bytes`` (``budget[0]`` counts what is left).

    Raises FileRefused (DECOMPRESSION_BOMB, UNREADABLE).
    """
    out = bytearray()
    try:
        with archive.open(member) as stream:
            for chunk in iter(lambda: stream.read(_CHUNK), b""):
                out += chunk
                budget[0] -= len(chunk)
                if len(out) > member.file_size or budget[0] < 0:
                    raise FileRefused(RefusalReason.DECOMPRESSION_BOMB)
                _check_ratio(len(out), member.compress_size, limits)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise FileRefused(RefusalReason.UNREADABLE) from exc
    return bytes(out)


def iter_members(
    archive: zipfile.ZipFile, limits: CleaningLimits
) -> Iterator[tuple[zipfile.ZipInfo, bytes]]:
    """Every member with its bytes, in archive order, within the limits."""
    budget = [limits.max_unzipped_bytes]
    for member in archive.infolist():
        yield member, read_member(archive, member, budget, limits)


def _check_ratio(unpacked: int, packed: int, limits: CleaningLimits) -> None:
    if unpacked > _RATIO_FLOOR and unpacked > limits.max_zip_ratio * max(packed, 1):
        raise FileRefused(RefusalReason.DECOMPRESSION_BOMB)
