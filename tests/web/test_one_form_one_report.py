"""One form makes one report, and whoever sent it always sees its receipt."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from reportline.models import SpentForm
from reportline.services import maintenance
from tests.helpers import (
    VALID_REPORT,
    Enrolled,
    MovableClock,
    count_cases,
    receipt_on,
    report_form,
)


def _copies_sent_at_once(client: FlaskClient, data: dict[str, str], copies: int) -> list[Any]:
    """The same POST `copies` times at the same moment, as from one browser."""
    cookie = client.get_cookie("rl_session")
    assert cookie is not None
    responses: list[Any] = [None] * copies
    start = threading.Barrier(copies)

    def send(index: int) -> None:
        copy = client.application.test_client()
        copy.set_cookie("rl_session", cookie.value)
        start.wait()
        responses[index] = copy.post("/report", data=data)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses


def test_five_copies_of_one_form_sent_at_once_store_one_case_and_all_show_its_receipt(
    reporter: FlaskClient, unit: Enrolled, db: Session
) -> None:
    _page, hidden = report_form(reporter)
    responses = _copies_sent_at_once(reporter, {**VALID_REPORT, **hidden}, 5)
    assert [r.status_code for r in responses] == [200] * 5
    assert len({receipt_on(r.get_data(as_text=True)) for r in responses}) == 1
    assert count_cases(db) == 1


def test_a_form_replayed_later_with_an_old_cookie_stores_nothing_more(
    app: Flask, reporter: FlaskClient, unit: Enrolled, db: Session, clock: MovableClock
) -> None:
    _page, hidden = report_form(reporter)
    saved_cookie = reporter.get_cookie("rl_session")
    assert saved_cookie is not None
    first = reporter.post("/report", data={**VALID_REPORT, **hidden})
    replay = app.test_client()
    replay.set_cookie("rl_session", saved_cookie.value)
    again = replay.post("/report", data={**VALID_REPORT, **hidden})
    assert again.status_code == 200
    assert receipt_on(again.get_data(as_text=True)) == receipt_on(first.get_data(as_text=True))
    assert count_cases(db) == 1


def test_the_receipt_of_a_repeated_form_is_kept_minutes_then_the_page_says_it_arrived(
    reporter: FlaskClient, unit: Enrolled, db: Session, clock: MovableClock
) -> None:
    _page, hidden = report_form(reporter)
    data = {**VALID_REPORT, **hidden}
    receipt = receipt_on(reporter.post("/report", data=data).get_data(as_text=True))
    row = db.scalars(select(SpentForm)).one()
    assert row.spent_on == clock().date() and row.sealed_receipt is not None
    assert receipt.split()[0].encode() not in row.sealed_receipt

    maintenance.age_kept_receipts(db)  # first round: marked
    db.commit()
    assert receipt_on(reporter.post("/report", data=data).get_data(as_text=True)) == receipt
    maintenance.age_kept_receipts(db)  # second round: dropped
    db.commit()
    later = reporter.post("/report", data=data)
    assert later.status_code == 409
    html = later.get_data(as_text=True)
    assert "This report has already been sent" in html and 'id="receipt"' not in html
    assert count_cases(db) == 1


def test_rounds_for_kept_receipts_come_at_a_random_pace_no_sooner_than_set() -> None:
    ticks = [0.0]
    rounds = maintenance.ReceiptRounds(5, clock=lambda: ticks[0])
    gaps, last = [], 0.0
    while len(gaps) < 20:
        ticks[0] += 1
        if rounds.due():
            gaps.append(ticks[0] - last)
            last = ticks[0]
    assert min(gaps) >= 300 and max(gaps) <= 600
    assert len(set(gaps)) > 1  # not a clock anyone can read back


# Tables that hold a time of day: officers' and operators' doings, and the reporter
# session's purge hour. A new one must be justified here (docs/security.md).
# Alerts (docs/security.md, "Alerts"): alert_batches and pending_alerts hold batch
# slots and retry times, written on the alert schedule, never when a report arrives;
# urgent_marks the quarter hour of an at-risk report, until its batch (minutes).
# key_rotations: when an operator rotated the unit key. exclusion_keys and their
# grants: when the key was made or given (a supervisor's or operator's act).
TIMED_TABLES = {
    "alert_batches",
    "key_rotations",
    "pending_alerts",
    "urgent_marks",
    "audit_entries",
    "enrolment_invites",
    "exclusion_key_grants",
    "exclusion_keys",
    "notes",
    "officer_sessions",
    "recovery_keys",
    "reporter_sessions",
    "status_changes",
    "throttle_buckets",
    "triage_records",
    "unit_key_grants",
    "unit_keys",
}


def test_no_row_keeps_a_clock_beyond_the_officer_side_tables() -> None:
    """Housekeeping records no time: a row rewritten on a clock would date, through
    PostgreSQL's row versions, every report written between two of its rewrites."""
    from reportline.db import Base

    timed = {
        table.name
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if column.type.python_type.__name__ == "datetime"
    }
    assert timed == TIMED_TABLES


def test_spent_form_values_are_kept_as_long_as_a_form_lives_then_forgotten(
    reporter: FlaskClient, unit: Enrolled, db: Session, clock: MovableClock
) -> None:
    settings = db.info["settings"]
    _page, hidden = report_form(reporter)
    reporter.post("/report", data={**VALID_REPORT, **hidden})
    clock.advance(hours=settings.form_lifetime_hours)
    maintenance.purge_expired(db, clock(), settings)
    db.commit()
    assert len(db.scalars(select(SpentForm)).all()) == 1  # a form of that day may still be sent
    clock.advance(days=1)
    maintenance.purge_expired(db, clock(), settings)
    db.commit()
    assert db.scalars(select(SpentForm)).all() == []


def test_an_expired_form_is_shown_again_with_everything_typed_and_a_fresh_value(
    reporter: FlaskClient, unit: Enrolled, db: Session, clock: MovableClock
) -> None:
    _page, hidden = report_form(reporter)
    clock.advance(hours=24, seconds=1)
    response = reporter.post("/report", data={**VALID_REPORT, **hidden})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "open for more than 24 hours" in html
    assert VALID_REPORT["where"] in html
    assert hidden["submission"] not in html
    assert count_cases(db) == 0
    fresh = html.split('name="submission" value="')[1].split('"')[0]
    resent = reporter.post("/report", data={**VALID_REPORT, **hidden, "submission": fresh})
    assert resent.status_code == 200 and count_cases(db) == 1


def test_a_mangled_one_time_value_is_a_fresh_form_not_an_error(
    reporter: FlaskClient, unit: Enrolled, db: Session
) -> None:
    _page, hidden = report_form(reporter)
    for mangled in (hidden["submission"] + "é", hidden["submission"][:-2] + "AA", "", "x" * 500):
        response = reporter.post("/report", data={**VALID_REPORT, **hidden, "submission": mangled})
        assert response.status_code == 400
        assert VALID_REPORT["when"] in response.get_data(as_text=True)
    assert count_cases(db) == 0


def test_a_form_sent_sooner_than_the_minimum_is_shown_again_and_the_wait_is_not_restarted(
    make_app: Callable[..., Flask], unit: Enrolled, db: Session, clock: MovableClock
) -> None:
    app = make_app(min_form_seconds=3)
    reporter = app.test_client()
    _page, hidden = report_form(reporter)
    clock.advance(seconds=1)
    early = reporter.post("/report", data={**VALID_REPORT, **hidden})
    assert early.status_code == 400
    html = early.get_data(as_text=True)
    assert "Your report has not been sent yet" in html and VALID_REPORT["where"] in html
    assert hidden["submission"] in html  # the same form, so its first fetch still counts
    clock.advance(seconds=2)
    assert reporter.post("/report", data={**VALID_REPORT, **hidden}).status_code == 200
    assert count_cases(db) == 1


def test_a_filled_in_honeypot_shows_the_form_again_with_the_text_kept(
    reporter: FlaskClient, unit: Enrolled, db: Session
) -> None:
    page, hidden = report_form(reporter)
    assert 'class="honeypot" aria-hidden="true"' in page and 'tabindex="-1"' in page
    data = {**VALID_REPORT, **hidden, "homepage": "http://spam.example"}
    response = reporter.post("/report", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "Your report has not been sent yet" in html
    assert VALID_REPORT["where"] in html and "spam.example" not in html
    assert count_cases(db) == 0
    assert reporter.post("/report", data={**VALID_REPORT, **hidden}).status_code == 200
