"""Reading a case's triage record and notes: every version and correction, each checked.

Shared by the case page, the checks every write makes (`triage.intact_keys`) and
`services.casework`, which writes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from reportline.crypto import aead
from reportline.crypto.context import context
from reportline.crypto.errors import DecryptionError
from reportline.crypto.kdf import hkdf
from reportline.models import Case, Note, Officer, TriageRecord
from reportline.services import cases
from reportline.services.case_checks import ItemProblem, positions_to_show
from reportline.services.errors import NotFound
from reportline.services.triage_record import (
    RecordVersion,
    TriageRecordData,
    open_record,
    record_context,
    seal,
)


def _version_row(session: Session, case: Case, version: int) -> TriageRecord | None:
    return session.get(TriageRecord, (case.id, version))


def current_record(session: Session, case: Case, secret: cases.CaseSecret) -> TriageRecordData:
    """The newest version of the case's record (empty before the first).

    Raises DecryptionError if it was altered, moved or removed.
    """
    if not case.triage_version:
        return TriageRecordData()
    row = _version_row(session, case, case.triage_version)
    if row is None:
        raise DecryptionError("the newest triage record is missing")
    return open_record(
        secret.raw,
        row.sealed,
        record_context(case.id, row.version, row.officer_id, row.recorded_at),
    )


def record_history(
    session: Session, case: Case, secret: cases.CaseSecret, emails: dict[int, str]
) -> tuple[list[RecordVersion], bool]:
    """Every version of the record, newest first, with what each changed; and whether all
    of them passed their checks (positions 1..n, each ciphertext)."""
    rows = {
        row.version: row
        for row in session.scalars(select(TriageRecord).where(TriageRecord.case_id == case.id))
    }
    versions: list[RecordVersion] = []
    intact = True
    before = TriageRecordData()
    for number in positions_to_show(set(rows), case.triage_version):
        row = rows.get(number)
        data = None
        if row is not None and 1 <= number <= case.triage_version:
            try:
                ad = record_context(case.id, number, row.officer_id, row.recorded_at)
                data = open_record(secret.raw, row.sealed, ad)
            except DecryptionError:
                data = None
        if data is None or row is None:
            intact = False
            versions.append(RecordVersion(number, None, None, None))
            continue
        versions.append(
            RecordVersion(
                number,
                emails.get(row.officer_id),
                row.recorded_at,
                data,
                tuple(data.changed_fields(before)),
            )
        )
        before = data
    return list(reversed(versions)), intact


def write_version(
    session: Session,
    case: Case,
    secret: cases.CaseSecret,
    data: TriageRecordData,
    officer: Officer,
    now: datetime,
) -> None:
    """Append the next version of the record (the case row is locked by the caller)."""
    at = now.replace(microsecond=0)
    version = case.triage_version + 1
    session.add(
        TriageRecord(
            case_id=case.id,
            version=version,
            officer_id=officer.id,
            recorded_at=at,
            sealed=seal(secret.raw, data, record_context(case.id, version, officer.id, at)),
        )
    )
    case.triage_version = version


def note_key(secret: cases.CaseSecret) -> bytes:
    return hkdf(secret.raw, "case:notes")


def note_context(note: Note) -> bytes:
    return context(
        "note",
        case=note.case_id,
        seq=note.seq,
        officer=note.officer_id,
        at=note.written_at.isoformat(),
        corrects=note.corrects if note.corrects is not None else "-",
    )


@dataclass(frozen=True)
class NoteView:
    """A note as the case page shows it: its newest text, and every earlier version."""

    seq: int
    officer_id: int | None
    officer_email: str | None
    written_at: datetime | None
    text: str = field(repr=False)
    earlier: list[tuple[str | None, datetime | None, str]] = field(default_factory=list, repr=False)
    problem: ItemProblem | None = None


def read_notes(
    session: Session, case: Case, secret: cases.CaseSecret, emails: dict[int, str]
) -> tuple[list[NoteView], bool]:
    """The case's notes, oldest first, each shown at its newest correction; and whether
    every note passed its checks."""
    rows = {row.seq: row for row in session.scalars(select(Note).where(Note.case_id == case.id))}
    texts: dict[int, str] = {}
    intact = True
    views: dict[int, NoteView] = {}
    key = note_key(secret)
    for seq in positions_to_show(set(rows), case.note_count):
        row = rows.get(seq)
        if row is None or not 1 <= seq <= case.note_count:
            intact = False
            views[seq] = NoteView(
                seq,
                None,
                None,
                None,
                "",
                [],
                ItemProblem.MISSING if row is None else ItemProblem.UNEXPECTED,
            )
            continue
        try:
            texts[seq] = aead.decrypt(key, row.body, note_context(row)).decode("utf-8")
        except (DecryptionError, UnicodeDecodeError):
            intact = False
            views[seq] = NoteView(seq, None, None, None, "", [], ItemProblem.ALTERED)
            continue
        if (
            row.corrects is not None
            and row.corrects in views
            and views[row.corrects].problem is None
        ):
            original = views.pop(row.corrects)
            earlier = [
                *original.earlier,
                (original.officer_email, original.written_at, original.text),
            ]
            views[seq] = NoteView(
                seq, row.officer_id, emails.get(row.officer_id), row.written_at, texts[seq], earlier
            )
        else:
            views[seq] = NoteView(
                seq, row.officer_id, emails.get(row.officer_id), row.written_at, texts[seq]
            )
    return [views[seq] for seq in sorted(views)], intact


def find_note(session: Session, case: Case, seq: int) -> Note:
    """A note of the case by its position; raise NotFound."""
    note = session.scalars(select(Note).where(Note.case_id == case.id, Note.seq == seq)).first()
    if note is None:
        raise NotFound("no such note")
    return note


def note_text(note: Note, secret: cases.CaseSecret) -> str:
    """One note's text; raise DecryptionError if it was altered."""
    return aead.decrypt(note_key(secret), note.body, note_context(note)).decode("utf-8")
