"""The officers' queue: a page of cases in one view, decrypted just enough to triage.

Only the cases on the page are opened (one HPKE open and one AES decryption
each) and checked (state, report, every message and status change MAC), so
the page costs the same with a hundred cases or a hundred thousand. A case
this officer cannot open, or that fails any check, is listed as such instead
of hiding the rest of the queue.

Which cases a view lists, in what order, is `services.queue_filters`. Every
page also carries the counts of the views officers use most (open, mine,
unassigned, overdue, unread replies), the flood group waiting, and the queue
ledger's check (`services.ledger`), all read in one statement.

`read_queue` only reads: the web view runs it in a read-only transaction
(`db.begin_read_only`), so SQLite's write lock is not held while cases are
opened, and then appends `record_view`'s audit entries in a short write.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import Enum
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from reportline.models import Case, Message, Officer, StatusChange
from reportline.services import (
    audit,
    case_checks,
    cases,
    deadlines,
    dialogue,
    ledger,
    restriction,
    triage_index,
)
from reportline.services.keyring import UnitKeyring
from reportline.services.ledger import LedgerCheck
from reportline.services.queue_filters import (
    ALL,
    FLOOD,
    HEADLINE_VIEWS,
    OPEN,
    OPEN_STATUSES,
    VIEWS,
    QueueFilters,
    Scope,
    category_code,
    count_expression,
    count_view,
    flood_marked,
    page_ids,
)

__all__ = [
    "FLOOD",
    "OPEN",
    "VIEWS",
    "CaseProblem",
    "Headline",
    "QueuePage",
    "QueueRow",
    "category_code",
    "ledger_state",
    "queue_page",
    "read_queue",
    "record_view",
    "recount_ledger",
    "start_ledger_if_missing",
]


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
    priority: int = 9
    assignee_id: int | None = None
    acknowledged_on: date | None = None
    due_on: date | None = None
    due_state: str | None = None

    @property
    def tampered(self) -> bool:
        """Whether something stored about the case failed its check."""
        return self.problem is CaseProblem.INTEGRITY


@dataclass(frozen=True)
class Headline:
    """How many cases each of the views officers use most lists (`HEADLINE_VIEWS`)."""

    open: int
    mine: int
    unassigned: int
    overdue: int
    unread: int

    def of(self, view: QueueFilters) -> int | None:
        """The count of `view` if it is one of these (in any order but by deadline)."""
        for name, headline in HEADLINE_VIEWS.items():
            if view.sort != "due" and view == QueueFilters(
                **{**headline.args(), "sort": view.sort}
            ):
                return int(getattr(self, name))
        return None


@dataclass(frozen=True)
class QueuePage:
    """A page of one view, with enough to draw pagination and the counts above it.

    `flood_waiting` counts flood-marked cases that need attention (listed in the
    "flood" view) and `ledger` compares the queue with the MAC'd count of cases
    that need attention. `officers` maps officer ids to e-mails for the rows.
    """

    rows: list[QueueRow]
    page: int
    pages: int
    total: int
    flood_waiting: int = 0
    ledger: LedgerCheck | None = None
    view: QueueFilters = field(default_factory=QueueFilters)
    headline: Headline | None = None
    officers: dict[int, str] = field(default_factory=dict)
    # Cases that are not the unit's and this officer cannot open (a supervisor is told
    # how many; nothing else about them).
    hidden: int = 0
    # Reports this officer can open that wait for a supervisor to set who may read them
    # (their reporter asked that someone not see them): the exclusion group is told.
    awaiting_access: int = 0


def read_queue(
    session: Session,
    keyring: UnitKeyring,
    viewer: Officer,
    today: date,
    view: QueueFilters,
    page: int,
    page_size: int,
    categories: tuple[str, ...] = (),
) -> QueuePage:
    """One page of `view`, with the headline counts; reads only.

    `categories` are the configured national categories (`view.category` is one's
    `category_code`). Raises NoKeyAccess, DecryptionError if the triage index was
    altered.
    """
    visible = restriction.visibility(session, keyring)
    flood = [row for row in flood_marked(session) if row.id not in visible.hidden]
    scope = Scope(
        viewer_id=viewer.id,
        today=today,
        dialect=session.get_bind().dialect.name,
        flood_ids=tuple(row.id for row in flood),
        hidden_ids=tuple(sorted(visible.hidden)),
    ).with_sealed(view, _sealed_ids(session, keyring, view, categories, visible.readable))
    everything = view.sort != "due" and view == QueueFilters(status=ALL, sort=view.sort)
    headline, ledger_check, flood_waiting, all_cases = _headline(
        session, scope, flood, everything, _hidden_rows(session, visible.hidden)
    )
    total = headline.of(view) if scope.sealed_ids is None else None
    if everything:
        total = all_cases
    if total is None:
        total = count_view(session, view, scope)
    pages = max(1, -(-total // page_size))
    page = min(max(page, 1), pages)
    ids = page_ids(session, view, scope, (page - 1) * page_size, page_size)
    # Page through an index alone, then load only the page's rows: skipping
    # thousands of multi-kilobyte rows is what made deep pages slow.
    by_id = {case.id: case for case in session.scalars(select(Case).where(Case.id.in_(ids)))}
    rows = _rows(session, [by_id[case_id] for case_id in ids], keyring, today)
    officers = {row.id: row.email for row in session.execute(select(Officer.id, Officer.email))}
    return QueuePage(
        rows,
        page,
        pages,
        total,
        flood_waiting,
        ledger_check,
        view,
        headline,
        officers,
        len(visible.hidden),
        _awaiting_access(session, visible.readable),
    )


def _awaiting_access(session: Session, readable: frozenset[int]) -> int:
    """How many of the readable cases that are not the unit's are 'pending' (few)."""
    if not readable:
        return 0
    pending = session.scalars(
        select(Case.id).where(restriction.NOT_UNIT, Case.access == "pending")
    ).all()
    return len(readable.intersection(pending))


def _hidden_rows(session: Session, hidden: frozenset[int]) -> list[Any]:
    """The status and unread replies of the cases hidden from the viewer (few): the
    headline counts read from the whole table take them away."""
    if not hidden:
        return []
    # Through ix_cases_not_unit, which holds these columns: no case row is read.
    rows = session.execute(
        select(Case.id, Case.status, Case.unread_by_unit).where(restriction.NOT_UNIT)
    )
    return [row for row in rows if row.id in hidden]


def _sealed_ids(
    session: Session,
    keyring: UnitKeyring,
    view: QueueFilters,
    categories: tuple[str, ...],
    readable: frozenset[int] = frozenset(),
) -> set[int] | None:
    """The cases carrying the view's category and flag: from the sealed triage index,
    and for the restricted cases this officer can open (kept out of the index), from
    their own records opened in memory."""
    if not view.sealed:
        return None
    names = {category_code(name): name for name in categories}
    category = names.get(view.category) if view.category else None
    if view.category and category is None:
        return set()
    found = triage_index.cases_carrying(session, keyring, category, view.flag or None)
    if readable:
        found = (found - readable) | restriction.carrying(
            session, keyring, readable, category, view.flag or None
        )
    return found


def record_view(session: Session, viewer: Officer, now: datetime, page: QueuePage) -> None:
    """Audit a queue view: which view and page (the sealed filters by name only, never
    their values), and each case on it that failed its checks (one entry each)."""
    detail: dict[str, Any] = {
        k: v for k, v in page.view.args().items() if k not in ("category", "flag")
    }
    detail["status"] = page.view.status
    sealed = [name for name in ("category", "flag") if getattr(page.view, name)]
    if sealed:
        detail["sealed_filters"] = sealed
    audit.record(session, viewer.email, "queue.viewed", now, None, page=page.page, **detail)
    for row in page.rows:
        if row.tampered:
            audit.record(session, viewer.email, "case.integrity_failed", now, case_id=row.case_id)


def queue_page(
    session: Session,
    keyring: UnitKeyring,
    viewer: Officer,
    now: datetime,
    page: int,
    page_size: int,
    view: str | QueueFilters = OPEN,
    categories: tuple[str, ...] = (),
) -> QueuePage:
    """`read_queue` and `record_view` in the caller's transaction (commands and tests);
    `view` may be a status view's name."""
    filters = view if isinstance(view, QueueFilters) else QueueFilters(status=view)
    found = read_queue(session, keyring, viewer, now.date(), filters, page, page_size, categories)
    record_view(session, viewer, now, found)
    return found


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
        priority=case.priority,
        assignee_id=case.assignee_id,
        acknowledged_on=case.acknowledged_on,
        due_on=case.due_on,
        due_state=deadlines.due_state(case.due_on, today),
    )


def _headline(
    session: Session,
    scope: Scope,
    flood: list[Any],
    everything: bool = False,
    hidden: list[Any] | None = None,
) -> tuple[Headline, LedgerCheck, int, int | None]:
    """The headline counts, the ledger's check, the flood group waiting and, if
    `everything`, the count of every case (the open statuses' count plus the closed
    cases': two index ranges instead of every entry of one). The counts are one
    statement: one snapshot even outside a read-only transaction (a report committed
    between separate counts would read as a case gone missing). `flood` are the
    flood-marked cases (`flood_marked`): the open and unread counts leave them out by
    subtraction, and so do the cases `hidden` from the viewer (the flood group given
    leaves those out already); the ledger compares the whole table."""
    unsealed = replace(scope, sealed_ids=None)  # the page's category or flag is not theirs
    row = session.execute(_headline_statement(unsealed, everything)).one()
    found = int(row[0]) + int(row[1])
    flood_waiting = sum(1 for case in flood if case.status != "closed" or case.unread_by_unit > 0)
    flood_unread = sum(1 for case in flood if case.unread_by_unit > 0)
    hidden = hidden or []
    hidden_waiting = sum(1 for case in hidden if case.status != "closed" or case.unread_by_unit)
    hidden_unread = sum(1 for case in hidden if case.unread_by_unit > 0)
    headline = Headline(
        found - flood_waiting - hidden_waiting,
        int(row[4]),
        int(row[5]),
        int(row[6]),
        int(row[7]) - flood_unread - hidden_unread,
    )
    all_cases = int(row[0]) + int(row[8]) - len(hidden) if everything else None
    return headline, ledger.compare(session, row[2], row[3], found), flood_waiting, all_cases


@lru_cache(maxsize=64)
def _headline_statement(scope: Scope, everything: bool) -> Select[Any]:
    """The statement `_headline` runs, made once per officer, day, flood group and cases
    hidden from the officer (all in `scope`, the cache's key): building it took
    SQLAlchemy longer than the database takes to answer it."""
    counted, mac = ledger.ledger_columns()
    owned = (count_expression(HEADLINE_VIEWS[name], scope) for name in ("mine", "unassigned"))
    return select(
        *_attention_counts(),
        counted,
        mac,
        *owned,
        count_expression(HEADLINE_VIEWS["overdue"], scope),
        # Every case with unread replies is in the open view, but the flood group's.
        select(func.count()).select_from(Case).where(Case.unread_by_unit > 0).scalar_subquery(),
        *([_closed_count()] if everything else []),
    )


def _closed_count() -> Any:
    return select(func.count()).select_from(Case).where(Case.status == "closed").scalar_subquery()


def _attention_counts() -> tuple[Any, Any]:
    """Cases that need attention, in the two parts an index range each holds: open
    statuses, and closed cases with replies no officer has read."""

    def count(*where: Any) -> Any:
        return select(func.count()).select_from(Case).where(*where).scalar_subquery()

    return (
        count(Case.status.in_(OPEN_STATUSES)),
        count(Case.status == "closed", Case.unread_by_unit > 0),
    )


def _attention(session: Session) -> tuple[int, LedgerCheck]:
    """Cases that need attention and the ledger's check, read in one statement."""
    counted, mac = ledger.ledger_columns()
    row = session.execute(select(*_attention_counts(), counted, mac)).one()
    found = int(row[0]) + int(row[1])
    return found, ledger.compare(session, row[2], row[3], found)


def ledger_state(session: Session) -> LedgerCheck:
    """The queue ledger compared with the cases that need attention now."""
    return _attention(session)[1]


def recount_ledger(session: Session, by: Officer, now: datetime) -> int:
    """Set the ledger to the cases that need attention now (a supervisor, after finding
    what was altered); audited. Returns the count."""
    ledger.start(session, 0)  # locks the ledger row, so no case moves while counting
    count = _attention(session)[0]
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
    count = _attention(session)[0]
    ledger.start(session, count)
    audit.record(session, actor, "queue_ledger.started", now, attention=count)
    return True
