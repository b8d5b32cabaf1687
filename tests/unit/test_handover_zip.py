"""The hand-over archive is written as a stream: pieces of at most 64 KiB, memory
bounded whatever the size of an entry, to an output that cannot seek; with a
passphrase every entry is WinZip AES-256 and opens only with it."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import pyzipper

from reportline.services.handover_zip import PIECE, ZipEntry, stream_zip

PASSPHRASE = "correct horse battery staple"
MB = 1024 * 1024


def _entries() -> list[ZipEntry]:
    return [
        ZipEntry("summary.pdf", lambda: (b"%PDF-1.3 Gwenll\xc3\xafan " * 5000,)),
        ZipEntry("evidence/01-photo.jpg", lambda: (bytes(range(256)) * 400,), compress=False),
        ZipEntry("manifest.json", lambda: (b'{"files": []}\n',)),
    ]


def _archive(passphrase: str | None) -> bytes:
    return b"".join(stream_zip(_entries(), passphrase))


def test_the_archive_streamed_to_an_unseekable_output_opens_with_every_file_intact() -> None:
    pieces = list(stream_zip(_entries(), None))
    assert pieces and all(0 < len(piece) <= PIECE for piece in pieces)
    with zipfile.ZipFile(io.BytesIO(b"".join(pieces))) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == ["summary.pdf", "evidence/01-photo.jpg", "manifest.json"]
        for entry in _entries():
            assert archive.read(entry.name) == b"".join(entry.chunks())
        kinds = {info.filename: info.compress_type for info in archive.infolist()}
    assert kinds["summary.pdf"] == zipfile.ZIP_DEFLATED
    assert kinds["evidence/01-photo.jpg"] == zipfile.ZIP_STORED


def test_with_a_passphrase_every_file_is_aes_256_and_opens_only_with_it() -> None:
    data = _archive(PASSPHRASE)
    assert b"Gwenll" not in data and b'"files"' not in data
    with zipfile.ZipFile(io.BytesIO(data)) as plain:
        # 99 is WinZip AES's compression method marker; the stdlib cannot open it.
        assert {info.compress_type for info in plain.infolist()} == {99}
        with pytest.raises(RuntimeError, match="password required"):
            plain.read("manifest.json")
    with pyzipper.AESZipFile(io.BytesIO(data)) as archive:
        archive.setpassword(b"not the passphrase at all")
        with pytest.raises(RuntimeError, match="Bad password"):
            archive.read("manifest.json")
        archive.setpassword(PASSPHRASE.encode())
        for entry in _entries():
            assert archive.read(entry.name) == b"".join(entry.chunks())
        assert {_aes_strength(info.extra) for info in archive.infolist()} == {256}


def _aes_strength(extra: bytes) -> int:
    """The key length in bits that a file's WinZip AES extra field (0x9901) names."""
    while extra:
        header, size = int.from_bytes(extra[:2], "little"), int.from_bytes(extra[2:4], "little")
        if header == 0x9901 and extra[6:8] == b"AE":
            return {1: 128, 2: 192, 3: 256}[extra[8]]
        extra = extra[4 + size :]
    raise AssertionError("no AES extra field")


def test_a_passphrase_shorter_than_twelve_characters_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 12"):
        next(stream_zip(_entries(), "short phrase"[:11]))


def _peak_rss_growth(run: Iterator[bytes]) -> tuple[int, int, int]:
    """Drain `run`; return (bytes, largest piece, growth of the peak resident set)."""
    status = Path("/proc/self/status")
    Path("/proc/self/clear_refs").write_text("5")  # resets the peak (VmHWM) to now
    before = _status_kib(status.read_text(), "VmRSS")
    total = largest = 0
    for piece in run:
        total += len(piece)
        largest = max(largest, len(piece))
    peak = _status_kib(status.read_text(), "VmHWM")
    return total, largest, (peak - before) * 1024


def _status_kib(text: str, name: str) -> int:
    line = next(line for line in text.splitlines() if line.startswith(f"{name}:"))
    return int(line.split()[1])


def test_a_300_mb_entry_streams_in_small_pieces_with_memory_bounded() -> None:
    block = hashlib.sha256(b"evidence").digest() * 2048  # 64 KiB, mildly compressible

    def video() -> Iterator[bytes]:
        for _ in range(300 * MB // len(block)):
            yield block

    for compress in (False, True):
        run = stream_zip([ZipEntry("evidence/01-video.mp4", video, compress)], PASSPHRASE)
        total, largest, growth = _peak_rss_growth(run)
        assert largest <= PIECE
        assert total > (300 * MB if not compress else 0)
        assert growth < 64 * MB, f"peak memory grew by {growth // MB} MB"
