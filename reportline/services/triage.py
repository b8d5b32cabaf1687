"""The officer's side of a case: opening it, moving its status, writing to the reporter.

Statuses form a small state machine (`TRANSITIONS`). A fuller workflow can add
states or rules here without touching views: each change is recorded with who,
when and a sealed reason, authenticated under the case's MAC key, and audited.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from reportline.crypto.context import context
from reportline.crypto.envelope import Recipient, open_envelope, seal_envelope
from reportline.crypto.errors import DecryptionError
from reportline.db import random_id
from reportline.models import Case, Message, Officer, StatusChange
from reportline.models.case import PRIORITY_NOT_SET
from reportline.services import (
    audit,
    case_checks,
    case_record,
    cases,
    deadlines,
    dialogue,
    evidence,
    ledger,
)
from reportline.services.case_checks import (
    CaseTampered,
    Fault,
    ItemProblem,
    out_of_place,
    positions_to_show,
)
from reportline.services.errors import InvalidTransition
from reportline.services.evidence_store import DatabaseChunkStore
from reportline.services.keyring import UnitKeyring
from reportline.services.triage_record import RecordVersion, TriageRecordData

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "received": ("acknowledged", "closed"),
    "acknowledged": ("assessing", "investigating", "referred", "closed"),
    "assessing": ("investigating", "referred", "closed"),
    "investigating": ("assessing", "referred", "closed"),
    "referred": ("investigating", "closed"),
    "closed": ("assessing",),
}
MAX_REASON_LENGTH = 2000


@dataclass(frozen=True)
class StatusEntry:
    """One status change, checked and decrypted, or marked with why it cannot be shown."""

    from_status: str
    to_status: str
    officer_email: str | None
    changed_at: datetime | None
    reason: str = field(repr=False)
    problem: ItemProblem | None = None


@dataclass(frozen=True)
class OpenedCase:
    """Everything an officer sees on a case page."""

    case_id: int
    reference: str
    status: str
    received_on: date
    acknowledged_on: date | None
    report: dict[str, Any] | None = field(repr=False)
    dialogue: list[dialogue.DialogueEntry]
    history: list[StatusEntry]
    next_statuses: tuple[str, ...]
    acknowledge_by: date
    feedback_by: date
    acknowledgement_overdue: bool
    officer_emails: dict[int, str]
    # What failed its check; a case with faults is shown, but takes no writes.
    faults: frozenset[Fault] = frozenset()
    # The unit's own record: the triage record (None if it failed its check), its
    # versions, notes, priority, owner and the next deadline.
    record: TriageRecordData | None = field(default=None, repr=False)
    record_versions: list[RecordVersion] = field(default_factory=list)
    triage_version: int = 0
    notes: list[case_record.NoteView] = field(default_factory=list)
    priority: int = PRIORITY_NOT_SET
    assignee_id: int | None = None
    assignee_declared: bool = False
    due_on: date | None = None
    due_state: str | None = None
    feedback_given_on: date | None = None
    was_referred: bool = False
    # Replies no officer had read when the case was read (`read_case` leaves them so).
    unread_replies: int = 0
    # The evidence files, each checked (services.evidence); one failing is a fault.
    evidence: list[evidence.EvidenceItem] = field(default_factory=list)

    @property
    def writable(self) -> bool:
        """Whether officers may add to the case (every check passed)."""
        return not self.faults


def _reason_context(case_id: int, change_id: int) -> bytes:
    return context("status-reason", case=case_id, change=change_id)


def _history(
    session: Session, case: Case, secret: cases.CaseSecret, emails: dict[int, str]
) -> tuple[list[StatusEntry], bool]:
    """Check and decrypt the status history; return it and whether all of it is intact.

    Each change is checked on its own (its MAC, its sealed reason); positions
    must run 1..n (n = the case's count) and the case's status must be where the
    history ends.
    """
    case_key = secret.private_key()
    mac_key = secret.mac_key()
    changes = session.scalars(
        select(StatusChange).where(StatusChange.case_id == case.id).order_by(StatusChange.seq)
    ).all()
    by_seq = {c.seq: c for c in changes}
    history = []
    for seq in positions_to_show(set(by_seq), case.status_change_count):
        change = by_seq.get(seq)
        if change is None:
            history.append(StatusEntry("", "", None, None, "", ItemProblem.MISSING))
            continue
        reason: str | None = ""
        if not hmac.compare_digest(change.mac, case_checks.status_change_mac(mac_key, change)):
            reason = None
        elif change.reason:
            try:
                reason = open_envelope(
                    change.reason, Recipient.CASE, case_key, _reason_context(case.id, change.id)
                ).decode("utf-8")
            except (DecryptionError, UnicodeDecodeError):
                reason = None
        if reason is None or out_of_place(seq, case.status_change_count):
            problem = ItemProblem.ALTERED if reason is None else ItemProblem.UNEXPECTED
            history.append(StatusEntry("", "", None, None, "", problem))
            continue
        history.append(
            StatusEntry(
                from_status=change.from_status,
                to_status=change.to_status,
                officer_email=emails.get(change.officer_id) if change.officer_id else None,
                changed_at=change.changed_at,
                reason=reason,
            )
        )
    ends_at = changes[-1].to_status if changes else "received"
    intact = all(entry.problem is None for entry in history) and case.status == ends_at
    return history, intact


def open_case(
    session: Session, case_id: int, keyring: UnitKeyring, officer: Officer, now: datetime
) -> OpenedCase:
    """Check and decrypt a case as far as its checks allow, mark the reporter's replies
    read and audit the view (and any failed check), in the caller's transaction.

    Raises NotFound or NoKeyAccess. Anything stored that was altered is marked in
    what is returned (`faults`, and each message or change), never raised.
    """
    case = cases.get_case(session, case_id)
    if case.unread_by_unit:
        # Replies will be marked read: lock first, so none can arrive between reading
        # the conversation and marking it (it would be marked read unseen).
        case = cases.get_case(session, case_id, for_update=True)
    opened = _read(session, case, keyring, now)
    if not opened.faults and case.unread_by_unit:
        dialogue.mark_read_by_unit(session, case)
    record_case_view(session, opened, officer, now)
    return opened


def read_case(session: Session, case_id: int, keyring: UnitKeyring, now: datetime) -> OpenedCase:
    """What `open_case` shows, without writing or locking anything (for a read-only
    transaction; `record_case_view` audits it after). Its replies stay unread: a case
    with `unread_replies` is opened with `open_case`.

    Raises NotFound or NoKeyAccess.
    """
    return _read(session, cases.get_case(session, case_id), keyring, now)


def record_case_view(session: Session, opened: OpenedCase, officer: Officer, now: datetime) -> None:
    """Audit that the officer saw the case, and any check it failed."""
    if opened.faults:
        audit.record(
            session,
            officer.email,
            "case.integrity_failed",
            now,
            case_id=opened.case_id,
            checks=sorted(f.name.lower() for f in opened.faults),
        )
    audit.record(session, officer.email, "case.viewed", now, case_id=opened.case_id)


def _read(session: Session, case: Case, keyring: UnitKeyring, now: datetime) -> OpenedCase:
    """Check and decrypt everything stored about the case."""
    checked = case_checks.check_as_unit(case, keyring)
    faults = set(checked.faults)
    emails = {row.id: row.email for row in session.execute(select(Officer.id, Officer.email))}
    entries: list[dialogue.DialogueEntry] = []
    history: list[StatusEntry] = []
    record_versions: list[RecordVersion] = []
    notes: list[case_record.NoteView] = []
    files: list[evidence.EvidenceItem] = []
    if checked.secret is not None:
        secret = checked.secret
        entries = dialogue.read_dialogue(
            session, case, Recipient.CASE, secret.private_key(), secret.mac_key()
        )
        if not dialogue.dialogue_intact(entries):
            faults.add(Fault.MESSAGES)
        history, history_intact = _history(session, case, secret, emails)
        if not history_intact:
            faults.add(Fault.HISTORY)
        record_versions, record_intact = case_record.record_history(session, case, secret, emails)
        if not record_intact:
            faults.add(Fault.RECORD)
        notes, notes_intact = case_record.read_notes(session, case, secret, emails)
        if not notes_intact:
            faults.add(Fault.NOTES)
        files, files_intact = evidence.read_evidence(
            session,
            DatabaseChunkStore(session),
            case,
            Recipient.CASE,
            secret.private_key(),
            secret.mac_key(),
        )
        if not files_intact:
            faults.add(Fault.EVIDENCE)
    return OpenedCase(
        case_id=case.id,
        reference=cases.reference(case.id),
        status=case.status,
        received_on=case.received_on,
        acknowledged_on=case.acknowledged_on,
        report=checked.report,
        dialogue=entries,
        history=history,
        next_statuses=TRANSITIONS.get(case.status, ()),
        acknowledge_by=deadlines.acknowledge_by(case.received_on),
        feedback_by=deadlines.feedback_by(case.acknowledged_on, case.received_on),
        acknowledgement_overdue=deadlines.acknowledgement_overdue(
            case.status, case.received_on, now.date()
        ),
        officer_emails=emails,
        faults=frozenset(faults),
        record=_newest(record_versions, case.triage_version),
        record_versions=record_versions,
        triage_version=case.triage_version,
        notes=notes,
        priority=case.priority,
        assignee_id=case.assignee_id,
        assignee_declared=case.assignee_declared_on is not None,
        due_on=case.due_on,
        due_state=deadlines.due_state(case.due_on, now.date()),
        feedback_given_on=case.feedback_given_on,
        was_referred=any(entry.to_status == "referred" for entry in history),
        unread_replies=case.unread_by_unit,
        evidence=files,
    )


def _newest(versions: list[RecordVersion], count: int) -> TriageRecordData | None:
    """The newest version's content (empty before the first; None if it failed)."""
    if not count:
        return TriageRecordData()
    newest = next((v for v in versions if v.version == count), None)
    return newest.data if newest else None


def intact_keys(session: Session, case: Case, keyring: UnitKeyring) -> cases.CaseKeys:
    """The keys to add to a case whose every stored value passed its check.

    Raises CaseTampered (naming what failed), NoKeyAccess.
    """
    checked = case_checks.check_as_unit(case, keyring)
    faults = set(checked.faults)
    if checked.secret is not None:
        secret = checked.secret
        messages = session.scalars(select(Message).where(Message.case_id == case.id)).all()
        if not dialogue.messages_intact(list(messages), case, secret.mac_key()):
            faults.add(Fault.MESSAGES)
        if not _history(session, case, secret, {})[1]:
            faults.add(Fault.HISTORY)
        if not case_record.record_history(session, case, secret, {})[1]:
            faults.add(Fault.RECORD)
        if not case_record.read_notes(session, case, secret, {})[1]:
            faults.add(Fault.NOTES)
        files, _intact = evidence.read_evidence(
            session,
            DatabaseChunkStore(session),
            case,
            Recipient.CASE,
            secret.private_key(),
            secret.mac_key(),
        )
        # A file whose chunks are missing is shown as such; it does not stop casework.
        if any(item.problem is not None for item in files):
            faults.add(Fault.EVIDENCE)
    if faults:
        raise CaseTampered(frozenset(faults))
    return checked.keys


def change_status(
    session: Session,
    keyring: UnitKeyring,
    case_id: int,
    to_status: str,
    reason: str,
    officer: Officer,
    now: datetime,
) -> StatusChange:
    """Move a case to `to_status`, recording who, when and (sealed) why.

    Raises InvalidTransition if the state machine does not allow the move,
    MessageInvalid for an over-long reason, NoKeyAccess without the case key,
    CaseTampered if anything stored about the case failed its check.
    """
    case = cases.get_case(session, case_id, for_update=True)
    keys = intact_keys(session, case, keyring)
    if to_status not in TRANSITIONS.get(case.status, ()):
        raise InvalidTransition(f"a {case.status} case cannot become {to_status}")
    reason = reason.strip()
    if len(reason) > MAX_REASON_LENGTH:
        raise dialogue.MessageInvalid(f"the reason is longer than {MAX_REASON_LENGTH} characters")
    case.status_change_count += 1
    change = StatusChange(
        id=random_id(),
        case_id=case.id,
        seq=case.status_change_count,
        from_status=case.status,
        to_status=to_status,
        officer_id=officer.id,
        changed_at=now.replace(microsecond=0),
    )
    if reason:
        change.reason = seal_envelope(
            reason.encode("utf-8"),
            {Recipient.CASE: keys.case_public},
            _reason_context(case.id, change.id),
        )
    change.mac = case_checks.status_change_mac(keys.mac_key, change)
    session.add(change)
    # Any decision about a new case acknowledges it, closing it included, so a case
    # closed unacknowledged and reopened later still starts its feedback clock.
    if case.acknowledged_on is None:
        case.acknowledged_on = now.date()
    was_in_queue = ledger.needs_attention(case)
    case.status = to_status
    ledger.adjust(session, before=was_in_queue, after=ledger.needs_attention(case))
    case.status_changed_on = now.date()
    cases.seal_state(case, keys.mac_key)
    session.flush()
    audit.record(
        session,
        officer.email,
        "case.status_changed",
        now,
        case_id=case.id,
        from_status=change.from_status,
        to_status=to_status,
    )
    return change


def write_to_reporter(
    session: Session,
    keyring: UnitKeyring,
    case_id: int,
    text: str,
    officer: Officer,
    now: datetime,
    kind: str = "message",
    is_feedback: bool = False,
) -> None:
    """Send the reporter a message (or the outcome to share), sealed to them and the unit;
    `is_feedback` records it as the feedback the reporter is owed.

    Raises MessageInvalid for an empty or over-long message, NoKeyAccess without
    the case key, CaseTampered if anything stored about the case failed its check.
    """
    text = dialogue.clean_message(text)
    case = cases.get_case(session, case_id, for_update=True)
    keys = intact_keys(session, case, keyring)
    if is_feedback and case.feedback_given_on is None:
        # The feedback the reporter is owed: its deadline is met (add_message re-seals).
        case.feedback_given_on = now.date()
    dialogue.add_message(
        session, case, "officer", text, now.date(), keys, officer_id=officer.id, kind=kind
    )
    audit.record(
        session,
        officer.email,
        "case.message_sent",
        now,
        case_id=case.id,
        kind=kind,
        feedback=is_feedback,
    )
