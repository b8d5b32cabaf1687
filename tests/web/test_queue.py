"""The queue's views: filters and sorts in the URL, the counts above them, pagination that
keeps the view, refusals that name their field, one audit entry per view, and reads that
never hold SQLite's write lock."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session

from reportline.crypto.keys import generate_private_key
from reportline.db import begin_read_only
from reportline.models import AuditEntry, Case, UnitKey
from reportline.services import cases, triage_index
from reportline.services.keyring import UnitKeyring
from reportline.services.queue_filters import category_code
from tests.helpers import (
    REFERENCE,
    Enrolled,
    MovableClock,
    add_reader,
    follow_up_sign_in,
    officer_moves,
    officer_records,
    post_form,
    reporter_replies,
    sign_in,
    submit_report,
    transactions,
)

COUNT_LINK = re.compile(
    r'<a class="queue-counts__link" href="([^"]+)"[^>]*>\s*'
    r"<span[^>]*>[\d,]+</span> ([A-Za-z ]+)</a>"
)
MISUSE = "Misuse of force systems"
DISCLOSURE = "Disclosure of information"


# ---------------------------------------------------------------- helpers


def _officer(app: Flask, who: Enrolled, clock: MovableClock) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, who, clock).status_code == 303
    clock.advance(seconds=30)  # the next sign-in needs a fresh code
    return client


def _report(app: Flask, db: Session, **fields: str) -> tuple[str, str]:
    """Send a report; return its reference and receipt."""
    before = set(db.scalars(select(Case.id)))
    receipt = submit_report(app.test_client(), **fields)
    (new,) = set(db.scalars(select(Case.id))) - before
    return cases.reference(new), receipt


def _page(client: FlaskClient, query: str = "") -> str:
    response = client.get(f"/triage/?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)[:1000]
    return response.get_data(as_text=True)


def _listed(client: FlaskClient, query: str = "") -> list[str]:
    """The references a view lists, in its order."""
    page = _page(client, query)
    table = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in page else ""
    return list(dict.fromkeys(REFERENCE.findall(table)))


def _counts(page: str) -> dict[str, int]:
    """The counts above the queue, by their label."""
    found = re.findall(r'queue-counts__number">([\d,]+)</span> ([A-Za-z ]+)</a>', page)
    return {label.strip(): int(number.replace(",", "")) for number, label in found}


def _assign(supervisor: FlaskClient, reference: str, officer_id: int) -> None:
    url = f"/triage/cases/{reference}"
    response = post_form(supervisor, url, f"{url}/assign", {"officer_id": str(officer_id)})
    assert response.status_code == 303


def _record(officer: FlaskClient, reference: str, **changes: Any) -> None:
    assert officer_records(officer, reference, **changes).status_code == 303


def _queue_views(db: Session) -> list[dict[str, Any]]:
    rows = db.scalars(
        select(AuditEntry).where(AuditEntry.action == "queue.viewed").order_by(AuditEntry.id)
    ).all()
    return [json.loads(row.detail) for row in rows]


@pytest.fixture
def colleague(db: Session, clock: MovableClock, unit: Enrolled) -> Enrolled:
    return add_reader(db, clock, unit, "colleague@unit.example")


@pytest.fixture
def unit_cases(
    app: Flask, db: Session, unit: Enrolled, colleague: Enrolled, clock: MovableClock
) -> dict[str, str]:
    """Five cases received a day apart, oldest first: closed (the supervisor's), not
    graded (unassigned), low (unassigned), medium (the colleague's) and high (the
    supervisor's). Each triage record is the full sample one but for what is named."""
    made = {}
    for name in ("closed", "none", "low", "medium", "high"):
        made[name] = _report(app, db, what_happened=f"The {name} case")[0]
        clock.advance(days=1)
    supervisor = _officer(app, unit, clock)
    _record(supervisor, made["high"], priority="high")
    _record(supervisor, made["medium"], priority="medium", categories=[MISUSE], risk_flags=[])
    _record(supervisor, made["low"], priority="low", categories=[DISCLOSURE])
    _assign(supervisor, made["high"], unit.officer_id)
    _assign(supervisor, made["medium"], colleague.officer_id)
    _assign(supervisor, made["closed"], unit.officer_id)
    assert officer_moves(supervisor, made["closed"], "closed").status_code == 303
    return made


@pytest.fixture
def officer(app: Flask, unit: Enrolled, clock: MovableClock) -> FlaskClient:
    """The supervisor, signed in afresh (after the arrangements moved the clock)."""
    return _officer(app, unit, clock)


def _page_size(app: Flask, size: int) -> None:
    settings = app.extensions["reportline.settings"]
    app.extensions["reportline.settings"] = replace(settings, queue_page_size=size)


# ---------------------------------------------------------------- filters


def test_each_workflow_filter_lists_exactly_its_cases(
    unit_cases: dict[str, str], officer: FlaskClient, colleague: Enrolled
) -> None:
    c = unit_cases
    newest_first = [c["high"], c["medium"], c["low"], c["none"]]
    assert _listed(officer) == newest_first  # the default: open cases, newest first
    assert _listed(officer, "status=open") == newest_first
    assert _listed(officer, "status=closed") == [c["closed"]]
    assert _listed(officer, "status=all") == [*newest_first, c["closed"]]
    for order in ("", "&sort=priority"):  # counted as the open statuses' and the closed
        assert "Page 1 of 1 (5 cases)" in _page(officer, "status=all" + order)
    assert _listed(officer, "status=received") == newest_first
    assert _listed(officer, "priority=high") == [c["high"]]
    assert _listed(officer, "priority=medium") == [c["medium"]]
    assert _listed(officer, "priority=low") == [c["low"]]
    assert _listed(officer, "priority=none") == [c["none"]]
    assert _listed(officer, "assignee=mine") == [c["high"]]
    assert _listed(officer, "assignee=mine&status=all") == [c["high"], c["closed"]]
    assert _listed(officer, "assignee=unassigned") == [c["low"], c["none"]]
    assert _listed(officer, f"assignee={colleague.officer_id}") == [c["medium"]]


def test_filters_combine(
    unit_cases: dict[str, str], officer: FlaskClient, colleague: Enrolled
) -> None:
    c = unit_cases
    assert _listed(officer, "assignee=mine&priority=high") == [c["high"]]
    assert _listed(officer, "assignee=mine&priority=low") == []
    assert _listed(officer, "assignee=unassigned&priority=low&status=received") == [c["low"]]
    assert _listed(officer, "status=closed&assignee=mine&priority=none") == [c["closed"]]
    assert _listed(officer, f"assignee={colleague.officer_id}&sort=priority") == [c["medium"]]
    page = _page(officer, "assignee=unassigned&priority=none")
    assert "There are no cases to show." not in page and "Page 1 of 1 (1 case)" in page


def test_category_and_risk_flag_filter_through_the_sealed_index(
    unit_cases: dict[str, str], officer: FlaskClient, db: Session
) -> None:
    c = unit_cases
    high_flags = ["victimisation", "corroboration_needed"]  # TRIAGE_RECORD's
    assert _listed(officer, f"category={category_code(MISUSE)}") == [c["high"], c["medium"]]
    assert _listed(officer, f"category={category_code(DISCLOSURE)}") == [c["high"], c["low"]]
    assert _listed(officer, "flag=victimisation") == [c["high"], c["low"]]
    assert _listed(officer, f"flag={high_flags[1]}&category={category_code(MISUSE)}") == [c["high"]]
    assert _listed(officer, f"category={category_code(MISUSE)}&priority=medium") == [c["medium"]]
    assert _listed(officer, "flag=iopc_referral") == []
    page = _page(officer, f"category={category_code(DISCLOSURE)}")
    assert "Page 1 of 1 (2 cases)" in page
    # The counts above are the unit's, not the filtered view's.
    assert _counts(page)["Open"] == 4
    # What was filtered on is audited by name, never by value.
    entry = _queue_views(db)[-1]
    assert entry["sealed_filters"] == ["category"] and "category" not in entry
    assert DISCLOSURE not in json.dumps(_queue_views(db))


def test_a_sealed_filter_keeps_the_flood_group_apart(
    unit_cases: dict[str, str], officer: FlaskClient, db: Session
) -> None:
    c = unit_cases
    db.execute(
        text("UPDATE cases SET possible_flood = :yes WHERE id = :id"),
        {"yes": True, "id": cases.parse_reference(c["low"])},
    )
    disclosure = f"category={category_code(DISCLOSURE)}"
    assert _listed(officer, disclosure) == [c["high"]]
    assert "Page 1 of 1 (1 case)" in _page(officer, disclosure)
    assert _listed(officer, f"status=flood&{disclosure}") == [c["low"]]
    assert "Page 1 of 1 (1 case)" in _page(officer, f"status=flood&{disclosure}")
    assert _listed(officer, f"status=flood&category={category_code(MISUSE)}") == []
    assert _listed(officer, f"status=all&{disclosure}") == [c["high"], c["low"]]
    assert _listed(officer, "flag=victimisation&assignee=unassigned") == []


def test_overdue_and_due_soon_follow_the_clock(
    app: Flask, db: Session, unit: Enrolled, clock: MovableClock
) -> None:
    fresh, _receipt = _report(app, db)
    clock.advance(days=3)
    waiting, _receipt = _report(app, db)
    officer = _officer(app, unit, clock)
    # Acknowledgement is due 7 days after receipt: both are due soon.
    assert _listed(officer, "due=due_soon") == [waiting, fresh]
    assert _listed(officer, "due=overdue") == []
    clock.advance(days=5)  # day 8 for the first: its acknowledgement is overdue
    officer = _officer(app, unit, clock)
    assert _listed(officer, "due=overdue") == [fresh]
    assert _listed(officer, "due=due_soon") == [waiting]
    page = _page(officer, "due=overdue")
    assert "Acknowledgement overdue" in page and "30 November 2026" in page
    # Acknowledged, the next deadline is feedback, three months on: neither view lists it.
    officer_moves(officer, fresh, "acknowledged")
    assert _listed(officer, "due=overdue") == [] and fresh not in _listed(officer, "due=due_soon")
    clock.advance(days=88)  # five days before feedback is due
    officer = _officer(app, unit, clock)
    assert fresh in _listed(officer, "due=due_soon")
    assert "Feedback due soon" in _page(officer, "due=due_soon")
    clock.advance(days=6)
    officer = _officer(app, unit, clock)
    assert _listed(officer, "due=overdue") == [waiting, fresh]
    assert "Feedback overdue" in _page(officer, "due=overdue")


def test_unread_replies_lists_cases_the_reporter_answered_until_an_officer_reads_them(
    app: Flask, db: Session, supervisor: FlaskClient
) -> None:
    _quiet, _receipt = _report(app, db)
    answered, receipt = _report(app, db)
    assert officer_moves(supervisor, answered, "closed").status_code == 303
    assert answered not in _listed(supervisor)
    reporter = app.test_client()
    follow_up_sign_in(reporter, receipt)
    assert reporter_replies(reporter, "One more thing, after all.").status_code == 303
    # Closed, but with a reply no officer has read: back in the open view.
    assert _listed(supervisor, "replies=unread") == [answered]
    assert answered in _listed(supervisor)
    assert _counts(_page(supervisor))["Unread replies"] == 1
    supervisor.get(f"/triage/cases/{answered}")
    assert _listed(supervisor, "replies=unread") == []
    assert answered not in _listed(supervisor)
    assert _counts(_page(supervisor))["Unread replies"] == 0


# ---------------------------------------------------------------- sorts


def test_each_sort_orders_the_view(
    unit_cases: dict[str, str], officer: FlaskClient, colleague: Enrolled
) -> None:
    c = unit_cases
    assert _listed(officer, "sort=received") == [c["high"], c["medium"], c["low"], c["none"]]
    # Priority: high, medium, low, then not set; each newest first.
    assert _listed(officer, "sort=priority&status=all") == [
        c["high"],
        c["medium"],
        c["low"],
        c["none"],
        c["closed"],
    ]
    # Next deadline, soonest first: here the oldest acknowledgement is due first. A closed
    # case has no deadline, so it is not listed, and the page says so.
    assert _listed(officer, "sort=due&status=all") == [c["none"], c["low"], c["medium"], c["high"]]
    assert "Only cases with a deadline are listed" in _page(officer, "sort=due")
    assert _listed(officer, "sort=due&assignee=unassigned") == [c["none"], c["low"]]


def test_sorting_by_priority_pages_across_priorities(
    app: Flask, app_settings: dict[str, Any], db: Session, unit: Enrolled, clock: MovableClock
) -> None:
    _page_size(app, 2)
    made = [_report(app, db)[0] for _ in range(5)]
    officer = _officer(app, unit, clock)
    for reference, priority in zip(made, ("low", "high", "", "high", "medium"), strict=True):
        if priority:
            _record(officer, reference, priority=priority)
    pages = [_listed(officer, f"sort=priority&page={n}") for n in (1, 2, 3)]
    ranks = {"high": 0, "medium": 1, "low": 2, "": 3}
    given = dict(zip(made, ("low", "high", "", "high", "medium"), strict=True))
    flat = [reference for page in pages for reference in page]
    assert sorted(flat) == sorted(made) and [len(p) for p in pages] == [2, 2, 1]
    assert [ranks[given[r]] for r in flat] == sorted(ranks[given[r]] for r in flat)


# ---------------------------------------------------------------- pages and counts


def _chosen(page: str) -> dict[str, str]:
    """Each filter menu's selected option value."""
    found = {}
    for name, options in re.findall(r'<select[^>]*name="(\w+)"[^>]*>(.*?)</select>', page, re.S):
        chosen = re.search(
            r'<option selected value="([^"]*)"|<option value="([^"]*)" selected', options
        )
        found[name] = next(filter(None, chosen.groups()), "") if chosen else ""
    return found


def test_the_filter_menus_show_the_view_and_the_officers_of_the_moment(
    app: Flask, db: Session, clock: MovableClock, unit: Enrolled, officer: FlaskClient
) -> None:
    # The menus are drawn once per set of values and choices: each view must still
    # show its own values, and an officer added later must appear.
    assert _chosen(_page(officer))["status"] == "open"
    high = _chosen(_page(officer, "priority=high&sort=due"))
    assert (high["priority"], high["sort"], high["status"]) == ("high", "due", "open")
    assert _chosen(_page(officer, "priority=low"))["priority"] == "low"
    assert _chosen(_page(officer))["priority"] == ""
    assert "newcomer@unit.example" not in _page(officer)
    newcomer = add_reader(db, clock, unit, "newcomer@unit.example")
    page = _page(officer, f"assignee={newcomer.officer_id}")
    assert "newcomer@unit.example" in page
    assert _chosen(page)["assignee"] == str(newcomer.officer_id)


def test_pagination_keeps_every_filter(
    app: Flask, db: Session, unit: Enrolled, clock: MovableClock
) -> None:
    _page_size(app, 2)
    made = []
    for _ in range(5):
        made.append(_report(app, db)[0])
        clock.advance(days=1)
    _report(app, db)  # one more, never marked high
    officer = _officer(app, unit, clock)
    for reference in made:
        _record(officer, reference, priority="high")
    first = _page(officer, "status=received&priority=high&assignee=unassigned&sort=received")
    assert "Page 1 of 3 (5 cases)" in first
    following = re.search(r'href="([^"]+)" rel="next"', first)
    assert following is not None
    link = following.group(1).replace("&amp;", "&")
    for part in ("status=received", "priority=high", "assignee=unassigned", "page=2"):
        assert part in link
    assert "sort=" not in link  # the default order needs no argument
    second = officer.get(link).get_data(as_text=True)
    assert "Page 2 of 3 (5 cases)" in second
    previous = re.search(r'href="([^"]+)" rel="prev"', second)
    assert previous is not None and "priority=high" in previous.group(1)
    listed = [
        _listed(officer, link.split("?", 1)[1].replace("page=2", f"page={n}")) for n in (1, 2, 3)
    ]
    assert [r for page in listed for r in page] == list(reversed(made))


def test_the_counts_above_the_queue_link_to_their_views(
    unit_cases: dict[str, str], unit: Enrolled, clock: MovableClock, app: Flask
) -> None:
    clock.advance(days=5)  # two open cases are now past their acknowledgement
    officer = _officer(app, unit, clock)
    page = _page(officer, "status=all&sort=priority")
    assert _counts(page) == {
        "Open": 4,
        "Mine": 1,
        "Unassigned": 2,
        "Overdue": 2,
        "Unread replies": 0,
    }
    links = dict(
        (label.strip(), href.replace("&amp;", "&")) for href, label in re.findall(COUNT_LINK, page)
    )
    assert links == {
        "Open": "/triage/",
        "Mine": "/triage/?assignee=mine",
        "Unassigned": "/triage/?assignee=unassigned",
        "Overdue": "/triage/?due=overdue",
        "Unread replies": "/triage/?replies=unread",
    }
    for label, href in links.items():
        view = officer.get(href).get_data(as_text=True)
        assert f"({_counts(page)[label]} case" in view or _counts(page)[label] == 0
        assert re.search(rf'href="{re.escape(href)}" aria-current="page"', view)


def test_my_cases_in_the_menu_lists_the_officers_own_open_cases(
    unit_cases: dict[str, str], app: Flask, colleague: Enrolled, clock: MovableClock
) -> None:
    client = _officer(app, colleague, clock)
    page = _page(client)
    assert re.search(r'href="/triage/\?status=open&amp;assignee=mine"\s*>My cases</a>', page)
    assert _listed(client, "status=open&assignee=mine") == [unit_cases["medium"]]
    mine = _page(client, "status=open&assignee=mine")
    assert 'aria-current="page">My cases</a>' in mine


def test_a_flood_marked_case_stays_out_of_the_counts(
    app: Flask, db: Session, supervisor: FlaskClient
) -> None:
    genuine, _receipt = _report(app, db)
    flooded, receipt = _report(app, db)
    reporter = app.test_client()
    follow_up_sign_in(reporter, receipt)
    assert reporter_replies(reporter, "Anything else?").status_code == 303
    db.execute(
        text("UPDATE cases SET possible_flood = :yes WHERE id = :id"),
        {"yes": True, "id": cases.parse_reference(flooded)},
    )
    page = _page(supervisor)
    # Marked in the database alone, the case fails its check, but is still held apart.
    assert _counts(page) == {
        "Open": 1,
        "Mine": 0,
        "Unassigned": 1,
        "Overdue": 0,
        "Unread replies": 0,
    }
    assert _listed(supervisor) == [genuine]
    assert _listed(supervisor, "replies=unread") == []
    assert _listed(supervisor, "status=flood") == [flooded]
    everything = _page(supervisor, "status=all")  # lists and counts every case
    assert "Page 1 of 1 (2 cases)" in everything


# ---------------------------------------------------------------- refusals and audit


@pytest.mark.parametrize(
    ("query", "field", "problem"),
    [
        ("status=bogus", "status", "Choose a status from the list"),
        ("priority=urgent", "priority", "Choose a priority from the list"),
        ("assignee=everyone", "assignee", "Choose who the cases are assigned to from the list"),
        ("assignee=999999", "assignee", "Choose who the cases are assigned to from the list"),
        ("category=not-a-category", "category", "Choose a national category from the list"),
        ("flag=bogus", "flag", "Choose a risk flag from the list"),
        ("due=tomorrow", "due", "Choose overdue or due soon"),
        ("replies=read", "replies", "Choose unread replies or any"),
        ("sort=reference", "sort", "Choose how to sort from the list"),
    ],
)
def test_an_unknown_value_is_refused_next_to_its_field_and_nothing_is_stored(
    supervisor: FlaskClient, db: Session, query: str, field: str, problem: str
) -> None:
    before = db.scalar(select(func.count()).select_from(AuditEntry))
    response = supervisor.get(f"/triage/?{query}&page=2")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert f'href="#{field}">{problem}</a>' in page  # the error summary
    assert f'id="{field}-error"' in page and problem in page.split(f'id="{field}-error"')[1]
    assert "queue-counts" not in page
    assert db.scalar(select(func.count()).select_from(AuditEntry)) == before


def test_each_view_is_audited_with_its_filters(
    unit_cases: dict[str, str], officer: FlaskClient, db: Session, colleague: Enrolled
) -> None:
    _page(officer)
    _page(officer, f"status=all&assignee={colleague.officer_id}&priority=high&sort=due&page=3")
    _page(officer, "due=overdue&replies=unread&flag=victimisation")
    default, filtered, sealed = _queue_views(db)[-3:]
    assert default == {"page": 1, "status": "open"}
    assert filtered == {
        "page": 1,
        "status": "all",
        "assignee": str(colleague.officer_id),
        "priority": "high",
        "sort": "due",
    }
    assert sealed == {
        "page": 1,
        "status": "open",
        "due": "overdue",
        "replies": "unread",
        "sealed_filters": ["flag"],
    }


# ---------------------------------------------------------------- reading outside the lock


def _reads_cases(transaction: list[str]) -> bool:
    return any(sql.startswith("SELECT") and "FROM cases" in sql for sql in transaction)


def _writes(transaction: list[str]) -> bool:
    return any(sql.startswith(("INSERT", "UPDATE", "DELETE")) for sql in transaction)


@pytest.mark.parametrize("path", ["/triage/", "/triage/?assignee=mine&sort=due", "case"])
def test_pages_read_in_a_transaction_that_writes_nothing_then_audit_in_one_that_reads_no_case(
    app: Flask, reporter: FlaskClient, supervisor: FlaskClient, db: Session, path: str
) -> None:
    submit_report(reporter)
    if path == "case":
        path = f"/triage/cases/{cases.reference(db.scalars(select(Case.id)).one())}"
    with transactions(app.extensions["reportline.engine"]) as seen:
        assert supervisor.get(path).status_code == 200
    reading = [t for t in seen if _reads_cases(t)]
    auditing = [t for t in seen if any("INSERT INTO audit_entries" in s for s in t)]
    assert reading and auditing
    assert not any(_writes(t) for t in reading)
    assert not any(_reads_cases(t) for t in auditing)
    if app.extensions["reportline.engine"].dialect.name == "sqlite":
        # The reads begin without the write lock (BEGIN IMMEDIATE would take it).
        assert all("BEGIN" in t and "BEGIN IMMEDIATE" not in t for t in reading), reading


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_queue_view_reads_every_case_while_another_connection_holds_the_write_lock(
    app: Flask, reporter: FlaskClient, supervisor: FlaskClient, db: Session
) -> None:
    """A reporter's submission holds SQLite's write lock; the queue reads meanwhile and
    waits only to append its audit entry."""
    submit_report(reporter)
    reference = cases.reference(db.scalars(select(Case.id)).one())
    engine = app.extensions["reportline.engine"]
    path = engine.url.database
    writer = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
    seen: dict[str, Any] = {"holding": False, "read_while_held": [], "refused": None}

    def watch(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if sql.startswith("SELECT") and "FROM cases" in sql and seen["refused"] is None:
            if not seen["holding"]:
                try:  # fails at once if the request holds the write lock
                    writer.execute("BEGIN IMMEDIATE")
                    seen["holding"] = True
                except sqlite3.OperationalError as exc:
                    seen["refused"] = str(exc)
                    return
            seen["read_while_held"].append(sql)
        elif sql == "BEGIN IMMEDIATE" and seen["holding"]:
            writer.execute("COMMIT")  # the other writer finishes; the audit append goes on
            seen["holding"] = False

    event.listen(engine, "before_cursor_execute", watch)
    try:
        page = supervisor.get("/triage/?status=all").get_data(as_text=True)
    finally:
        event.remove(engine, "before_cursor_execute", watch)
        writer.close()
    assert seen["refused"] is None, f"the queue read while holding the write lock: {seen}"
    assert reference in page
    # Its counts, its page of ids and the page's rows were all read under the other lock.
    assert len(seen["read_while_held"]) >= 3 and not seen["holding"]
    assert _queue_views(db)[-1] == {"page": 1, "status": "all"}


def test_a_read_only_transaction_refuses_writes_and_leaves_the_connection_writable(
    app: Flask, unit: Enrolled
) -> None:
    session = app.extensions["reportline.sessionmaker"]()
    try:
        begin_read_only(session)
        assert session.scalar(select(func.count()).select_from(Case)) == 0
        with pytest.raises(Exception, match=r"(?i)read-?only"):
            session.execute(text("UPDATE cases SET priority = 1"))
        session.rollback()
        session.execute(text("UPDATE cases SET priority = 1"))  # an ordinary write again
        session.commit()
        session.execute(select(func.count()).select_from(Case))
        with pytest.raises(RuntimeError):
            begin_read_only(session)  # only at the start of a transaction
    finally:
        session.rollback()
        session.close()


def test_the_sealed_filter_reads_each_generation_as_the_merged_index_does(
    app: Flask, unit: Enrolled, clock: MovableClock
) -> None:
    """Two unit key generations (after a rotation): a case's entry in the newer one
    replaces its entry in the older one, whether the index is merged or scanned."""
    older, newer = generate_private_key(), generate_private_key()
    keys = UnitKeyring({901: older, 902: newer})
    session = app.extensions["reportline.sessionmaker"]()
    try:
        for key_id, key in ((901, older), (902, newer)):
            public = key.public_key()
            session.add(
                UnitKey(
                    id=key_id,
                    public_key=public.raw,
                    fingerprint=public.fingerprint,
                    active=False,
                    created_at=clock(),
                )
            )
        session.flush()
        triage_index.record(session, keys, 901, 1, (MISUSE,), ("victimisation",))
        triage_index.record(session, keys, 901, 2, (MISUSE, DISCLOSURE), ())
        triage_index.record(session, keys, 901, 3, (DISCLOSURE,), ("victimisation",))
        triage_index.record(session, keys, 902, 2, (DISCLOSURE,), ("iopc_referral",))
        triage_index.record(session, keys, 902, 4, (MISUSE,), ())
        merged = triage_index.load(session, keys)
        for category in (None, MISUSE, DISCLOSURE, "Not a category"):
            for flag in (None, "victimisation", "iopc_referral", "no_such_flag"):
                expected = merged.cases_with(category, flag)
                assert triage_index.cases_carrying(session, keys, category, flag) == expected
        assert triage_index.cases_carrying(session, keys, MISUSE, None) == {1, 4}
        assert triage_index.cases_carrying(session, keys, DISCLOSURE, None) == {2, 3}
    finally:
        session.rollback()
        session.close()


def test_two_first_saves_of_a_generation_at_once_both_land_in_the_index(
    app: Flask, unit: Enrolled, clock: MovableClock
) -> None:
    """The second waits for the first's row instead of failing on its primary key."""
    key = generate_private_key()
    keys = UnitKeyring({903: key})
    make = app.extensions["reportline.sessionmaker"]
    with make() as setup:
        public = key.public_key()
        setup.add(
            UnitKey(
                id=903,
                public_key=public.raw,
                fingerprint=public.fingerprint,
                active=False,
                created_at=clock(),
            )
        )
        setup.commit()
    first, second = make(), make()
    outcome: list[BaseException | None] = []

    def save_second() -> None:
        try:
            triage_index.record(second, keys, 903, 2, (DISCLOSURE,), ())
            second.commit()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    try:
        triage_index.record(first, keys, 903, 1, (MISUSE,), ())
        waiting = threading.Thread(target=save_second)
        waiting.start()
        waiting.join(timeout=1)
        assert waiting.is_alive()  # queued behind the first save
        first.commit()
        waiting.join(timeout=30)
        assert outcome == [None]
        with make() as reader:
            assert triage_index.cases_carrying(reader, keys, MISUSE, None) == {1}
            assert triage_index.cases_carrying(reader, keys, DISCLOSURE, None) == {2}
    finally:
        first.close()
        second.close()
