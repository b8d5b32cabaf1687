"""Submitting a report: validated field by field, stored whole or not at all, receipt once."""

from __future__ import annotations

import re
from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from reportline.models import Case
from tests.helpers import (
    SUBMISSION_FIELD,
    VALID_REPORT,
    Enrolled,
    count_cases,
    csrf_token,
    report_form,
    submit_report,
)


def test_the_landing_page_explains_the_line_and_its_limits(reporter: FlaskClient) -> None:
    page = reporter.get("/").get_data(as_text=True)
    for words in (
        "What you can report",  # what the line is for
        "within 7 days",  # what happens next, and when
        "within 3 months",
        "does not record your name",  # how anonymity is protected
        # and every date kept, said plainly (never a time of day for what a reporter does)
        "the day your report arrived and the day you sent each message",
        "(acknowledging it, replying, changing its status) is dated too",
        "Your report is encrypted as soon as it arrives",
        "Where anonymity ends",
        "A work computer or phone may record",  # where it ends: the device,
        "What you write can identify you",  # the wording of the report,
        "Telling colleagues",  # and telling colleagues
        "Call 999",  # someone in danger now
        "Leave this site",
    ):
        assert words in page, words


def test_a_valid_report_is_stored_sealed_and_a_ten_word_receipt_shown(
    reporter: FlaskClient, unit: Enrolled, db: Session, clock: object
) -> None:
    receipt = submit_report(reporter)
    assert len(receipt.split()) == 10
    case = db.scalars(select(Case)).one()
    assert case.received_on == date(2026, 11, 23)
    assert case.status == "received"
    assert VALID_REPORT["what_happened"].encode() not in case.report
    assert [(s.holder, s.holder_id) for s in case.seals] == [("unit_key", case.unit_key_id)]
    assert len(case.seals[0].sealed) > 1000


def test_an_empty_form_names_each_missing_answer_next_to_its_field(
    reporter: FlaskClient, unit: Enrolled, db: Session
) -> None:
    _, hidden = report_form(reporter)
    response = reporter.post("/report", data=hidden)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "There is a problem" in html
    for field, message in [
        ("category", "Choose what your report is about"),
        ("what_happened", "Tell us what happened"),
        ("how_known", "Choose how you know about it"),
        ("at_risk", "Say whether anyone is at risk of harm now"),
    ]:
        assert message in html
        assert f'id="{field}-error"' in html
    assert 'href="#category-0"' in html and 'href="#what_happened"' in html
    assert count_cases(db) == 0


def test_what_was_typed_is_kept_when_the_form_comes_back_with_errors(
    reporter: FlaskClient, unit: Enrolled, db: Session
) -> None:
    _, hidden = report_form(reporter)
    data = {**VALID_REPORT, **hidden, "category": "", "who_involved": "PC 4471 Jones"}
    html = reporter.post("/report", data=data).get_data(as_text=True)
    assert "PC 4471 Jones" in html and VALID_REPORT["what_happened"].replace("'", "&#39;") in html
    assert count_cases(db) == 0


def test_answers_over_the_length_limit_are_refused_with_the_limit_named(
    reporter: FlaskClient, unit: Enrolled, db: Session
) -> None:
    _, hidden = report_form(reporter)
    data = {**VALID_REPORT, **hidden, "where": "x" * 201}
    html = reporter.post("/report", data=data).get_data(as_text=True)
    assert "Use 200 characters or fewer" in html
    assert count_cases(db) == 0


def test_a_tampered_choice_is_refused_not_stored(
    reporter: FlaskClient, unit: Enrolled, db: Session
) -> None:
    _, hidden = report_form(reporter)
    response = reporter.post("/report", data={**VALID_REPORT, **hidden, "category": "nonsense"})
    assert response.status_code == 400
    assert count_cases(db) == 0


def test_a_missing_csrf_token_is_refused_and_the_typed_text_kept(
    reporter: FlaskClient, unit: Enrolled, db: Session
) -> None:
    _, hidden = report_form(reporter)
    response = reporter.post("/report", data={**VALID_REPORT, "submission": hidden["submission"]})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "This page expired before it was sent" in html
    assert "Looked up an ex-partner" in html
    assert count_cases(db) == 0


def test_the_receipt_is_never_in_a_url_or_cookie(reporter: FlaskClient, unit: Enrolled) -> None:
    page = reporter.get("/report").get_data(as_text=True)
    data = {**VALID_REPORT, "csrf_token": csrf_token(page)}
    data["submission"] = SUBMISSION_FIELD.search(page).group(1)  # type: ignore[union-attr]
    response = reporter.post("/report", data=data)
    words = re.findall(r"<li>([a-z]+)</li>", response.get_data(as_text=True))
    cookies = " ".join(response.headers.getlist("Set-Cookie"))
    assert "Location" not in response.headers
    assert not any(word in cookies for word in words if len(word) > 3)


def test_a_reporter_gets_only_a_session_cookie_without_expiry(
    reporter: FlaskClient, unit: Enrolled
) -> None:
    assert reporter.get("/").headers.getlist("Set-Cookie") == []
    response = reporter.get("/report")
    cookies = response.headers.getlist("Set-Cookie")
    assert len(cookies) == 1
    cookie = cookies[0].lower()
    assert cookie.startswith("rl_session=")
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert "expires" not in cookie and "max-age" not in cookie and "domain" not in cookie


def test_the_receipt_page_urges_emergency_help_when_someone_is_at_risk(
    reporter: FlaskClient, unit: Enrolled
) -> None:
    page = reporter.get("/report").get_data(as_text=True)
    data = {**VALID_REPORT, "at_risk": "yes", "csrf_token": csrf_token(page)}
    data["submission"] = SUBMISSION_FIELD.search(page).group(1)  # type: ignore[union-attr]
    html = reporter.post("/report", data=data).get_data(as_text=True)
    assert "You said someone is at risk of harm now" in html


def test_a_report_before_the_instance_is_initialised_fails_safely(
    app: Flask, reporter: FlaskClient, db: Session
) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False
    _, hidden = report_form(reporter)
    response = reporter.post("/report", data={**VALID_REPORT, **hidden})
    assert response.status_code == 500
    assert "Nothing you sent was stored" in response.get_data(as_text=True)
    assert count_cases(db) == 0


def test_the_form_is_rendered_once_but_every_visitor_gets_their_own_tokens(
    app: Flask, unit: Enrolled
) -> None:
    first, second = app.test_client(), app.test_client()
    page_one = first.get("/report").get_data(as_text=True)
    page_two = second.get("/report").get_data(as_text=True)
    assert csrf_token(page_one) != csrf_token(page_two)
    assert SUBMISSION_FIELD.search(page_one).group(1) != SUBMISSION_FIELD.search(page_two).group(1)  # type: ignore[union-attr]
    assert "RLSLOT" not in page_one + page_two
    second.get("/language/cy")
    welsh = second.get("/report").get_data(as_text=True)
    assert 'lang="cy"' in welsh and 'lang="en"' in first.get("/report").get_data(as_text=True)


def test_a_report_whose_random_id_is_taken_is_stored_under_another(
    reporter: FlaskClient, unit: Enrolled, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reportline.db import random_id
    from reportline.services import submissions

    submit_report(reporter)
    taken = db.scalars(select(Case.id)).one()
    ids = iter([taken, random_id()])
    monkeypatch.setattr(submissions, "random_id", lambda: next(ids))
    submit_report(reporter.application.test_client(), what_happened="second one")
    assert count_cases(db) == 2


def test_every_reporter_gets_their_own_receipt_from_the_cached_page(
    app: Flask, unit: Enrolled
) -> None:
    receipts = {submit_report(app.test_client()) for _ in range(3)}
    assert len(receipts) == 3
    at_risk = app.test_client()
    page = at_risk.get("/report").get_data(as_text=True)
    data = {**VALID_REPORT, "at_risk": "yes", "csrf_token": csrf_token(page)}
    data["submission"] = SUBMISSION_FIELD.search(page).group(1)  # type: ignore[union-attr]
    html = at_risk.post("/report", data=data).get_data(as_text=True)
    assert "You said someone is at risk of harm now" in html and "RLSLOT" not in html
    assert "You said someone is at risk" not in app.test_client().get("/").get_data(as_text=True)
