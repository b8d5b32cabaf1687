"""A zip archive written as a stream of pieces, never as a whole: the hand-over export.

Python's zipfile (here pyzipper's copy of it, which adds WinZip AES) writes to an
output it cannot seek by putting each entry's sizes and CRC in a data descriptor
after its data, so the archive is produced front to back. The output here is a
`_Sink` that only collects what was written since the generator last drained
it; the generator writes one piece of input at a time and yields what came out,
so memory stays bounded by a piece or two whatever the size of an entry, and
nothing touches the disk. Every entry is written as zip64 (its size is not known
in advance, and may pass 4 GiB).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date

import pyzipper

# The largest piece yielded (and written into the archive at once).
PIECE = 64 * 1024
# Where a passphrase is asked for, the shortest accepted (docs/operating.md).
MIN_PASSPHRASE_LENGTH = 12


@dataclass(frozen=True)
class ZipEntry:
    """One file of the archive: its path inside it and a callable giving its bytes.

    `compress` False stores it as it is (media that is already compressed)."""

    name: str
    chunks: Callable[[], Iterable[bytes]]
    compress: bool = True


class _Sink:
    """A write-only, unseekable output that keeps only what was not yet drained."""

    def __init__(self) -> None:
        self._pending = bytearray()

    def write(self, data: bytes) -> int:
        self._pending += data
        return len(data)

    def flush(self) -> None:
        """Nothing to flush: the generator drains the pending bytes."""

    def drain(self, everything: bool = False) -> Iterator[bytes]:
        """Whole pieces of what is pending (and, with `everything`, the rest too)."""
        while len(self._pending) >= PIECE or (everything and self._pending):
            piece = bytes(self._pending[:PIECE])
            del self._pending[:PIECE]
            yield piece


def stream_zip(
    entries: Iterable[ZipEntry], passphrase: str | None, on: date | None = None
) -> Iterator[bytes]:
    """The zip archive of `entries`, in pieces of at most 64 KiB, as it is written.

    With `passphrase`, every entry is encrypted with WinZip AES-256 (the names and
    sizes stay readable, as in any zip). `on` is the date stamped on each entry (the
    day only: midnight); the default is 1 January 1980, the earliest zip allows.
    Raises ValueError for a passphrase shorter than MIN_PASSPHRASE_LENGTH.
    """
    if passphrase is not None and len(passphrase) < MIN_PASSPHRASE_LENGTH:
        raise ValueError(f"a passphrase needs at least {MIN_PASSPHRASE_LENGTH} characters")
    stamp = (on.year, on.month, on.day, 0, 0, 0) if on else (1980, 1, 1, 0, 0, 0)
    sink = _Sink()
    archive = _open_archive(sink, passphrase)
    with archive:
        for entry in entries:
            info = archive.zipinfo_cls(entry.name, date_time=stamp)
            info.compress_type = pyzipper.ZIP_DEFLATED if entry.compress else pyzipper.ZIP_STORED
            info.external_attr = 0o600 << 16  # readable by whoever unpacks it, no one else
            with archive.open(info, "w", force_zip64=True) as target:
                for chunk in entry.chunks():
                    for start in range(0, len(chunk), PIECE):
                        target.write(chunk[start : start + PIECE])
                        yield from sink.drain()
            yield from sink.drain()
    yield from sink.drain(everything=True)


def _open_archive(sink: _Sink, passphrase: str | None) -> pyzipper.ZipFile:
    """The archive writer over `sink`: plain, or encrypting every entry with AES-256."""
    if passphrase is None:
        return pyzipper.ZipFile(sink, "w", allowZip64=True)
    archive = pyzipper.AESZipFile(
        sink,
        "w",
        allowZip64=True,
        encryption=pyzipper.WZ_AES,
    )
    archive.setpassword(passphrase.encode("utf-8"))
    archive.setencryption(pyzipper.WZ_AES, nbits=256)
    return archive
