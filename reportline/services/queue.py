"""The officers' queue: a page of cases, newest first, decrypted just enough to triage.

Only the cases on the page are opened (one HPKE open and one AES decryption
each) and checked (state, report, every message and status change MAC), so
the page costs the same with a hundred cases or a hundred thousand. A case
this officer cannot open, or that fails any check, is listed as such instead
of hiding the rest of the queue.

Views: "open" (the default: open cases and closed ones with unread replies,
the flood group apart), one status, "all", and "flood" (every flood-marked
case). The default view also counts the flood group and checks the queue
ledger (`services.ledger`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from reportline.models import Case, Message, Officer, StatusChange
from reportline.models.case import STATUSES
from reportline.services import audit, case_checks, cases, deadlines, dialogue, ledger
from reportline.services.keyring import UnitKeyring
from reportline.services.ledger import LedgerCheck

OPEN_STATUSES = tuple(s for s in STATUSES if s != "closed")
OPEN = "open"
FLOOD = "flood"
VIEWS = (OPEN, *STATUSES, "all", FLOOD)


class CaseProblem(Enum):
    """Why a queue row shows no report details."""

    INTEGRITY = "a stored value failed its integrity check"


@dataclass(frozen=True)
class QueueRow:
    """One line of the queue. `category` is None when the case could not be opened."""

    case_id: int
    reference: str
    received_on: date
    category: str | None
    at_risk: str | None
    status: str
    acknowledgement_overdue: bool
    unread_replies: int
    possible_flood: bool = False
    problem: CaseProblem | None = None

    @property
    def tampered(self) -> bool:
        """Whether something stored about the case failed its check."""
        return self.problem is CaseProblem.INTEGRITY


@dataclass(frozen=True)
class QueuePage:
    """A page of the queue with enough to draw pagination.

    On the default view, `flood_waiting` counts flood-marked cases that need
    attention (listed in the "flood" view) and `ledger` compares the queue with
    the MAC'd count of cases that need attention.
    """

    rows: list[QueueRow]
    page: int
    pages: int
    total: int
    flood_waiting: int = 0
    ledger: LedgerCheck | None = None


def queue_page(
    session: Session,
    keyring: UnitKeyring,
    viewer: Officer,
    now: datetime,
    page: int,
    page_size: int,
    view: str = OPEN,
) -> QueuePage:
    """Newest cases first in one of `VIEWS`; audited.

    "open" also lists closed cases with replies no officer has read yet: a
    reporter may still write after a case is closed, and nothing they send may
    go unseen. Its flood-marked cases are counted, and listed in "flood".
    """
    where: list[Any] = []
    flood_waiting = 0
    ledger_check = None
    if view == OPEN:
        # Paged in date order through ix_cases_queue, which holds every column the
        # condition reads (an OR of two indexable terms lets SQLite sort every open
        # case instead); counted in index-only parts, the flood group through its
        # own small partial index.
        where += [or_(Case.status != "closed", Case.unread_by_unit > 0), ~Case.possible_flood]
        open_total, flood_waiting, ledger_check = _attention_snapshot(session)
        total = open_total - flood_waiting
    else:
        if view in STATUSES:
            where.append(Case.status == view)
        elif view == FLOOD:
            where.append(Case.possible_flood)
        total = _count(session, *where)
    pages = max(1, -(-total // page_size))
    page = min(max(page, 1), pages)
    # Page through an index alone, then load only the page's rows: skipping
    # thousands of multi-kilobyte rows is what made deep pages slow.
    ids = session.scalars(
        select(Case.id)
        .where(*where)
        .order_by(Case.received_on.desc(), Case.id.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    ).all()
    by_id = {case.id: case for case in session.scalars(select(Case).where(Case.id.in_(ids)))}
    found = [by_id[case_id] for case_id in ids]
    audit.record(session, viewer.email, "queue.viewed", now, page=page, status=view)
    rows = _rows(session, found, keyring, now.date())
    for row in rows:
        if row.tampered:
            audit.record(session, viewer.email, "case.integrity_failed", now, case_id=row.case_id)
    return QueuePage(rows, page, pages, total, flood_waiting, ledger_check)


def _count(session: Session, *where: Any) -> int:
    return session.scalar(select(func.count()).select_from(Case).where(*where)) or 0


def _rows(session: Session, found: list[Case], keyring: UnitKeyring, today: date) -> list[QueueRow]:
    """The page's rows, each case checked in full (messages and history by MAC)."""
    ids = [case.id for case in found]
    messages: dict[int, list[Message]] = defaultdict(list)
    for message in session.scalars(select(Message).where(Message.case_id.in_(ids))):
        messages[message.case_id].append(message)
    changes: dict[int, list[StatusChange]] = defaultdict(list)
    for change in session.scalars(select(StatusChange).where(StatusChange.case_id.in_(ids))):
        changes[change.case_id].append(change)
    return [_row(case, keyring, today, messages[case.id], changes[case.id]) for case in found]


def _row(
    case: Case,
    keyring: UnitKeyring,
    today: date,
    messages: list[Message],
    changes: list[StatusChange],
) -> QueueRow:
    category: str | None = None
    at_risk: str | None = None
    problem: CaseProblem | None = None
    checked = case_checks.check_as_unit(case, keyring)
    secret = checked.secret
    if (
        checked.faults
        or secret is None
        or checked.report is None
        or not dialogue.messages_intact(messages, case, secret.mac_key())
        or not case_checks.history_intact(changes, case, secret.mac_key())
    ):
        problem = CaseProblem.INTEGRITY
    else:
        category, at_risk = checked.report["category"], checked.report["at_risk"]
    return QueueRow(
        case_id=case.id,
        reference=cases.reference(case.id),
        received_on=case.received_on,
        category=category,
        at_risk=at_risk,
        status=case.status,
        acknowledgement_overdue=deadlines.acknowledgement_overdue(
            case.status, case.received_on, today
        ),
        unread_replies=case.unread_by_unit,
        possible_flood=case.possible_flood,
        problem=problem,
    )


def _attention_snapshot(session: Session) -> tuple[int, int, LedgerCheck]:
    """Cases needing attention, how many of them are flood-marked, and the ledger's check,
    all read in one statement, so one snapshot (a report committed between separate
    counts would read as a case gone missing)."""

    def count(*where: Any) -> Any:
        return select(func.count()).select_from(Case).where(*where).scalar_subquery()

    needs_attention = or_(Case.status != "closed", Case.unread_by_unit > 0)
    counted, mac = ledger.ledger_columns()
    row = session.execute(
        select(
            count(Case.status.in_(OPEN_STATUSES)),
            count(Case.status == "closed", Case.unread_by_unit > 0),
            count(Case.possible_flood, needs_attention),
            counted,
            mac,
        )
    ).one()
    found = int(row[0]) + int(row[1])
    return found, int(row[2]), ledger.compare(session, row[3], row[4], found)


def ledger_state(session: Session) -> LedgerCheck:
    """The queue ledger compared with the cases that need attention now."""
    return _attention_snapshot(session)[2]


def recount_ledger(session: Session, by: Officer, now: datetime) -> int:
    """Set the ledger to the cases that need attention now (a supervisor, after finding
    what was altered); audited. Returns the count."""
    ledger.start(session, 0)  # locks the ledger row, so no case moves while counting
    count = _attention_snapshot(session)[0]
    ledger.start(session, count)
    audit.record(session, by.email, "queue_ledger.recounted", now, attention=count)
    return count


def start_ledger_if_missing(session: Session, actor: str, now: datetime) -> bool:
    """Start the ledger at the cases that need attention now, if it has never been
    started (an instance upgraded from before it existed); audited. Returns whether."""
    counted, _mac = ledger.ledger_columns()
    if session.execute(select(counted)).scalar() is not None:
        return False
    ledger.start(session, 0)
    count = _attention_snapshot(session)[0]
    ledger.start(session, count)
    audit.record(session, actor, "queue_ledger.started", now, attention=count)
    return True
