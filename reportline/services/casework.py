"""The unit's working record of a case: the triage record, its owner, notes, feedback.

Everything an officer types here is sealed under keys derived from the case
secret; the priority rank, the owner and the deadlines are on the case row in
clear for the queue. Every change is audited by action and field names, never
values, and each audit entry names one case.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from reportline.crypto import aead
from reportline.db import random_id
from reportline.models import Case, Note, Officer, StatusChange
from reportline.models.case import PRIORITIES, PRIORITY_NOT_SET
from reportline.services import (
    audit,
    case_record,
    cases,
    keyring,
    restriction,
    roles,
    triage,
    triage_index,
)
from reportline.services.errors import AccessDenied, NotFound, ServiceError
from reportline.services.keyring import UnitKeyring
from reportline.services.triage_record import (
    MAX_LINKS,
    MAX_SHORT_TEXT,
    OUTCOMES,
    REFERRAL_BODIES,
    REVERSE_LINK,
    Link,
    RecordInvalid,
    TriageRecordData,
    validate,
)

MAX_NOTE_LENGTH = 5000


class StaleForm(ServiceError):
    """Someone else changed the case since the form was shown: nothing was saved."""


class CannotOwn(ServiceError):
    """The officer cannot read reports (no unit key, or deactivated), so owns no case."""


class NoteInvalid(ServiceError):
    """A note is empty, too long, or corrects a note that is not there."""


# ---------------------------------------------------------------- the triage record


def save_record(
    session: Session,
    unit_keys: UnitKeyring,
    case_id: int,
    data: TriageRecordData,
    priority: str,
    expected_version: int,
    national_categories: tuple[str, ...],
    officer: Officer,
    now: datetime,
) -> list[str]:
    """Save a new version of the record and the case's priority; return the names of the
    fields that changed.

    Links to other cases are made both ways: each linked case gets a version of its
    own record naming this one. Raises RecordInvalid naming bad fields, StaleForm
    when the record changed since `expected_version` was shown, NotFound for a
    linked case that does not exist, CaseTampered, NoKeyAccess.
    """
    validate(data, national_categories)
    if priority and priority not in PRIORITIES:
        raise RecordInvalid({"priority": "Choose high, medium or low"})
    data = _without_self_links(data, case_id)
    # Every case this save touches is locked up front, in id order, so two saves that
    # link the same cases from either end wait for each other instead of deadlocking.
    unlocked = cases.get_case(session, case_id)
    if unlocked.triage_version != expected_version:
        raise StaleForm("the triage record was changed since this form was shown")
    shown = case_record.current_record(
        session, unlocked, cases.open_case_secret(unlocked, unit_keys)
    )
    # A case linked before may since have been deleted (a flood report): only a link
    # being added must exist; a removed one is mirrored to whatever is still there.
    adding = {x.case_id for x in data.links} - {x.case_id for x in shown.links}
    existing = _lock_cases(session, {case_id, *(x.case_id for x in data.links + shown.links)})
    if not adding <= existing or any(
        restriction.hidden_from(session, other, unit_keys) for other in adding
    ):
        raise NotFound("a linked case does not exist")
    case = cases.get_case(session, case_id, for_update=True)
    if case.triage_version != expected_version:
        raise StaleForm("the triage record was changed since this form was shown")
    keys = triage.intact_keys(session, case, unit_keys)
    secret = cases.open_case_secret(case, unit_keys)
    before = case_record.current_record(session, case, secret)
    # The outcome is set only by closing the case; an edit of the record keeps it.
    data = replace(
        data,
        outcome=before.outcome,
        outcome_rationale=before.outcome_rationale,
        referral_body=before.referral_body,
        referral_reference=before.referral_reference,
    )
    changed = data.changed_fields(before)
    rank = PRIORITIES.get(priority, PRIORITY_NOT_SET)
    if rank != case.priority:
        changed.append("priority")
        case.priority = rank
    if not changed:
        return []
    case_record.write_version(session, case, secret, data, officer, now)
    cases.seal_state(case, keys.mac_key)
    if case.access == cases.UNIT_ACCESS:  # a restricted case's categories stay out of it
        triage_index.record(
            session, unit_keys, case.unit_key_id, case.id, data.categories, data.risk_flags
        )
    session.flush()
    audit.record(
        session, officer.email, "case.triage_recorded", now, case_id=case.id, fields=changed
    )
    # Each other case gets the final state of its link (at most one per case): the
    # reverse kind, or none.
    final = {x.case_id: x.kind for x in data.links}
    for other_id in sorted(final.keys() | {x.case_id for x in before.links}):
        if other_id in existing:
            _mirror_link(session, unit_keys, case.id, other_id, final.get(other_id), officer, now)
    return changed


def _lock_cases(session: Session, case_ids: set[int]) -> set[int]:
    """Lock these cases' rows in id order; return the ids that exist."""
    return set(
        session.scalars(
            select(Case.id).where(Case.id.in_(case_ids)).order_by(Case.id).with_for_update()
        ).all()
    )


def _without_self_links(data: TriageRecordData, case_id: int) -> TriageRecordData:
    return replace(data, links=tuple(link for link in data.links if link.case_id != case_id))


def _mirror_link(
    session: Session,
    unit_keys: UnitKeyring,
    from_case: int,
    other_id: int,
    kind: str | None,
    officer: Officer,
    now: datetime,
) -> None:
    """Make the other case's link back to `from_case` the reverse of `kind` (None: no
    link), in its own record. Raises RecordInvalid if that case already links MAX_LINKS
    others.

    Its audit entry names only that case: no entry ever names two cases. A link
    from or to a restricted case is kept on its own side only.
    """
    other = cases.get_case(session, other_id, for_update=True)
    this = cases.get_case(session, from_case)
    if other.access != cases.UNIT_ACCESS or this.access != cases.UNIT_ACCESS:
        # Mirrored only between two cases the whole unit reads: otherwise the other
        # case's readers would learn of a case they may not read.
        return
    keys = triage.intact_keys(session, other, unit_keys)
    secret = cases.open_case_secret(other, unit_keys)
    record = case_record.current_record(session, other, secret)
    links = [x for x in record.links if x.case_id != from_case]
    if kind is not None:
        if len(links) >= MAX_LINKS:
            raise RecordInvalid(
                {"links": f"{cases.reference(other_id)} already links {MAX_LINKS} other cases"}
            )
        links.append(Link(from_case, REVERSE_LINK.get(kind, kind)))
    new = replace(record, links=tuple(links))
    if new == record:
        return
    case_record.write_version(session, other, secret, new, officer, now)
    cases.seal_state(other, keys.mac_key)
    session.flush()
    audit.record(
        session, officer.email, "case.triage_recorded", now, case_id=other.id, fields=["links"]
    )


def close_with_outcome(
    session: Session,
    unit_keys: UnitKeyring,
    case_id: int,
    outcome: str,
    rationale: str,
    referral_body: str,
    referral_reference: str,
    officer: Officer,
    now: datetime,
) -> None:
    """Close a case with its outcome and a rationale (sealed in a new version of the
    record; the rationale is also the status change's reason). A case that went
    through "referred" keeps the receiving body and its reference.

    Raises RecordInvalid naming what is missing, InvalidTransition, CaseTampered,
    NoKeyAccess.
    """
    problems: dict[str, str] = {}
    if outcome not in OUTCOMES:
        problems["outcome"] = "Choose the outcome"
    if not rationale.strip():
        problems["reason"] = "Say why the case is closed with this outcome"
    if _was_referred(session, case_id):
        if referral_body not in REFERRAL_BODIES:
            problems["referral_body"] = "Choose the body the case was referred to"
        if not referral_reference.strip():
            problems["referral_reference"] = "Enter the receiving body's reference"
    if len(referral_reference) > MAX_SHORT_TEXT:
        problems["referral_reference"] = f"Use {MAX_SHORT_TEXT} characters or fewer"
    if problems:
        raise RecordInvalid(problems)
    triage.change_status(session, unit_keys, case_id, "closed", rationale, officer, now)
    case = cases.get_case(session, case_id)
    secret = cases.open_case_secret(case, unit_keys)
    data = case_record.current_record(session, case, secret).with_outcome(
        outcome, rationale.strip(), referral_body, referral_reference.strip()
    )
    case_record.write_version(session, case, secret, data, officer, now)
    cases.seal_state(case, secret.mac_key())
    session.flush()
    # The outcome itself is sealed: the entry names the action, never the value.
    audit.record(session, officer.email, "case.outcome_recorded", now, case_id=case.id)


def _was_referred(session: Session, case_id: int) -> bool:
    return (
        session.scalars(
            select(StatusChange.id).where(
                StatusChange.case_id == case_id, StatusChange.to_status == "referred"
            )
        ).first()
        is not None
    )


# ---------------------------------------------------------------- ownership


def assign(
    session: Session, case_id: int, assignee: Officer, by: Officer, declared: bool, now: datetime
) -> None:
    """Make `assignee` the case's owner. Supervisors assign anyone who can read reports;
    an officer may take an unassigned case for themselves. `declared` records the
    assignee's own declaration of no conflict of interest (only they can make it).

    Raises AccessDenied or CannotOwn.
    """
    case = cases.get_case(session, case_id, for_update=True)
    if not roles.is_supervisor(session, by) and (
        assignee.id != by.id or case.assignee_id is not None
    ):
        raise AccessDenied("only a supervisor assigns cases, or an officer takes an unassigned one")
    if not assignee.active or not keyring.holds_unit_key(session, assignee.id):
        raise CannotOwn("they cannot read reports, so they cannot own a case")
    if case.access != cases.UNIT_ACCESS and assignee.id not in restriction.readers(
        session, case.id
    ):
        raise CannotOwn("they may not read this restricted case, so they cannot own it")
    case.assignee_id = assignee.id
    case.assignee_declared_on = now.date() if declared and assignee.id == by.id else None
    audit.record(session, by.email, "case.assigned", now, case_id=case.id, officer=assignee.id)
    if case.assignee_declared_on:
        audit.record(session, by.email, "case.no_conflict_declared", now, case_id=case.id)


def eligible_owners(session: Session, case_id: int | None = None) -> list[Officer]:
    """Active officers who can read reports, by e-mail: who may own a case (with
    `case_id`, that case: a restricted one only its readers)."""
    everyone = session.scalars(
        select(Officer).where(Officer.active.is_(True)).order_by(Officer.email)
    ).all()
    allowed: set[int] | None = None
    if case_id is not None:
        case = cases.get_case(session, case_id)
        if case.access != cases.UNIT_ACCESS:
            allowed = set(restriction.readers(session, case_id))
    return [
        officer
        for officer in everyone
        if keyring.holds_unit_key(session, officer.id)
        and (allowed is None or officer.id in allowed)
    ]


def declare_no_conflict(session: Session, case_id: int, officer: Officer, now: datetime) -> None:
    """The owner confirms they have no conflict of interest in the case."""
    case = cases.get_case(session, case_id, for_update=True)
    if case.assignee_id != officer.id:
        raise AccessDenied("only the case's owner declares for it")
    case.assignee_declared_on = now.date()
    audit.record(session, officer.email, "case.no_conflict_declared", now, case_id=case.id)


def unassign(session: Session, case_id: int, by: Officer, now: datetime) -> None:
    """Return the case to the unassigned (its owner or a supervisor)."""
    case = cases.get_case(session, case_id, for_update=True)
    if case.assignee_id is None:
        return
    if case.assignee_id != by.id and not roles.is_supervisor(session, by):
        raise AccessDenied("only the case's owner or a supervisor gives it back")
    case.assignee_id = None
    case.assignee_declared_on = None
    audit.record(session, by.email, "case.unassigned", now, case_id=case.id)


# ---------------------------------------------------------------- notes


def add_note(
    session: Session,
    unit_keys: UnitKeyring,
    case_id: int,
    text: str,
    officer: Officer,
    now: datetime,
    corrects: int | None = None,
) -> Note:
    """Add an internal note, or a correction of one of the officer's own notes (both
    versions stay). Raises NoteInvalid, AccessDenied, CaseTampered, NoKeyAccess."""
    text = text.strip()
    if not text:
        raise NoteInvalid("write the note")
    if len(text) > MAX_NOTE_LENGTH:
        raise NoteInvalid(f"use {MAX_NOTE_LENGTH:,} characters or fewer")
    case = cases.get_case(session, case_id, for_update=True)
    keys = triage.intact_keys(session, case, unit_keys)
    secret = cases.open_case_secret(case, unit_keys)
    if corrects is not None:
        original = session.scalars(
            select(Note).where(Note.case_id == case.id, Note.seq == corrects)
        ).first()
        if original is None:
            raise NoteInvalid("that note is not on this case")
        if original.officer_id != officer.id:
            raise AccessDenied("an officer corrects only their own notes")
        if session.scalars(
            select(Note.id).where(Note.case_id == case.id, Note.corrects == corrects)
        ).first():
            raise NoteInvalid("that note was corrected meanwhile: correct the newer version")
    case.note_count += 1
    note = Note(
        id=random_id(),
        case_id=case.id,
        seq=case.note_count,
        officer_id=officer.id,
        written_at=now.replace(microsecond=0),
        corrects=corrects,
        body=b"",
    )
    note.body = aead.encrypt(
        case_record.note_key(secret), text.encode("utf-8"), case_record.note_context(note)
    )
    session.add(note)
    cases.seal_state(case, keys.mac_key)
    session.flush()
    action = "case.note_corrected" if corrects else "case.note_added"
    audit.record(session, officer.email, action, now, case_id=case.id, note=note.seq)
    return note
