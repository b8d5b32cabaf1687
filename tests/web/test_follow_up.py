"""Anonymous two-way follow-up with the receipt."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from reportline.models import Case, Message, ReporterSession, ThrottleBucket
from tests.helpers import (
    Enrolled,
    MovableClock,
    first_reference,
    follow_up_sign_in,
    officer_moves,
    officer_writes,
    post_form,
    reporter_replies,
    submit_report,
)


def test_the_whole_dialogue_works_and_both_sides_read_it(
    reporter: FlaskClient, supervisor: FlaskClient, clock: MovableClock
) -> None:
    receipt = submit_report(reporter)
    reference = first_reference(supervisor)
    assert (
        officer_moves(supervisor, reference, "acknowledged", "Read and logged").status_code == 303
    )
    officer_writes(supervisor, reference, "Which shift was this on?")

    fresh = reporter.application.test_client()
    response = follow_up_sign_in(fresh, receipt)
    assert response.status_code == 303 and response.headers["Location"] == "/follow-up/case"
    page = fresh.get("/follow-up/case").get_data(as_text=True)
    assert "Acknowledged" in page and "23 November 2026" in page
    assert "Which shift was this on?" in page
    assert "23 February 2027" in page  # feedback due three months after acknowledgement
    assert "Read and logged" not in page  # the reason is internal to the unit

    assert reporter_replies(fresh, "B shift, the night of the 17th.").status_code == 303
    queue = supervisor.get("/triage/").get_data(as_text=True)
    assert "1 new reply" in queue
    case = supervisor.get(f"/triage/cases/{reference}").get_data(as_text=True)
    assert "B shift, the night of the 17th." in case
    assert "1 new reply" not in supervisor.get("/triage/").get_data(as_text=True)


def test_the_receipt_is_forgiving_of_case_and_line_breaks(
    reporter: FlaskClient, unit: Enrolled
) -> None:
    receipt = submit_report(reporter)
    messy = receipt.upper().replace(" ", "\n", 3).replace(" ", "  -  ")
    assert follow_up_sign_in(reporter, messy).status_code == 303


def test_a_typo_names_the_word_and_is_not_counted_as_a_guess(
    reporter: FlaskClient, unit: Enrolled, db: Session
) -> None:
    receipt = submit_report(reporter).split()
    wrong = receipt[4] + "q"
    receipt[4] = wrong
    response = follow_up_sign_in(reporter, " ".join(receipt))
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert f"Word 5, “{wrong}”, is not one of the receipt words" in html
    assert db.scalars(select(ThrottleBucket)).all() == []


def test_a_wrong_receipt_gets_a_plain_answer_and_no_case(
    reporter: FlaskClient, unit: Enrolled
) -> None:
    submit_report(reporter)
    other = reporter.application.test_client()
    response = follow_up_sign_in(other, "abacus " * 10)
    assert response.status_code == 400
    assert "We could not find a report with this receipt" in response.get_data(as_text=True)
    assert other.get("/follow-up/case").status_code == 303


def test_a_second_reporter_never_sees_the_first_reporters_case(
    app: Flask, supervisor: FlaskClient
) -> None:
    first, second = app.test_client(), app.test_client()
    first_receipt = submit_report(first, what_happened="First: sergeant took cash.")
    submit_report(second, what_happened="Second: inspector bullies staff.")
    for reference in set(
        __import__("re").findall(
            r"RL-[0-9A-Z]{4}-[0-9A-Z]{4}", supervisor.get("/triage/").get_data(as_text=True)
        )
    ):
        officer_writes(supervisor, reference, f"Question about {reference}")

    follow_up_sign_in(second, submit_report(second, what_happened="Third one"))
    follow_up_sign_in(first, first_receipt)
    first_page = first.get("/follow-up/case").get_data(as_text=True)
    second_page = second.get("/follow-up/case").get_data(as_text=True)
    assert first_page.count("Question about") == 1
    assert "Question about" not in second_page  # the third report has no messages yet
    assert first_page != second_page


def test_a_guesser_at_the_same_address_never_keeps_a_reporter_out(
    app: Flask, db: Session, unit: Enrolled, clock: MovableClock
) -> None:
    """Behind an intranet proxy every reporter shares one address: guessing from it
    (hopeless against 129 bits) slows nobody, the guesser included."""
    receipt = submit_report(app.test_client())
    guesser = app.test_client()
    statuses = [follow_up_sign_in(guesser, "abacus " * 10).status_code for _ in range(50)]
    assert set(statuses) == {400}  # each wrong receipt is simply wrong: no delay, no lockout
    assert follow_up_sign_in(app.test_client(), receipt).status_code == 303


def test_a_wrong_receipt_writes_nothing(
    app: Flask, db: Session, unit: Enrolled, clock: MovableClock
) -> None:
    before = _row_counts(db)
    for _ in range(5):
        assert follow_up_sign_in(app.test_client(), "abacus " * 10).status_code == 400
    assert _row_counts(db) == before
    assert db.scalars(select(ThrottleBucket)).all() == []


def _row_counts(db: Session) -> dict[str, int]:
    from sqlalchemy import func

    from reportline.db import Base

    return {
        table.name: db.scalar(select(func.count()).select_from(table)) or 0
        for table in Base.metadata.sorted_tables
    }


def test_receipt_checks_beyond_the_gate_are_told_the_service_is_busy(
    app: Flask, unit: Enrolled
) -> None:
    """Checks in flight are bounded per process; one that finds no slot in time does no
    work and says so, with the text kept."""
    gate = app.extensions["reportline.follow_up_gate"]
    gate.wait_seconds = 0.01
    with gate.slot():  # every slot taken (one, by default)
        response = follow_up_sign_in(app.test_client(), "abacus " * 10)
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert "The service is busy" in response.text and "abacus abacus" in response.text
    assert follow_up_sign_in(app.test_client(), "abacus " * 10).status_code == 400


def test_an_ipv6_client_is_one_client_across_its_64_addresses(app: Flask) -> None:
    from reportline.web.context import client_address

    seen = set()
    for address in ("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe", "2001:db8:1:2::abcd"):
        with app.test_request_context(environ_base={"REMOTE_ADDR": address}):
            seen.add(client_address())
    assert seen == {"2001:db8:1:2::/64"}
    with app.test_request_context(environ_base={"REMOTE_ADDR": "10.0.0.7"}):
        assert client_address() == "10.0.0.7"


def test_the_follow_up_session_keeps_no_receipt_and_no_case_in_the_database(
    reporter: FlaskClient, unit: Enrolled, db: Session
) -> None:
    receipt = submit_report(reporter)
    response = follow_up_sign_in(reporter, receipt)
    cookie = " ".join(response.headers.getlist("Set-Cookie"))
    assert not any(word in cookie for word in receipt.split() if len(word) > 3)
    session_row = db.scalars(select(ReporterSession)).one()
    case = db.scalars(select(Case)).one()
    assert str(case.id).encode() not in session_row.sealed
    assert session_row.purge_after.minute == 0 and session_row.purge_after.second == 0


def test_leaving_ends_the_session_for_good(
    reporter: FlaskClient, unit: Enrolled, db: Session
) -> None:
    follow_up_sign_in(reporter, submit_report(reporter))
    stolen_cookie = reporter.get_cookie("rl_session")
    assert stolen_cookie is not None
    response = reporter.get("/leave")
    assert response.status_code == 303
    assert "cookies" in response.headers["Clear-Site-Data"]
    assert db.scalars(select(ReporterSession)).all() == []
    thief = reporter.application.test_client()
    thief.set_cookie("rl_session", stolen_cookie.value)
    assert thief.get("/follow-up/case").status_code == 303


def test_a_follow_up_session_expires_after_inactivity(
    reporter: FlaskClient, unit: Enrolled, clock: MovableClock
) -> None:
    follow_up_sign_in(reporter, submit_report(reporter))
    assert reporter.get("/follow-up/case").status_code == 200
    clock.advance(minutes=59)
    assert reporter.get("/follow-up/case").status_code == 200
    clock.advance(minutes=61)
    assert reporter.get("/follow-up/case").status_code == 303


def test_an_empty_reply_is_refused_and_nothing_is_stored(
    reporter: FlaskClient, unit: Enrolled, db: Session
) -> None:
    follow_up_sign_in(reporter, submit_report(reporter))
    response = reporter_replies(reporter, "   ")
    assert response.status_code == 400
    assert "Write your message" in response.get_data(as_text=True)
    assert db.scalars(select(Message)).all() == []


def test_a_reply_without_csrf_token_is_refused_and_kept_on_screen(
    reporter: FlaskClient, unit: Enrolled, db: Session
) -> None:
    follow_up_sign_in(reporter, submit_report(reporter))
    response = reporter.post("/follow-up/case", data={"message": "I remembered the car reg"})
    assert response.status_code == 400
    assert "I remembered the car reg" in response.get_data(as_text=True)
    assert db.scalars(select(Message)).all() == []


def test_the_outcome_an_officer_shares_is_shown_to_the_reporter_when_closed(
    reporter: FlaskClient, supervisor: FlaskClient
) -> None:
    receipt = submit_report(reporter)
    reference = first_reference(supervisor)
    officer_moves(supervisor, reference, "acknowledged")
    officer_moves(supervisor, reference, "investigating")
    officer_writes(supervisor, reference, "The officer has been dismissed.", kind="outcome")
    officer_moves(supervisor, reference, "closed", "Misconduct proven")
    follow_up_sign_in(reporter, receipt)
    page = reporter.get("/follow-up/case").get_data(as_text=True)
    assert "Closed" in page and "The officer has been dismissed." in page and "Outcome" in page


def test_a_reply_to_a_closed_case_brings_it_back_into_the_default_queue(
    reporter: FlaskClient, supervisor: FlaskClient
) -> None:
    receipt = submit_report(reporter)
    reference = first_reference(supervisor)
    officer_moves(supervisor, reference, "closed", "Nothing to investigate")
    assert reference not in supervisor.get("/triage/").get_data(as_text=True)

    follow_up_sign_in(reporter, receipt)
    reporter_replies(reporter, "I have found the messages he sent.")
    queue = supervisor.get("/triage/").get_data(as_text=True)
    assert reference in queue and "1 new reply" in queue
    case = supervisor.get(f"/triage/cases/{reference}").get_data(as_text=True)
    assert "I have found the messages he sent." in case
    assert reference not in supervisor.get("/triage/").get_data(as_text=True)  # read: back out
    assert reference in supervisor.get("/triage/?status=closed").get_data(as_text=True)


def test_closing_a_new_case_acknowledges_it_and_reopening_keeps_the_feedback_clock(
    reporter: FlaskClient, supervisor: FlaskClient
) -> None:
    receipt = submit_report(reporter)
    reference = first_reference(supervisor)
    officer_moves(supervisor, reference, "closed")
    officer_moves(supervisor, reference, "assessing", "New information")
    follow_up_sign_in(reporter, receipt)
    page = reporter.get("/follow-up/case").get_data(as_text=True)
    assert "Not yet" not in page
    assert "23 November 2026" in page and "23 February 2027" in page  # acknowledged when closed


def test_the_units_messages_are_new_until_the_reporter_replies(
    reporter: FlaskClient, supervisor: FlaskClient
) -> None:
    receipt = submit_report(reporter)
    officer_writes(supervisor, first_reference(supervisor), "Can you call us?")
    follow_up_sign_in(reporter, receipt)
    assert ">New<" in reporter.get("/follow-up/case").get_data(as_text=True)
    assert ">New<" in reporter.get("/follow-up/case").get_data(as_text=True)  # nothing stored
    reporter_replies(reporter, "I would rather not call.")
    assert ">New<" not in reporter.get("/follow-up/case").get_data(as_text=True)


def test_reading_the_case_writes_nothing_and_the_session_row_is_never_updated(
    reporter: FlaskClient, supervisor: FlaskClient, db: Session, clock: MovableClock
) -> None:
    receipt = submit_report(reporter)
    officer_writes(supervisor, first_reference(supervisor), "A question")
    follow_up_sign_in(reporter, receipt)
    before_case = repr(tuple(db.execute(select(Case.__table__)).one()))
    before_session = db.scalars(select(ReporterSession)).one().sealed
    clock.advance(minutes=20)
    reporter.get("/follow-up/case")
    reporter_replies(reporter, "An answer")
    reporter.get("/follow-up/case")
    db.expire_all()
    assert db.scalars(select(ReporterSession)).one().sealed == before_session
    case_after = repr(tuple(db.execute(select(Case.__table__)).one()))
    assert case_after != before_case  # the reply itself did change the case (message count)


def test_follow_up_sign_in_needs_a_csrf_token(reporter: FlaskClient, unit: Enrolled) -> None:
    receipt = submit_report(reporter)
    assert reporter.post("/follow-up", data={"receipt": receipt}).status_code == 400
    assert post_form(reporter, "/follow-up", "/follow-up", {"receipt": receipt}).status_code == 303


def test_the_reporter_sees_every_status_in_plain_words(
    reporter: FlaskClient, supervisor: FlaskClient
) -> None:
    receipt = submit_report(reporter)
    reference = first_reference(supervisor)
    follow_up_sign_in(reporter, receipt)
    path = [
        ("acknowledged", "Acknowledged", "confirmed that the unit has it"),
        ("assessing", "Being assessed", "deciding what needs to happen next"),
        ("referred", "Referred", "passed to the right team"),
        ("investigating", "Under investigation", "investigating what you reported"),
        ("closed", "Closed", "finished its work on your report"),
    ]
    page = reporter.get("/follow-up/case").get_data(as_text=True)
    assert ">Received<" in page and "waiting for an officer to read it" in page
    for status, label, explained in path:
        assert officer_moves(supervisor, reference, status).status_code == 303, status
        page = reporter.get("/follow-up/case").get_data(as_text=True)
        assert f">{label}<" in page and explained in page, status


def test_an_officer_sees_which_reporter_messages_are_new_until_the_case_is_opened(
    reporter: FlaskClient, supervisor: FlaskClient
) -> None:
    receipt = submit_report(reporter)
    reference = first_reference(supervisor)
    follow_up_sign_in(reporter, receipt)
    reporter_replies(reporter, "One more thing I remembered.")
    first_view = supervisor.get(f"/triage/cases/{reference}").get_data(as_text=True)
    assert "One more thing I remembered." in first_view and ">New<" in first_view
    second_view = supervisor.get(f"/triage/cases/{reference}").get_data(as_text=True)
    assert ">New<" not in second_view
