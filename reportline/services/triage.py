"""The officer's side of a case: opening it, moving its status, writing to the reporter.

Statuses form a small state machine (`TRANSITIONS`). A fuller workflow can add
states or rules here without touching views: each change is recorded with who,
when and a sealed reason, authenticated under the case's MAC key, and audited.
"""

from __future__ import annotations

import hashlib
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
from reportline.models import Case, Officer, StatusChange
from reportline.services import audit, cases, deadlines, dialogue
from reportline.services.errors import InvalidTransition
from reportline.services.keyring import UnitKeyring

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
    """One status change, checked and decrypted."""

    from_status: str
    to_status: str
    officer_email: str | None
    changed_at: datetime
    reason: str = field(repr=False)


@dataclass(frozen=True)
class OpenedCase:
    """Everything an officer sees on a case page."""

    case_id: int
    reference: str
    status: str
    received_on: date
    acknowledged_on: date | None
    report: dict[str, Any] = field(repr=False)
    dialogue: list[dialogue.DialogueEntry]
    history: list[StatusEntry]
    next_statuses: tuple[str, ...]
    acknowledge_by: date
    feedback_by: date
    acknowledgement_overdue: bool
    officer_emails: dict[int, str]


def _reason_context(case_id: int, change_id: int) -> bytes:
    return context("status-reason", case=case_id, change=change_id)


def status_change_mac(mac_key: bytes, change: StatusChange) -> bytes:
    """The MAC over who moved the case, from what to what, when, and the sealed reason."""
    header = context(
        "status-mac",
        case=change.case_id,
        change=change.id,
        seq=change.seq,
        from_status=change.from_status,
        to_status=change.to_status,
        officer=change.officer_id if change.officer_id is not None else "-",
        at=change.changed_at.isoformat(),
    )
    sealed = hashlib.sha256(change.reason or b"").digest()
    return hmac.new(mac_key, header + sealed, "sha256").digest()


def _history(
    session: Session,
    case: Case,
    keys: cases.CaseKeys,
    secret: cases.CaseSecret,
    emails: dict[int, str],
) -> list[StatusEntry]:
    """Check and decrypt the status history: every MAC, positions 1..n, and that the
    case's current status is where the history ends. Raises DecryptionError."""
    case_id = case.id
    case_key = secret.private_key()
    changes = session.scalars(
        select(StatusChange).where(StatusChange.case_id == case_id).order_by(StatusChange.seq)
    ).all()
    if [c.seq for c in changes] != list(range(1, case.status_change_count + 1)):
        raise DecryptionError("the status history has a missing or extra entry")
    if case.status != (changes[-1].to_status if changes else "received"):
        raise DecryptionError("the case status does not match its history")
    history = []
    for change in changes:
        if not hmac.compare_digest(change.mac, status_change_mac(keys.mac_key, change)):
            raise DecryptionError("a status change failed its integrity check")
        reason = ""
        if change.reason:
            reason = open_envelope(
                change.reason, Recipient.CASE, case_key, _reason_context(case_id, change.id)
            ).decode("utf-8")
        history.append(
            StatusEntry(
                from_status=change.from_status,
                to_status=change.to_status,
                officer_email=emails.get(change.officer_id) if change.officer_id else None,
                changed_at=change.changed_at,
                reason=reason,
            )
        )
    return history


def open_case(
    session: Session, case_id: int, keyring: UnitKeyring, officer: Officer, now: datetime
) -> OpenedCase:
    """Check and decrypt a case, mark the reporter's replies read and audit the view.

    Raises NotFound, NoKeyAccess, or DecryptionError when anything stored was altered.
    """
    case = cases.get_case(session, case_id)
    secret = cases.open_case_secret(case, keyring)
    keys = cases.keys_for_officer(secret, case)
    report = cases.open_report(secret, case)
    entries = dialogue.read_dialogue(
        session, case, Recipient.CASE, secret.private_key(), keys.mac_key
    )
    emails = {row.id: row.email for row in session.execute(select(Officer.id, Officer.email))}
    history = _history(session, case, keys, secret, emails)
    if case.unread_by_unit:
        dialogue.mark_read_by_unit(session, case)
    audit.record(session, officer.email, "case.viewed", now, case_id=case.id)
    return OpenedCase(
        case_id=case.id,
        reference=cases.reference(case.id),
        status=case.status,
        received_on=case.received_on,
        acknowledged_on=case.acknowledged_on,
        report=report,
        dialogue=entries,
        history=history,
        next_statuses=TRANSITIONS[case.status],
        acknowledge_by=deadlines.acknowledge_by(case.received_on),
        feedback_by=deadlines.feedback_by(case.acknowledged_on, case.received_on),
        acknowledgement_overdue=deadlines.acknowledgement_overdue(
            case.status, case.received_on, now.date()
        ),
        officer_emails=emails,
    )


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
    MessageInvalid for an over-long reason, NoKeyAccess without the case key.
    """
    case = cases.get_case(session, case_id, for_update=True)
    secret = cases.open_case_secret(case, keyring)
    keys = cases.keys_for_officer(secret, case)
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
    change.mac = status_change_mac(keys.mac_key, change)
    session.add(change)
    # Any decision about a new case acknowledges it, closing it included, so a case
    # closed unacknowledged and reopened later still starts its feedback clock.
    if case.acknowledged_on is None:
        case.acknowledged_on = now.date()
    case.status = to_status
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
) -> None:
    """Send the reporter a message (or the outcome to share), sealed to them and the unit.

    Raises MessageInvalid for an empty or over-long message, NoKeyAccess without
    the case key, DecryptionError if the case's public keys were replaced.
    """
    text = dialogue.clean_message(text)
    case = cases.get_case(session, case_id, for_update=True)
    keys = cases.keys_for_officer(cases.open_case_secret(case, keyring), case)
    dialogue.add_message(
        session, case, "officer", text, now.date(), keys, officer_id=officer.id, kind=kind
    )
    audit.record(session, officer.email, "case.message_sent", now, case_id=case.id, kind=kind)
