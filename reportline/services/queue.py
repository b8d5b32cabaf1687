"""The officers' queue: a page of cases, newest first, decrypted just enough to triage.

Only the cases on the page are opened (one HPKE open and one AES decryption
each), so the page costs the same with a hundred cases or a hundred thousand.
A case this officer cannot open, or whose ciphertext fails its check, is
listed as such instead of hiding the rest of the queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from reportline.crypto.errors import DecryptionError
from reportline.models import Case, Officer
from reportline.models.case import STATUSES
from reportline.services import audit, cases, deadlines
from reportline.services.errors import NoKeyAccess
from reportline.services.keyring import UnitKeyring

OPEN_STATUSES = tuple(s for s in STATUSES if s != "closed")


class CaseProblem(Enum):
    """Why a queue row shows no report details."""

    NO_ACCESS = "the officer holds no key that opens the case"
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
    problem: CaseProblem | None = None

    @property
    def restricted(self) -> bool:
        """Whether this officer may not open the case."""
        return self.problem is CaseProblem.NO_ACCESS

    @property
    def tampered(self) -> bool:
        """Whether something stored about the case failed its check."""
        return self.problem is CaseProblem.INTEGRITY


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
    viewer: Officer,
    now: datetime,
    page: int,
    page_size: int,
    status: str | None = None,
) -> QueuePage:
    """Newest cases first; `status` is a status, "open", or None for all. Audited.

    "open" also lists closed cases with replies no officer has read yet: a
    reporter may still write after a case is closed, and nothing they send may
    go unseen.
    """
    where: list[Any] = []
    if status == "open":
        # Paged in date order through ix_cases_queue, which holds both columns (an
        # OR of two indexable terms here lets SQLite sort every open case instead);
        # counted in two parts, each answered by an index alone.
        where.append(or_(Case.status != "closed", Case.unread_by_unit > 0))
        total = _count(session, Case.status.in_(OPEN_STATUSES)) + _count(
            session, and_(Case.status == "closed", Case.unread_by_unit > 0)
        )
    else:
        if status in STATUSES:
            where.append(Case.status == status)
        total = _count(session, *where)
    pages = max(1, -(-total // page_size))
    page = min(max(page, 1), pages)
    # Page through the index alone (it holds date, id, status and unread replies),
    # then load only the page's rows: skipping thousands of multi-kilobyte rows is
    # what made deep pages slow.
    ids = session.scalars(
        select(Case.id)
        .where(*where)
        .order_by(Case.received_on.desc(), Case.id.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    ).all()
    by_id = {case.id: case for case in session.scalars(select(Case).where(Case.id.in_(ids)))}
    found = [by_id[case_id] for case_id in ids]
    audit.record(session, viewer.email, "queue.viewed", now, page=page, status=status or "all")
    return QueuePage(
        rows=[_row(case, keyring, now.date()) for case in found],
        page=page,
        pages=pages,
        total=total,
    )


def _count(session: Session, *where: Any) -> int:
    return session.scalar(select(func.count()).select_from(Case).where(*where)) or 0


def _row(case: Case, keyring: UnitKeyring, today: date) -> QueueRow:
    category: str | None = None
    at_risk: str | None = None
    problem: CaseProblem | None = None
    try:
        secret = cases.open_case_secret(case, keyring)
        cases.check_state(case, secret.mac_key())
        report = cases.open_report(secret, case)
        category, at_risk = report["category"], report["at_risk"]
    except NoKeyAccess:
        problem = CaseProblem.NO_ACCESS
    except DecryptionError:
        problem = CaseProblem.INTEGRITY
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
        problem=problem,
    )
