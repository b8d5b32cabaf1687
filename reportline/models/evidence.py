"""Evidence: files a reporter attached, stored as sealed chunks in the database itself.

Chunks live in the database (not a folder or an object store) because a folder
records each file's arrival in its change time, and object stores log every
write's time: both against "dates are days". Ids are random and the tables
have no rowid on SQLite, so the physical order of rows says nothing about when
they arrived (docs/security.md, "Evidence").
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import ForeignKey, LargeBinary, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from reportline.db import Base

CONTENT, PREVIEW = 0, 1


class EvidenceFile(Base):
    """One cleaned file of a case: its key and description sealed to the case, and a MAC.

    `sealed` is an E1 envelope (CASE and REPORTER slots) of the file's random key
    and what describes it (name, description, type, size, SHA-256, what cleaning
    removed); the chunks are in `evidence_chunks`. `seq` runs 1 ...
    `cases.evidence_count`, which the case's state MAC covers, so a removed file
    is noticed.
    """

    __tablename__ = "evidence_files"
    __table_args__ = (
        UniqueConstraint("case_id", "seq", name="uq_evidence_files_case_seq"),
        {"sqlite_with_rowid": False},
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int]
    added_on: Mapped[date]
    # Chunks of the cleaned file, and of its preview (images only; 0 otherwise).
    chunk_count: Mapped[int]
    preview_chunks: Mapped[int]
    # Bytes stored for it (ciphertext), counted against the report's and the instance's limits.
    stored_bytes: Mapped[int]
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    # HMAC under the case's MAC key (services.evidence.file_mac).
    mac: Mapped[bytes] = mapped_column(LargeBinary(32))


class EvidenceChunk(Base):
    """One sealed chunk of a file (part 0) or of its preview (part 1).

    No foreign key: chunks are written and made durable before the row that
    references them (services.evidence_store); a chunk whose file has no row is
    an orphan, which `reportline purge` removes.
    """

    __tablename__ = "evidence_chunks"
    __table_args__ = ({"sqlite_with_rowid": False},)

    file_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    part: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Upload(Base):
    """A file arriving from a reporter's browser in chunks, before its form is sent.

    Its chunks are sealed under a key derived from a token only the browser (and the
    form it sends) holds; the id is a hash of that token. Removed when its form is
    sent, or after a day (`reportline purge`, housekeeping).
    """

    __tablename__ = "uploads"
    __table_args__ = ({"sqlite_with_rowid": False},)

    id: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    started_on: Mapped[date]
    chunk_count: Mapped[int] = mapped_column(default=0)
    received_bytes: Mapped[int] = mapped_column(default=0)


class UploadChunk(Base):
    """One chunk of an upload, sealed under the upload's key."""

    __tablename__ = "upload_chunks"
    __table_args__ = ({"sqlite_with_rowid": False},)

    upload_id: Mapped[bytes] = mapped_column(
        LargeBinary(32), ForeignKey("uploads.id", ondelete="CASCADE"), primary_key=True
    )
    idx: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class OrphanMark(Base):
    """A file whose chunks no row referenced at the last `reportline purge`.

    Orphans are removed at the next round if still unreferenced: a form whose
    chunks were just stored, and whose row is about to be committed, is never
    cut from under it (`services.evidence_purge`).
    """

    __tablename__ = "evidence_orphans"
    __table_args__ = ({"sqlite_with_rowid": False},)

    file_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
