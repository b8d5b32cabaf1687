"""Which cases a queue view lists, in what order, and how many: the SQL behind the queue.

A view is a `QueueFilters`: the status view, the workflow filters read from the
case row in clear (priority, owner, deadline, unread replies), the sealed ones
(national category, risk flag) answered from the triage index opened in memory
(`services.triage_index`), and the order (date received, next deadline, priority).

SQLite plans without statistics, so given two terms an index could search it may
pick the index that then reads every case row, several kilobytes each. So every
statement here has exactly one term an index searches, the *driver*, chosen
for the order asked for (a page) or for how few cases it leaves (a count);
every other filter is written so that no index searches it: the status as
`coalesce(status, status)` (every queue index holds it), the others as
membership of the ids their own covering index range holds, the sealed filters
and the flood group as membership of a list of ids. Each statement then walks
one covering index range and probes small sets in memory; rows are read only
for the page's cases. No view sorts: by priority, one priority's range after
another, each newest first. The open view is counted in two narrow parts: its
open statuses, and the closed cases with unread replies.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from datetime import date
from functools import cached_property
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    any_,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from reportline.db import IdArray, IdList
from reportline.models import Case, Officer, UnitKey, UnitKeyGrant
from reportline.models.case import PRIORITIES, PRIORITY_NOT_SET, STATUSES
from reportline.services import keyring
from reportline.services.deadlines import DUE_SOON

OPEN = "open"
ALL = "all"
FLOOD = "flood"
VIEWS = (OPEN, *STATUSES, ALL, FLOOD)
OPEN_STATUSES = tuple(s for s in STATUSES if s != "closed")
SORTS = ("received", "due", "priority")
PRIORITY_FILTERS = {**PRIORITIES, "none": PRIORITY_NOT_SET}
MINE = "mine"
UNASSIGNED = "unassigned"
DUE_FILTERS = ("overdue", "due_soon")
REPLY_FILTERS = ("unread",)

# Which filter drives a count: the one likely to leave the fewest cases first.
_COUNT_DRIVERS = ("replies", "assignee", "due", "priority", "status", "unassigned", "no_priority")
# Which filter drives a page newest first: those whose index is in date order.
_DATE_DRIVERS = ("assignee", "priority", "status", "unassigned", "no_priority")


def category_code(name: str) -> str:
    """How a national category is named in the queue's URL: its words, lower case,
    joined by hyphens ("Controlled drugs" is "controlled-drugs")."""
    return "-".join(re.findall(r"[a-z0-9]+", name.lower()))


@dataclass(frozen=True)
class QueueFilters:
    """One queue view: every value is one of the choices above, or "" for "any".

    `assignee` is "mine", "unassigned" or an officer's id; `category` the
    `category_code` of a configured national category; `flag` a risk flag code.
    """

    status: str = OPEN
    priority: str = ""
    assignee: str = ""
    category: str = ""
    flag: str = ""
    due: str = ""
    replies: str = ""
    sort: str = "received"

    def args(self) -> dict[str, str]:
        """The view as query arguments: what differs from the default view."""
        default = QueueFilters()
        return {k: v for k, v in asdict(self).items() if v != getattr(default, k)}

    @property
    def sealed(self) -> bool:
        """Whether the view filters on sealed triage fields."""
        return bool(self.category or self.flag)


# The views whose counts head the queue, each a link to itself.
HEADLINE_VIEWS = {
    "open": QueueFilters(),
    "mine": QueueFilters(assignee=MINE),
    "unassigned": QueueFilters(assignee=UNASSIGNED),
    "overdue": QueueFilters(due="overdue"),
    "unread": QueueFilters(replies="unread"),
}


@dataclass(frozen=True)
class Scope:
    """What a view's statements need besides its filters.

    `flood_ids` are the flood-marked cases the viewer may see (the open view leaves
    them out); `hidden_ids` the cases that are not the unit's and the viewer cannot
    open (services.restriction): every view and count leaves them out, and as they are
    part of the scope, so is every statement cached by scope. `sealed_ids` are the
    cases that carry the view's category and flag (None when it has neither), given
    with the flood group and the hidden cases already applied (`with_sealed`).
    """

    viewer_id: int
    today: date
    dialect: str
    flood_ids: tuple[int, ...] = ()
    sealed_ids: frozenset[int] | None = None
    hidden_ids: tuple[int, ...] = ()

    def with_sealed(self, view: QueueFilters, sealed_ids: Iterable[int] | None) -> Scope:
        """This scope with the cases carrying `view`'s sealed filters, the flood group
        applied to them here (left out of the open view, the flood view's own) so that
        a statement tests one list, not two."""
        if sealed_ids is None:
            return replace(self, sealed_ids=None)
        found = frozenset(sealed_ids).difference(self.hidden_ids)
        if view.status == OPEN:
            found = found.difference(self.flood_ids)
        elif view.status == FLOOD:
            found = found.intersection(self.flood_ids)
        return replace(self, sealed_ids=found)

    @cached_property
    def _sealed_list(self) -> Any:
        """`sealed_ids` as a statement's parameter, encoded once for the request's
        statements (encoding thousands of ids costs more than their own work)."""
        return _encoded(self.sealed_ids or (), self.dialect)

    def sealed_clause(self, column: Any = Case.id) -> ColumnElement[bool]:
        """Membership of `sealed_ids`."""
        return _among(column, self._sealed_list, self.dialect)


@dataclass(frozen=True)
class _Filter:
    """One filter in the two forms a statement may need."""

    drive: ColumnElement[bool]  # a term its index searches
    among: ColumnElement[bool]  # the same cases, in a form no index searches


def _unindexed(column: Any) -> Any:
    """The column as an expression no index serves (on SQLite and PostgreSQL alike)."""
    return func.coalesce(column, column)


def _ids(*where: ColumnElement[bool]) -> Select[int]:
    return select(Case.id).where(*where).correlate(None)


def _encoded(ids: Iterable[int], dialect: str) -> Any:
    """A list of ids as one parameter of any length: an array, or JSON for SQLite's
    json_each. Sorted: SQLite builds a list's b-tree from sorted ids in half the time."""
    values = sorted(ids)
    return IdList.of(values) if dialect == "postgresql" else json.dumps(values)


def _among(column: Any, encoded: Any, dialect: str) -> ColumnElement[bool]:
    """Membership of `column` in an `_encoded` list."""
    if dialect == "postgresql":
        return _unindexed(column) == any_(bindparam(None, encoded, type_=IdArray()))
    listed = func.json_each(bindparam(None, encoded)).table_valued("value")
    return _unindexed(column).in_(select(listed.c.value))


def _among_given(ids: Iterable[int], dialect: str) -> ColumnElement[bool]:
    """Membership in a list from Python."""
    return _among(Case.id, _encoded(ids, dialect), dialect)


def _filter(term: ColumnElement[bool]) -> _Filter:
    """A filter driving its own index, or tested as membership of that index's ids."""
    return _Filter(term, _unindexed(Case.id).in_(_ids(term)))


def _clear_filters(view: QueueFilters, scope: Scope) -> dict[str, _Filter]:
    """The view's filters on clear columns, by the name their driver preference uses."""
    found: dict[str, _Filter] = {}
    if view.status in STATUSES:
        # Every index the queue walks holds the status: it is tested there, not by set.
        found["status"] = _Filter(
            Case.status == view.status, _unindexed(Case.status) == view.status
        )
    if view.priority:
        rank = PRIORITY_FILTERS[view.priority]
        name = "no_priority" if rank == PRIORITY_NOT_SET else "priority"
        found[name] = _filter(Case.priority == rank)
    if view.assignee == UNASSIGNED:
        found["unassigned"] = _filter(Case.assignee_id.is_(None))
    elif view.assignee:
        owner = scope.viewer_id if view.assignee == MINE else int(view.assignee)
        found["assignee"] = _filter(Case.assignee_id == owner)
    if view.due == "overdue":
        found["due"] = _filter(Case.due_on < scope.today)
    elif view.due == "due_soon":
        found["due"] = _filter(Case.due_on.between(scope.today, scope.today + DUE_SOON))
    elif view.sort == "due":
        # Sorting by deadline lists the cases that have one.
        found["due"] = _filter(Case.due_on.is_not(None))
    if view.replies:
        found["replies"] = _filter(Case.unread_by_unit > 0)
    return found


def _closed_with_unread() -> ColumnElement[bool]:
    return and_(Case.status == "closed", Case.unread_by_unit > 0)


def _given(view: QueueFilters, scope: Scope) -> list[ColumnElement[bool]]:
    """The filters whose cases come as lists: the flood group (out of the open view, or
    the flood view itself), the cases hidden from the viewer, and the sealed filters'
    cases."""
    if scope.sealed_ids is not None:  # the flood group and hidden cases are applied already
        return [scope.sealed_clause()]
    if view.status == OPEN and (scope.flood_ids or scope.hidden_ids):
        return [~_among_given(scope.flood_ids + scope.hidden_ids, scope.dialect)]
    if view.status == FLOOD:  # the viewer's flood ids leave the hidden cases out
        return [_among_given(scope.flood_ids, scope.dialect)]
    if scope.hidden_ids:
        return [~_among_given(scope.hidden_ids, scope.dialect)]
    return []


def _open_or_unread() -> ColumnElement[bool]:
    """The open view: open, or closed with replies no officer has read (a reporter may
    write after closing, and nothing they send may go unseen)."""
    return or_(Case.status != "closed", _unindexed(Case.id).in_(_ids(_closed_with_unread())))


def _nothing_to_find(view: QueueFilters, scope: Scope) -> bool:
    return (scope.sealed_ids is not None and not scope.sealed_ids) or (
        view.status == FLOOD and not scope.flood_ids
    )


def _count(*where: ColumnElement[bool]) -> Any:
    return select(func.count()).select_from(Case).where(*where).scalar_subquery()


def count_expression(view: QueueFilters, scope: Scope) -> Any:
    """How many cases the view lists, as an expression to select (with others)."""
    if _nothing_to_find(view, scope):
        return literal_column("0")
    filters = _clear_filters(view, scope)
    given = _given(view, scope)
    driver = next((name for name in _COUNT_DRIVERS if name in filters), None)
    others = [f.among for name, f in filters.items() if name != driver]
    if view.status == OPEN and driver in (None, "assignee", "unassigned"):
        # Counted in the two parts an index range each holds (ix_cases_status_queue and
        # ix_cases_unread, or one owner's in ix_cases_owner_status): the open statuses,
        # and the closed cases with unread replies (few).
        owner = [filters[driver].drive] if driver else []
        if scope.sealed_ids is not None:
            # The sealed list is tested once, on both parts' ids: a membership test
            # builds its list anew in each subquery that has it.
            both = union_all(
                _ids(*owner, Case.status.in_(OPEN_STATUSES), *others),
                _ids(*owner, _closed_with_unread(), *others),
            ).subquery()
            listed = scope.sealed_clause(both.c.id)
            return select(func.count()).select_from(both).where(listed).scalar_subquery()
        return _count(*owner, Case.status.in_(OPEN_STATUSES), *others, *given) + _count(
            *owner, _closed_with_unread(), *others, *given
        )
    if view.status == OPEN:
        others.append(_open_or_unread())
    return _count(*([filters[driver].drive] if driver else []), *others, *given)


def count_view(session: Session, view: QueueFilters, scope: Scope) -> int:
    """How many cases the view lists."""
    return int(session.execute(select(count_expression(view, scope))).scalar_one())


def page_ids(
    session: Session, view: QueueFilters, scope: Scope, offset: int, limit: int
) -> list[int]:
    """The ids of the cases on one page of the view, in its order."""
    if _nothing_to_find(view, scope):
        return []
    if view.sort == "priority":
        return _by_priority(session, view, scope, offset, limit)
    filters = _clear_filters(view, scope)
    order: list[ColumnElement[Any]]
    if view.sort == "due":
        driver: str | None = "due"
        order = [Case.due_on.asc(), Case.id.asc()]
    else:
        driver = next((name for name in _DATE_DRIVERS if name in filters), None)
        order = [Case.received_on.desc(), Case.id.desc()]
    where = [f.among for name, f in filters.items() if name != driver]
    if driver is not None:
        where.append(filters[driver].drive)
    if view.status == OPEN:
        where.append(_open_or_unread())
    statement = (
        select(Case.id)
        .where(*where, *_given(view, scope))
        .order_by(*order)
        .limit(limit)
        .offset(offset)
    )
    return list(session.scalars(statement))


def _by_priority(
    session: Session, view: QueueFilters, scope: Scope, offset: int, limit: int
) -> list[int]:
    """High first, then medium, low and not set, each newest first: one priority's
    index range after another, counting the ranges a deep page skips."""
    found: list[int] = []
    for name in (view.priority,) if view.priority else tuple(PRIORITY_FILTERS):
        part = replace(view, priority=name, sort="received")
        if offset:
            size = count_view(session, part, scope)
            if offset >= size:
                offset -= size
                continue
        found += page_ids(session, part, scope, offset, limit - len(found))
        offset = 0
        if len(found) >= limit:
            break
    return found


def flood_marked(session: Session) -> list[Any]:
    """Every flood-marked case's id, status and unread replies (a flood has at most
    `flood_ceiling` of them). Asking for a column ix_cases_queue lacks steers SQLite
    to the small partial index ix_cases_flood; a bare column matches its condition."""
    return list(
        session.execute(
            select(Case.id, Case.status, Case.unread_by_unit, Case.assignee_id).where(
                literal_column("cases.possible_flood")
            )
        )
    )


def assignable_officers(session: Session) -> list[tuple[int, str]]:
    """Active officers who hold the unit key (who may own a case), by e-mail."""
    rows = session.execute(
        select(Officer, UnitKeyGrant)
        .join(UnitKeyGrant, UnitKeyGrant.officer_id == Officer.id)
        .join(UnitKey, UnitKey.id == UnitKeyGrant.unit_key_id)
        .where(Officer.active.is_(True), UnitKey.active.is_(True))
        .order_by(Officer.email)
    )
    found = {o.id: o.email for o, grant in rows if keyring.grant_holds(session, o, grant)}
    return list(found.items())
