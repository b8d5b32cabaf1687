"""The officer's side of a case: the queue, opening a case, status, writing to the reporter.

Statuses form a small state machine (`TRANSITIONS`). A fuller workflow can add
states or rules here without touching views: each change is recorded with who,
when and a sealed reason, and audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from reportline.crypto.context import context
from reportline.crypto.envelope import Recipient, open_envelope, seal_envelope
from reportline.db import random_id
from reportline.models import Case, CaseKeyGrant, Officer, StatusChange
from reportline.models.case import STATUSES
from reportline.services import audit, cases, deadlines
from reportline.services.errors import InvalidTransition, ServiceError
from reportline.services.keyring import UnitKeyring

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "received": ("acknowledged", "closed"),
    "acknowledged": ("assessing", "investigating", "referred", "closed"),
    "assessing": ("investigating", "referred", "closed"),
    "investigating": ("assessing", "referred", "closed"),
    "referred": ("investigating", "closed"),
    "closed": ("assessing",),
}
OPEN_STATUSES = tuple(s for s in STATUSES if s != "closed")
MAX_MESSAGE_LENGTH = 10000
MAX_REASON_LENGTH = 2000


class MessageInvalid(ServiceError):
    """A message is empty or too long."""


@dataclass(frozen=True)
class QueueRow:
    """One line of the queue, decrypted for the officer."""

    case_id: int
    reference: str
    received_on: date
    category: str
    at_risk: str
    status: str
    acknowledgement_overdue: bool
    unread_replies: int


@dataclass(frozen=True)
class QueuePage:
    """A page of the queue with enough to draw pagination."""

    rows: list[QueueRow]
    page: int
    pages: int
    total: int


def queue_page(
    session: Session,
    keyring: UnitKeyring,
    today: date,
    page: int,
    page_size: int,
    status: str | None = None,
) -> QueuePage:
    """Newest cases first; `status` is a status, "open", or None for all."""
    where: list[Any] = []
    if status == "open":
        where.append(Case.status.in_(OPEN_STATUSES))
    elif status in STATUSES:
        where.append(Case.status == status)
    total = session.scalar(select(func.count()).select_from(Case).where(*where)) or 0
    pages = max(1, -(-total // page_size))
    page = min(max(page, 1), pages)
    found = session.scalars(
        select(Case)
        .where(*where)
        .order_by(Case.received_on.desc(), Case.id.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    ).all()
    grants = _unit_grants(session, [c.id for c in found])
    rows = []
    for case in found:
        secret = cases.open_secret_from_grants(grants.get(case.id, []), keyring)
        report = cases.open_report(secret, case)
        rows.append(
            QueueRow(
                case_id=case.id,
                reference=cases.reference(case.id),
                received_on=case.received_on,
                category=report["category"],
                at_risk=report["at_risk"],
                status=case.status,
                acknowledgement_overdue=deadlines.acknowledgement_overdue(
                    case.status, case.received_on, today
                ),
                unread_replies=case.unread_by_unit,
            )
        )
    return QueuePage(rows=rows, page=page, pages=pages, total=total)


def _unit_grants(session: Session, case_ids: list[int]) -> dict[int, list[CaseKeyGrant]]:
    grants: dict[int, list[CaseKeyGrant]] = {}
    if not case_ids:
        return grants
    for grant in session.scalars(
        select(CaseKeyGrant).where(
            CaseKeyGrant.case_id.in_(case_ids), CaseKeyGrant.unit_key_id.is_not(None)
        )
    ):
        grants.setdefault(grant.case_id, []).append(grant)
    return grants


@dataclass(frozen=True)
class StatusEntry:
    """One status change, decrypted."""

    from_status: str
    to_status: str
    officer_email: str | None
    changed_at: datetime
    reason: str


@dataclass(frozen=True)
class OpenedCase:
    """Everything an officer sees on a case page."""

    case: Case
    reference: str
    report: dict[str, Any]
    dialogue: list[cases.DialogueEntry]
    history: list[StatusEntry]
    next_statuses: tuple[str, ...]
    acknowledge_by: date
    feedback_by: date
    acknowledgement_overdue: bool
    officer_emails: dict[int, str]


def _reason_context(case_id: int, change_id: int) -> bytes:
    return context("status-reason", case=case_id, change=change_id)


def open_case(
    session: Session, case_id: int, keyring: UnitKeyring, officer: Officer, now: datetime
) -> OpenedCase:
    """Decrypt a case for an officer, mark the reporter's replies read and audit the view."""
    case = cases.get_case(session, case_id)
    secret = cases.open_case_secret(session, case.id, keyring)
    case_key = secret.private_key()
    report = cases.open_report(secret, case)
    dialogue = cases.read_dialogue(session, case, Recipient.CASE, case_key)
    emails = {row.id: row.email for row in session.execute(select(Officer.id, Officer.email))}
    history = [
        StatusEntry(
            from_status=change.from_status,
            to_status=change.to_status,
            officer_email=emails.get(change.officer_id) if change.officer_id else None,
            changed_at=change.changed_at,
            reason=(
                open_envelope(
                    change.reason, Recipient.CASE, case_key, _reason_context(case.id, change.id)
                ).decode("utf-8")
                if change.reason
                else ""
            ),
        )
        for change in session.scalars(
            select(StatusChange)
            .where(StatusChange.case_id == case.id)
            .order_by(StatusChange.changed_at, StatusChange.id)
        )
    ]
    if case.unread_by_unit:
        cases.mark_read(session, case, "unit")
    audit.record(session, officer.email, "case.viewed", now, case_id=case.id)
    return OpenedCase(
        case=case,
        reference=cases.reference(case.id),
        report=report,
        dialogue=dialogue,
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

    Raises InvalidTransition if the state machine does not allow the move.
    The officer must hold a key to the case (checked by opening its secret).
    """
    case = cases.get_case(session, case_id)
    secret = cases.open_case_secret(session, case.id, keyring)  # also proves access
    if to_status not in TRANSITIONS.get(case.status, ()):
        raise InvalidTransition(f"a {case.status} case cannot become {to_status}")
    reason = reason.strip()
    if len(reason) > MAX_REASON_LENGTH:
        raise MessageInvalid(f"the reason is longer than {MAX_REASON_LENGTH} characters")
    change = StatusChange(
        id=random_id(),
        case_id=case.id,
        from_status=case.status,
        to_status=to_status,
        officer_id=officer.id,
        changed_at=now,
    )
    if reason:
        change.reason = seal_envelope(
            reason.encode("utf-8"),
            {Recipient.CASE: secret.private_key().public_key()},
            _reason_context(case.id, change.id),
        )
    session.add(change)
    if to_status == "acknowledged" and case.acknowledged_on is None:
        case.acknowledged_on = now.date()
    case.status = to_status
    case.status_changed_on = now.date()
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
    """Send the reporter a message (or the outcome to share), sealed to them and the case."""
    case = cases.get_case(session, case_id)
    keys = cases.verified_keys_for_officer(cases.open_case_secret(session, case.id, keyring), case)
    text = text.strip()
    if not text:
        raise MessageInvalid("the message is empty")
    if len(text) > MAX_MESSAGE_LENGTH:
        raise MessageInvalid(f"the message is longer than {MAX_MESSAGE_LENGTH} characters")
    cases.add_message(
        session, case, "officer", text, now.date(), keys, officer_id=officer.id, kind=kind
    )
    audit.record(session, officer.email, "case.message_sent", now, case_id=case.id, kind=kind)
