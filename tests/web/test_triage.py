"""The officer's queue and case: status as a state machine, deadlines, unread replies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from reportline.models import AuditEntry, Case, StatusChange
from reportline.services import cases
from reportline.services.deadlines import add_months, feedback_by
from tests.conftest import BACKENDS
from tests.helpers import (
    REFERENCE,
    Enrolled,
    MovableClock,
    first_reference,
    officer_moves,
    officer_records,
    sign_in,
    submit_report,
)


def test_acknowledging_records_who_when_why_and_starts_the_feedback_clock(
    reporter: FlaskClient,
    supervisor: FlaskClient,
    db: Session,
    clock: MovableClock,
    unit: Enrolled,
) -> None:
    submit_report(reporter)
    reference = first_reference(supervisor)
    clock.advance(days=2)
    supervisor = supervisor.application.test_client()
    sign_in(supervisor, unit, clock)
    assert (
        officer_moves(supervisor, reference, "acknowledged", "Logged for assessment").status_code
        == 303
    )
    case = db.scalars(select(Case)).one()
    assert (case.status, str(case.acknowledged_on)) == ("acknowledged", "2026-11-25")
    change = db.scalars(select(StatusChange)).one()
    assert (change.from_status, change.to_status, change.officer_id) == (
        "received",
        "acknowledged",
        unit.officer_id,
    )
    assert b"Logged for assessment" not in (change.reason or b"")
    page = supervisor.get(f"/triage/cases/{reference}").get_data(as_text=True)
    assert "Logged for assessment" in page and unit.email in page
    assert "25 February 2027" in page  # three months after acknowledgement
    assert db.scalars(select(AuditEntry).where(AuditEntry.action == "case.status_changed")).one()


def test_a_move_the_state_machine_forbids_is_refused_and_changes_nothing(
    reporter: FlaskClient, supervisor: FlaskClient, db: Session
) -> None:
    submit_report(reporter)
    reference = first_reference(supervisor)
    response = officer_moves(supervisor, reference, "investigating", "Typed with care")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "There is a problem" in page and 'href="#status"' in page  # the error summary
    assert "This case cannot move to that status now" in page
    assert "Typed with care" in page  # what was typed is kept
    too_long = officer_moves(supervisor, reference, "acknowledged", "x" * 2001)
    assert too_long.status_code == 400 and 'href="#reason"' in too_long.get_data(as_text=True)
    assert db.scalars(select(Case)).one().status == "received"
    assert db.scalars(select(StatusChange)).all() == []


def test_a_case_can_go_all_the_way_to_closed_and_be_reopened(
    reporter: FlaskClient, supervisor: FlaskClient, db: Session
) -> None:
    submit_report(reporter)
    reference = first_reference(supervisor)
    for status in ("acknowledged", "assessing", "investigating", "referred", "closed", "assessing"):
        officer_moves(supervisor, reference, status)
        db.expire_all()
        assert db.scalars(select(Case)).one().status == status


def test_the_queue_flags_acknowledgement_overdue_after_seven_days(
    app: Flask,
    app_settings: dict[str, object],
    reporter: FlaskClient,
    unit: Enrolled,
    clock: MovableClock,
) -> None:
    submit_report(reporter)
    clock.advance(days=7)
    officer = app.test_client()
    sign_in(officer, unit, clock)
    assert "Acknowledgement overdue" not in officer.get("/triage/").get_data(as_text=True)
    clock.advance(days=1)
    officer = app.test_client()
    sign_in(officer, unit, clock)
    assert "Acknowledgement overdue" in officer.get("/triage/").get_data(as_text=True)
    officer_moves(officer, first_reference(officer), "acknowledged")
    assert "Acknowledgement overdue" not in officer.get("/triage/").get_data(as_text=True)


def test_the_queue_is_paginated_newest_first_and_filtered_by_status(
    make_app: Callable[..., Flask], unit: Enrolled, clock: MovableClock
) -> None:
    app = make_app(queue_page_size=5)
    for day in range(7):
        submit_report(app.test_client(), what_happened=f"report {day}")
        clock.advance(days=1)
    officer = app.test_client()
    sign_in(officer, unit, clock)
    first_page = officer.get("/triage/").get_data(as_text=True)
    assert "Page 1 of 2 (7 cases)" in first_page
    assert len(set(REFERENCE.findall(first_page))) == 5
    assert "29 November 2026" in first_page and "23 November 2026" not in first_page
    second_page = officer.get("/triage/?page=2").get_data(as_text=True)
    assert len(set(REFERENCE.findall(second_page))) == 2 and "23 November 2026" in second_page
    officer_moves(officer, REFERENCE.findall(first_page)[0], "acknowledged")
    acknowledged = officer.get("/triage/?status=acknowledged").get_data(as_text=True)
    assert "Page 1 of 1 (1 case)" in acknowledged
    bogus = officer.get("/triage/?status=bogus")
    assert bogus.status_code == 400 and "Choose a status from the list" in bogus.get_data(True)
    assert officer.get("/triage/?page=99").status_code == 200
    for odd in ("%C2%B2", "-1", "x", "%D9%A2"):  # superscript two, negative, letter, Arabic two
        assert officer.get(f"/triage/?page={odd}").status_code == 200


def test_a_report_flagged_at_risk_stands_out_in_the_queue(
    reporter: FlaskClient, supervisor: FlaskClient
) -> None:
    submit_report(reporter, at_risk="yes", at_risk_detail="The victim is still in contact")
    assert "Risk now" in supervisor.get("/triage/").get_data(as_text=True)


def test_an_unknown_case_reference_is_a_404(supervisor: FlaskClient) -> None:
    assert supervisor.get("/triage/cases/RL-0000-0001").status_code == 404
    assert supervisor.get("/triage/cases/not-a-reference").status_code == 404


def test_feedback_is_due_three_calendar_months_after_acknowledgement() -> None:
    from datetime import date

    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert feedback_by(date(2026, 1, 31), date(2026, 1, 20)) == date(2026, 4, 30)
    assert feedback_by(None, date(2026, 1, 1)) == date(2026, 4, 8)


# Every view the plan test opens; "{officer}" is the supervisor's id. Together they use
# every filter alone, each sort, and filters combined.
QUEUE_VIEWS = (
    "",
    "page=2",
    "status=all",
    "status=closed",
    "status=received",
    "status=flood",
    "assignee=mine",
    "assignee=mine&status=all",
    "assignee=unassigned",
    "assignee={officer}",
    "priority=high",
    "priority=none",
    "due=overdue",
    "due=due_soon",
    "replies=unread",
    "sort=due",
    "sort=priority",
    "sort=priority&page=2",
    "category=misuse-of-force-systems",
    "flag=victimisation&status=all",
    "assignee=mine&priority=high&sort=due",
    "assignee=unassigned&due=overdue&replies=unread",
    "status=closed&priority=none&sort=priority&page=2",
    "category=misuse-of-force-systems&assignee=mine&sort=due",
)
# Views whose plan may sort, each with what its sort costs (bench/officer_pages.py
# measures every view): none. Sorting by priority reads one priority's index range after
# another, newest first within each; by deadline, ix_cases_due in order; by date, the
# date-ordered index of the view's owner, priority or status filter, else ix_cases_queue.
MAY_SORT: dict[str, str] = {}
# No view sorts, but one whose filters few cases pass may walk its whole index range
# for a page (at 100,000 cases about 100,000 entries, 5-20 ms on SQLite): the sealed
# filters and unread replies, sorted by date; and a filter that is not the driver is
# a set built from its own index range ("unassigned" or "no priority" may hold most
# cases). Counts walk the narrowest filter's range.


@pytest.mark.parametrize("backend", ["sqlite"])  # SQLite's planner has no statistics to go by
def test_every_queue_view_pages_through_an_index_without_sorting(
    app: Flask, reporter: FlaskClient, supervisor: FlaskClient, unit: Enrolled, db: Session
) -> None:
    """The plans that keep the queue fast at 100,000 reports (bench/officer_pages.py).

    Without table statistics SQLite plans the same for ten rows as for a
    hundred thousand, so a plan that sorts or merges indexes here would sort
    every case in the database on every view; and one that reads the table
    through a non-covering index would read every case row in the range, each
    several kilobytes. Rows are read only for the page (by primary key) and for
    flood-marked cases (ix_cases_flood, at most `flood_ceiling`).
    """
    for _ in range(3):
        submit_report(reporter)
    references = sorted(set(REFERENCE.findall(supervisor.get("/triage/").get_data(True))))
    officer_records(supervisor, references[0], priority="high")  # a category and flags too
    officer_moves(supervisor, references[1], "closed")
    db.execute(
        update(Case)
        .where(Case.id == cases.parse_reference(references[2]))
        .values(possible_flood=True)
    )
    settings = app.extensions["reportline.settings"]
    app.extensions["reportline.settings"] = replace(settings, queue_page_size=1)
    engine = app.extensions["reportline.engine"]
    statements: list[tuple[str, str, Any]] = []
    view = ""

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().startswith("SELECT") and "FROM cases" in statement:
            statements.append((view, statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        for view in QUEUE_VIEWS:
            query = view.format(officer=unit.officer_id)
            assert supervisor.get(f"/triage/?{query}").status_code == 200, query
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert {v for v, _, _ in statements} == set(QUEUE_VIEWS)
    with engine.connect() as connection:
        for view, statement, parameters in statements:
            steps = [
                row[-1]
                for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            ]
            plan = " | ".join(steps)
            if view not in MAY_SORT:
                assert "TEMP B-TREE" not in plan, (view, statement, plan)
            assert "MULTI-INDEX" not in plan, (view, statement, plan)
            for step in steps:
                if step.startswith(("SCAN cases", "SEARCH cases")):
                    # An index alone, never the table: but the page's own rows, by
                    # primary key, and the flood group's.
                    assert (
                        "USING COVERING INDEX" in step
                        or "USING PRIMARY KEY" in step
                        or "USING INDEX ix_cases_flood" in step
                    ), (view, statement, plan)
                    if "USING PRIMARY KEY" in step:
                        assert "WHERE cases.id IN" in statement, (view, statement, plan)


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b == "postgresql"])
def test_the_counts_above_the_queue_are_index_only_on_postgresql(
    app: Flask, reporter: FlaskClient, supervisor: FlaskClient
) -> None:
    """PostgreSQL plans from statistics, which an empty database lacks; with scans of
    the table ruled out, each count must still find a covering index for its open
    cases (the few closed cases with unread replies may be read through
    ix_cases_unread, which on PostgreSQL does not hold the id)."""
    submit_report(reporter)
    engine = app.extensions["reportline.engine"]
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "queue_ledger" in statement and statement.lstrip().startswith("SELECT"):
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        assert supervisor.get("/triage/").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    ((statement, parameters),) = captured
    with engine.connect() as connection:
        connection.exec_driver_sql("SET enable_seqscan = off")
        connection.exec_driver_sql("SET enable_bitmapscan = off")
        plan = "\n".join(
            row[0] for row in connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
        )
    assert "Seq Scan on cases" not in plan, plan
    for index, times in (
        ("ix_cases_status_queue", 1),  # open
        ("ix_cases_owner_status", 2),  # mine, unassigned
        ("ix_cases_due", 1),  # overdue
    ):
        assert plan.count(f"Index Only Scan using {index} on cases") == times, plan
