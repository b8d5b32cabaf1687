"""Evidence files: sealing cleaned files in chunks, attaching them to a case, reading them.

A file is cleaned first (reportline.cleaning: only the cleaned bytes are ever
kept). It is then sealed in chunks of `CHUNK_BYTES` under a random key of its
own, each chunk bound to the file, its part (content or preview), its index
and whether it is the last, so a truncated, reordered or swapped chunk does
not open. The chunks are stored and committed first (`store_cleaned`); then
`attach` adds the file's row: its key and description in an E1 envelope to
the case public key (the follow-up path has no case secret) and to the
reporter, a MAC under the case's MAC key, and the case's `evidence_count`,
which the state MAC covers (docs/crypto.md, "Evidence").
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from reportline.crypto import aead
from reportline.crypto.context import context
from reportline.crypto.envelope import Recipient, open_envelope, seal_envelope
from reportline.crypto.errors import DecryptionError
from reportline.crypto.keys import PrivateKey, PublicKey
from reportline.db import random_id
from reportline.models import Case, EvidenceFile, OrphanMark, Upload
from reportline.models.evidence import CONTENT, PREVIEW
from reportline.services import cases
from reportline.services.case_checks import ItemProblem
from reportline.services.errors import ServiceError
from reportline.services.evidence_store import ChunkStore

if TYPE_CHECKING:
    from reportline.cleaning import CleanedFile

# A full chunk's plaintext fills one S1 bucket of 64 KiB exactly (4 bytes are its length).
CHUNK_BYTES = aead.BUCKETS[-1] - aead.LENGTH_PREFIX_BYTES
MAX_DESCRIPTION_LENGTH = 500
MAX_FILES_PER_FORM = 10


class EvidenceLimitReached(ServiceError):
    """Storing a file would pass a limit: `which` is "file", "report" or "instance"."""

    def __init__(self, which: str, limit: int) -> None:
        super().__init__(f"the {which} limit of {limit} bytes would be passed")
        self.which = which
        self.limit = limit


class EvidenceLost(ServiceError):
    """A stored file's chunks are gone before its row was written (removed as orphans)."""


@dataclass(frozen=True)
class Limits:
    """The evidence limits in settings, in bytes."""

    file_bytes: int
    report_bytes: int
    quota_bytes: int


@dataclass(frozen=True, repr=False)
class FileDescription:
    """What describes a file, sealed with its key. Its repr shows no value."""

    name: str
    description: str
    media_type: str
    kind: str
    size: int
    sha256: str
    removed: tuple[str, ...] = ()
    preview_type: str | None = None

    def __repr__(self) -> str:
        return "FileDescription(<sealed content>)"


@dataclass(frozen=True, repr=False)
class PreparedFile:
    """A cleaned file whose chunks are stored, waiting for its row (`attach`)."""

    file_id: int
    key: bytes
    description: FileDescription
    chunk_count: int
    preview_chunks: int
    stored_bytes: int

    def __repr__(self) -> str:
        return f"PreparedFile({self.file_id}, <sealed content>)"


@dataclass(frozen=True, repr=False)
class EvidenceItem:
    """One file as a reader sees it, or marked with why it cannot be shown."""

    seq: int
    file_id: int
    added_on: date | None
    chunk_count: int
    preview_chunks: int
    description: FileDescription | None = None
    key: bytes = field(default=b"", repr=False)
    problem: ItemProblem | None = None
    # Stored chunks are fewer than the row says: the file cannot be read whole.
    chunks_missing: bool = False

    def __repr__(self) -> str:
        return f"EvidenceItem({self.seq}, problem={self.problem})"

    @property
    def readable(self) -> bool:
        """Whether the file opened, passed its check and has every chunk."""
        return self.problem is None and not self.chunks_missing


def chunk_context(file_id: int, part: int, index: int, final: bool) -> bytes:
    """Associated data of one chunk: its file, part, position and whether it is the last."""
    return context("evidence-chunk", file=file_id, part=part, index=index, final=int(final))


def envelope_context(case_id: int, file_id: int) -> bytes:
    """Associated data of a file's key envelope: the case it belongs to."""
    return context("evidence-file", case=case_id, file=file_id)


def file_mac(mac_key: bytes, row: EvidenceFile) -> bytes:
    """HMAC under the case's MAC key over the row's place, counts and envelope."""
    header = context(
        "evidence-row",
        case=row.case_id,
        file=row.id,
        seq=row.seq,
        added=row.added_on.isoformat(),
        chunks=row.chunk_count,
        preview=row.preview_chunks,
        stored=row.stored_bytes,
    )
    return hmac.new(mac_key, header + hashlib.sha256(row.sealed).digest(), "sha256").digest()


def seal_chunks(key: bytes, file_id: int, part: int, data: bytes) -> Iterator[bytes]:
    """The S1 chunks of `data` (at least one, so an empty part still has its last chunk)."""
    count = max(1, -(-len(data) // CHUNK_BYTES))
    view = memoryview(data)
    for index in range(count):
        piece = bytes(view[index * CHUNK_BYTES : (index + 1) * CHUNK_BYTES])
        yield aead.encrypt(key, piece, chunk_context(file_id, part, index, index == count - 1))


def chunk_count(size: int) -> int:
    """How many chunks a part of `size` bytes is sealed in."""
    return max(1, -(-size // CHUNK_BYTES))


def store_cleaned(
    store: ChunkStore, cleaned: CleanedFile, name: str, description: str, limits: Limits
) -> PreparedFile:
    """Seal a cleaned file (and its preview) under a fresh key and store its chunks.

    The caller commits before attaching the file, so its chunks are durable before
    any row refers to them. Raises EvidenceLimitReached for a file over the limit.
    """
    if len(cleaned.data) > limits.file_bytes:
        raise EvidenceLimitReached("file", limits.file_bytes)
    key = aead.new_key()
    file_id = random_id()
    stored = store.put(file_id, CONTENT, seal_chunks(key, file_id, CONTENT, cleaned.data))
    preview_chunks = 0
    if cleaned.preview is not None:
        preview_chunks = chunk_count(len(cleaned.preview))
        stored += store.put(file_id, PREVIEW, seal_chunks(key, file_id, PREVIEW, cleaned.preview))
    info = FileDescription(
        name=name,
        description=description,
        media_type=cleaned.media_type,
        kind=cleaned.kind,
        size=len(cleaned.data),
        sha256=hashlib.sha256(cleaned.data).hexdigest(),
        removed=tuple(cleaned.removed),
        preview_type=cleaned.preview_type if cleaned.preview is not None else None,
    )
    return PreparedFile(file_id, key, info, chunk_count(len(cleaned.data)), preview_chunks, stored)


def _sealed_description(
    prepared: PreparedFile, case_id: int, case_public: PublicKey, reporter_public: PublicKey
) -> bytes:
    document = {"v": 1, "key": prepared.key.hex(), **asdict(prepared.description)}
    plaintext = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return seal_envelope(
        plaintext,
        {Recipient.CASE: case_public, Recipient.REPORTER: reporter_public},
        envelope_context(case_id, prepared.file_id),
    )


def attach(
    session: Session,
    case: Case,
    keys: cases.CaseKeys,
    prepared: Sequence[PreparedFile],
    today: date,
) -> None:
    """Add the rows of stored files to a case (locked by the caller) and re-seal its state.

    The caller has checked the case with `keys` and commits.
    """
    for item in prepared:
        case.evidence_count += 1
        session.add(_file_row(case.id, case.evidence_count, keys, item, today))
    cases.seal_state(case, keys.mac_key)


def new_case_rows(
    case_id: int,
    keys: cases.CaseKeys,
    prepared: Sequence[PreparedFile],
    today: date,
) -> list[dict[str, Any]]:
    """The rows of a new case's files, numbered 1 ... n (its state MAC already counts n)."""
    rows = [_file_row(case_id, seq, keys, item, today) for seq, item in enumerate(prepared, 1)]
    return [{c.key: getattr(row, c.key) for c in EvidenceFile.__table__.columns} for row in rows]


def _file_row(
    case_id: int, seq: int, keys: cases.CaseKeys, item: PreparedFile, today: date
) -> EvidenceFile:
    """The row of a stored file at position `seq` of a case, sealed and MAC'd."""
    row = EvidenceFile(
        id=item.file_id,
        case_id=case_id,
        seq=seq,
        added_on=today,
        chunk_count=item.chunk_count,
        preview_chunks=item.preview_chunks,
        stored_bytes=item.stored_bytes,
        sealed=_sealed_description(item, case_id, keys.case_public, keys.reporter_public),
    )
    row.mac = file_mac(keys.mac_key, row)
    return row


def insert_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert rows made by `new_case_rows`."""
    if rows:
        session.execute(insert(EvidenceFile), rows)


def read_evidence(
    session: Session,
    store: ChunkStore,
    case: Case,
    recipient: Recipient,
    private_key: PrivateKey,
    mac_key: bytes,
) -> tuple[list[EvidenceItem], bool]:
    """Every file of the case, checked: positions 1 ... evidence_count, each MAC and
    envelope, and that every chunk is stored. Returns the items and whether all passed
    (a missing chunk is marked on its item, and counts as not intact)."""
    rows = {
        row.seq: row
        for row in session.scalars(select(EvidenceFile).where(EvidenceFile.case_id == case.id))
    }
    counts = store.counts([row.id for row in rows.values()])
    items = [
        _checked_item(seq, rows.get(seq), case, recipient, private_key, mac_key, counts)
        for seq in range(1, case.evidence_count + 1)
    ]
    for seq, row in sorted(rows.items()):
        if not 1 <= seq <= case.evidence_count:
            items.append(_problem(seq, ItemProblem.UNEXPECTED, row))
    return items, all(item.readable for item in items)


def _problem(seq: int, problem: ItemProblem, row: EvidenceFile | None = None) -> EvidenceItem:
    return EvidenceItem(
        seq,
        row.id if row else 0,
        row.added_on if row else None,
        row.chunk_count if row else 0,
        row.preview_chunks if row else 0,
        problem=problem,
    )


def _checked_item(
    seq: int,
    row: EvidenceFile | None,
    case: Case,
    recipient: Recipient,
    private_key: PrivateKey,
    mac_key: bytes,
    counts: dict[tuple[int, int], int],
) -> EvidenceItem:
    if row is None:
        return _problem(seq, ItemProblem.MISSING)
    if not hmac.compare_digest(row.mac, file_mac(mac_key, row)):
        return _problem(seq, ItemProblem.ALTERED, row)
    try:
        raw = open_envelope(row.sealed, recipient, private_key, envelope_context(case.id, row.id))
        document = json.loads(raw)
        key = bytes.fromhex(document.pop("key"))
        document.pop("v", None)
        document["removed"] = tuple(document.get("removed", ()))
        info = FileDescription(**document)
    except (DecryptionError, ValueError, TypeError, KeyError):
        return _problem(seq, ItemProblem.ALTERED, row)
    missing = (
        counts.get((row.id, CONTENT), 0) != row.chunk_count
        or counts.get((row.id, PREVIEW), 0) != row.preview_chunks
    )
    return EvidenceItem(
        seq,
        row.id,
        row.added_on,
        row.chunk_count,
        row.preview_chunks,
        description=info,
        key=key,
        chunks_missing=missing,
    )


def read_part(store: ChunkStore, item: EvidenceItem, part: int = CONTENT) -> Iterator[bytes]:
    """The plaintext of a file (or its preview), chunk by chunk, each checked as it is
    read. Raises DecryptionError at the first chunk that is missing, out of place,
    altered or from elsewhere, and if the last chunk is not marked last."""
    count = item.chunk_count if part == CONTENT else item.preview_chunks
    expected = 0
    for index, chunk in store.read(item.file_id, part, count):
        if index != expected:
            raise DecryptionError(f"chunk {expected} of the file is missing")
        yield aead.decrypt(
            item.key, chunk, chunk_context(item.file_id, part, index, index == count - 1)
        )
        expected += 1
    if expected != count:
        raise DecryptionError(f"chunk {expected} of the file is missing")


def report_bytes(session: Session, case_id: int) -> int:
    """Bytes stored for a case's files."""
    total = session.scalar(
        select(func.coalesce(func.sum(EvidenceFile.stored_bytes), 0)).where(
            EvidenceFile.case_id == case_id
        )
    )
    return int(total or 0)


def instance_bytes(session: Session) -> int:
    """Bytes stored for every file and every upload in progress (the instance quota)."""
    files = session.scalar(select(func.coalesce(func.sum(EvidenceFile.stored_bytes), 0)))
    uploads = session.scalar(select(func.coalesce(func.sum(Upload.received_bytes), 0)))
    return int(files or 0) + int(uploads or 0)


def check_room(session: Session, limits: Limits, adding: int, already: int = 0) -> None:
    """Raise EvidenceLimitReached if `adding` more bytes pass the report's limit (it has
    `already`) or the instance quota."""
    if already + adding > limits.report_bytes:
        raise EvidenceLimitReached("report", limits.report_bytes)
    if instance_bytes(session) + adding > limits.quota_bytes:
        raise EvidenceLimitReached("instance", limits.quota_bytes)


def discard_unattached(
    session: Session, store: ChunkStore, prepared: Sequence[PreparedFile]
) -> None:
    """Remove the chunks of prepared files that no row refers to (a refused or repeated
    form); the caller commits. `reportline purge` finds any this misses."""
    ids = [item.file_id for item in prepared]
    if not ids:
        return
    attached = set(session.scalars(select(EvidenceFile.id).where(EvidenceFile.id.in_(ids))))
    store.discard([file_id for file_id in ids if file_id not in attached])


def verify_stored(session: Session, store: ChunkStore, prepared: Sequence[PreparedFile]) -> None:
    """Claim the prepared files for the transaction that writes their rows, and raise
    EvidenceLost unless every chunk is still stored.

    Their orphan marks are deleted first: a sweep that marked them waits for this
    transaction (or this one for the sweep), so a sweep never removes the chunks of
    a row being committed (evidence_store.sweep_orphans).
    """
    ids = [item.file_id for item in prepared]
    if ids:
        session.execute(delete(OrphanMark).where(OrphanMark.file_id.in_(ids)))
    counts = store.counts(ids)
    for item in prepared:
        if (
            counts.get((item.file_id, CONTENT), 0) != item.chunk_count
            or counts.get((item.file_id, PREVIEW), 0) != item.preview_chunks
        ):
            raise EvidenceLost("a file's chunks were removed before the report was stored")
