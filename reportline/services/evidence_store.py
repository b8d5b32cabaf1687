"""Where sealed evidence chunks are kept: a small interface and its database backend.

Chunks are stored in the database itself (models.evidence explains why), so
several app servers share them with nothing more to run. The interface is
what the rest of ReportLine uses, so another backend (blobs packed into
container files, say) replaces one class.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from reportline.db import begin_read_only
from reportline.models import EvidenceChunk, EvidenceFile, OrphanMark

# Chunks written per statement: about a megabyte at a time.
BATCH = 16
# Chunks read per statement: about 4 MiB at a time. Each batch read is a statement
# and, when streaming, a short transaction of its own, about a millisecond of fixed
# cost: at 16 chunks that was a third of a download's database time.
READ_BATCH = 64


class ChunkStore(Protocol):
    """Sealed chunks by (file, part, index). Nothing here sees a plaintext byte."""

    def put(self, file_id: int, part: int, chunks: Iterable[bytes]) -> int:
        """Store `chunks` as indexes 0, 1, ...; return the bytes stored."""

    def read(self, file_id: int, part: int, count: int) -> Iterator[tuple[int, bytes]]:
        """Yield (index, chunk) for indexes 0 ... count - 1 that exist, in order."""

    def counts(self, file_ids: Sequence[int]) -> dict[tuple[int, int], int]:
        """How many chunks each (file, part) has."""

    def discard(self, file_ids: Sequence[int]) -> None:
        """Remove every chunk of these files."""

    def orphans(self) -> list[int]:
        """Files whose chunks are stored but which no evidence row references."""


class DatabaseChunkStore:
    """Chunks as rows of `evidence_chunks`, written through the caller's session.

    The caller commits: chunks are committed before the row that references them
    (`services.evidence.store_cleaned`), so a crash between the two leaves only
    orphans, never a row whose chunks are missing.
    """

    def __init__(self, session: Session, streaming: bool = False) -> None:
        self.session = session
        # Streaming to a client: each batch is read in its own short read-only
        # transaction, so a slow download holds no snapshot, lock or connection.
        self.streaming = streaming

    def put(self, file_id: int, part: int, chunks: Iterable[bytes]) -> int:
        stored = 0
        batch: list[dict[str, object]] = []
        for index, chunk in enumerate(chunks):
            batch.append({"file_id": file_id, "part": part, "idx": index, "data": chunk})
            stored += len(chunk)
            if len(batch) == BATCH:
                self.session.execute(insert(EvidenceChunk), batch)
                batch = []
        if batch:
            self.session.execute(insert(EvidenceChunk), batch)
        return stored

    def read(self, file_id: int, part: int, count: int) -> Iterator[tuple[int, bytes]]:
        for start in range(0, count, READ_BATCH):
            if self.streaming:
                begin_read_only(self.session)
            rows = self.session.execute(
                select(EvidenceChunk.idx, EvidenceChunk.data)
                .where(
                    EvidenceChunk.file_id == file_id,
                    EvidenceChunk.part == part,
                    EvidenceChunk.idx >= start,
                    EvidenceChunk.idx < min(start + READ_BATCH, count),
                )
                .order_by(EvidenceChunk.idx)
            )
            batch = [(index, bytes(data)) for index, data in rows]
            if self.streaming:
                self.session.rollback()
            yield from batch

    def counts(self, file_ids: Sequence[int]) -> dict[tuple[int, int], int]:
        if not file_ids:
            return {}
        rows = self.session.execute(
            select(EvidenceChunk.file_id, EvidenceChunk.part, func.count())
            .where(EvidenceChunk.file_id.in_(list(file_ids)))
            .group_by(EvidenceChunk.file_id, EvidenceChunk.part)
        )
        return {(file_id, part): count for file_id, part, count in rows}

    def discard(self, file_ids: Sequence[int]) -> None:
        if file_ids:
            self.session.execute(
                delete(EvidenceChunk).where(EvidenceChunk.file_id.in_(list(file_ids)))
            )

    def orphans(self) -> list[int]:
        referenced = select(EvidenceFile.id).where(EvidenceFile.id == EvidenceChunk.file_id)
        return list(
            self.session.scalars(
                select(EvidenceChunk.file_id).where(~referenced.exists()).distinct()
            )
        )


def sweep_orphans(session: Session, store: ChunkStore) -> int:
    """Remove the chunks of files that were orphans at the last sweep and still are, and
    mark today's orphans for the next; return how many files were removed.

    An orphan is found by its missing row, never by its age (chunks carry no time).
    A mark is taken back by deleting it, in one statement that also checks the row is
    still missing; the transaction that writes a file's row deletes its mark first
    (services.evidence.verify_stored). Whichever deletes the mark first holds it until
    it commits, and the other then finds it gone: the sweep does not remove chunks a
    row is being committed for, or the row's writer sees them gone and refuses. The
    caller commits.
    """
    unreferenced = ~select(EvidenceFile.id).where(EvidenceFile.id == OrphanMark.file_id).exists()
    doomed = list(
        session.scalars(delete(OrphanMark).where(unreferenced).returning(OrphanMark.file_id))
    )
    store.discard(doomed)
    session.execute(delete(OrphanMark))  # marks of files that found their row
    orphans = sorted(set(store.orphans()) - set(doomed))
    if orphans:
        session.execute(insert(OrphanMark), [{"file_id": file_id} for file_id in orphans])
    return len(doomed)
