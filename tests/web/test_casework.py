"""Casework on the case page: the triage record, outcomes, feedback, owners and notes.
Every refusal names its problem and changes nothing."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from reportline.models import AuditEntry, Case, Note, Officer, TriageRecord
from reportline.services import cases, casework, officers
from tests.helpers import (
    REFERENCE,
    TRIAGE_RECORD,
    Enrolled,
    MovableClock,
    add_officer,
    add_reader,
    csrf_token,
    first_reference,
    follow_up_sign_in,
    officer_moves,
    officer_notes,
    officer_records,
    officer_writes,
    post_form,
    sign_in,
    submit_report,
)


def _case_page(officer: FlaskClient, reference: str) -> str:
    return html.unescape(officer.get(f"/triage/cases/{reference}").get_data(as_text=True))


def _case_text(officer: FlaskClient, reference: str) -> str:
    """The case page as a reader sees it: tags dropped, white space collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", _case_page(officer, reference)).split())


def _case(db: Session, reference: str) -> Case:
    case = db.get(Case, cases.parse_reference(reference), populate_existing=True)
    assert case is not None
    return case


def _audit_details(db: Session, action: str) -> list[dict[str, Any]]:
    """Each entry's case and details, as one dictionary."""
    rows = db.scalars(select(AuditEntry).where(AuditEntry.action == action)).all()
    return [{"case_id": row.case_id, **json.loads(row.detail)} for row in rows]


@pytest.fixture
def reference(reporter: FlaskClient, supervisor: FlaskClient) -> str:
    submit_report(reporter)
    return first_reference(supervisor)


@pytest.fixture
def colleague(db: Session, clock: MovableClock, unit: Enrolled) -> Enrolled:
    return add_reader(db, clock, unit, "colleague@unit.example")


def _signed_in(app: Flask, who: Enrolled, clock: MovableClock) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, who, clock).status_code == 303
    clock.advance(seconds=30)
    return client


# ---------------------------------------------------------------- the triage record


def test_every_field_of_the_triage_record_is_kept_and_shown_with_its_meaning(
    supervisor: FlaskClient, reference: str, db: Session
) -> None:
    response = officer_records(supervisor, reference)
    assert response.status_code == 303
    page = _case_page(supervisor, reference)
    for shown in (
        "High priority",
        "Misuse of force systems; Disclosure of information",
        "Victimisation of the reporter",
        "Corroboration needed before action",
        "Colleague",
        "Pat Example",
        "PC 4471",
        "Response officer",
        "Team 3, Northgate",
        "2: Untested",
        "B: Known personally to the source but not to the officer",
        "C: Lawful sharing permitted subject to conditions",
        "Not to be shared outside the unit",
        "Investigate",
        "Two lookups with no policing purpose",
        "An officer is said to have searched force systems for a relative",
        "INT-2026-0042",
        "OP-TIDEWAY",
        "Version 1",
    ):
        assert shown in page, shown
    case = _case(db, reference)
    assert case.triage_version == 1 and case.priority == 1
    # The audit names the fields that changed, never what they now say.
    (details,) = _audit_details(db, "case.triage_recorded")
    assert "subjects" in details["fields"] and "priority" in details["fields"]
    assert "Pat Example" not in json.dumps(details)


def test_each_save_is_a_new_version_and_the_history_says_who_changed_what(
    supervisor: FlaskClient, reference: str, db: Session
) -> None:
    officer_records(supervisor, reference)
    assert officer_records(supervisor, reference, decision="refer").status_code == 303
    page = _case_page(supervisor, reference)
    assert "Version 2" in page and "Changed: decision" in page
    assert len(db.scalars(select(TriageRecord)).all()) == 2
    # Saving what is already there writes nothing.
    officer_records(supervisor, reference, decision="refer")
    assert _case(db, reference).triage_version == 2


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("source_evaluation", "4", "Not a valid choice"),
        ("intelligence_assessment", "F", "Not a valid choice"),
        ("handling_code", "X", "Not a valid choice"),
        ("priority", "urgent", "Not a valid choice"),
        ("categories", "Parking offences", "Choose categories from the list"),
        ("risk_flags", "made_up", "Choose risk flags from the list"),
        ("handling_conditions", "", "Say the conditions of sharing under handling code C"),
        ("subjects-0-name", "x" * 121, "Use 120 characters or fewer"),
        ("allegation_summary", "x" * 4001, "Use 4,000 characters or fewer"),
        ("links-0-reference", "not a reference", "Enter a case reference like RL-ABCD-EFGH"),
        ("links-0-reference", "RL-ZZZZ-ZZZZ", "Link only to cases that exist"),
    ],
)
def test_a_value_outside_the_scheme_is_refused_next_to_its_field_and_nothing_is_saved(
    supervisor: FlaskClient, reference: str, db: Session, field: str, value: str, message: str
) -> None:
    response = officer_records(supervisor, reference, **{field: value})
    assert response.status_code == 400
    page = html.unescape(response.get_data(as_text=True))
    assert "There is a problem" in page and message in page
    assert 'class="error-message"' in page
    assert _case(db, reference).triage_version == 0
    assert db.scalars(select(TriageRecord)).all() == []


def test_a_form_someone_else_saved_over_is_refused_with_their_change_named(
    app: Flask,
    supervisor: FlaskClient,
    colleague: Enrolled,
    clock: MovableClock,
    reference: str,
    db: Session,
) -> None:
    url = f"/triage/cases/{reference}/record"
    mine = supervisor.get(url).get_data(as_text=True)
    theirs = _signed_in(app, colleague, clock)
    assert officer_records(theirs, reference, decision="record_only").status_code == 303
    response = supervisor.post(
        url, data={**TRIAGE_RECORD, "version": "0", "csrf_token": csrf_token(mine)}
    )
    assert response.status_code == 409
    page = html.unescape(response.get_data(as_text=True))
    assert "Not saved" in page and "colleague@unit.example" in page
    assert "Two lookups with no policing purpose" in page  # what was typed is kept
    assert _case(db, reference).triage_version == 1
    # The refused form now carries the newest version: sending again saves over it.
    version = re.search(r'name="version"[^>]*value="(\d+)"', page)
    assert version and version.group(1) == "1"


def test_add_another_subject_keeps_what_was_typed_and_saves_nothing(
    supervisor: FlaskClient, reference: str, db: Session
) -> None:
    response = officer_records(supervisor, reference, add_subject="1")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'name="subjects-1-name"' in page and 'value="Pat Example"' in page
    assert _case(db, reference).triage_version == 0


def _another_case(reporter: FlaskClient, supervisor: FlaskClient, *known: str) -> str:
    submit_report(reporter)
    queue = supervisor.get("/triage/?status=all").get_data(as_text=True)
    (newer,) = set(REFERENCE.findall(queue)) - set(known)
    return newer


def test_a_link_is_recorded_on_both_cases(
    reporter: FlaskClient, supervisor: FlaskClient, reference: str, db: Session
) -> None:
    newer = _another_case(reporter, supervisor, reference)
    response = officer_records(
        supervisor, newer, **{"links-0-kind": "duplicate_of", "links-0-reference": reference}
    )
    assert response.status_code == 303
    assert f"Duplicate of {reference}" in _case_text(supervisor, newer)
    assert f"Duplicated by {newer}" in _case_text(supervisor, reference)
    # Each audit entry names one case only.
    entries = _audit_details(db, "case.triage_recorded")
    assert {entry["case_id"] for entry in entries} == {
        cases.parse_reference(reference),
        cases.parse_reference(newer),
    }
    for details in entries:
        assert set(details) == {"case_id", "fields"}
    # Removing the link removes it from the other case too.
    officer_records(supervisor, newer, **{"links-0-reference": ""})
    assert newer not in _case_page(supervisor, reference)


def test_changing_a_links_kind_changes_it_on_the_other_case_too(
    reporter: FlaskClient, supervisor: FlaskClient, reference: str
) -> None:
    newer = _another_case(reporter, supervisor, reference)
    link = {"links-0-kind": "related_to", "links-0-reference": reference}
    officer_records(supervisor, newer, **link)
    officer_records(supervisor, newer, **{**link, "links-0-kind": "duplicate_of"})
    assert f"Duplicated by {newer}" in _case_text(supervisor, reference)
    assert f"Related to {newer}" not in _case_text(supervisor, reference)


def test_one_case_is_linked_once_and_a_full_case_takes_no_more_links(
    reporter: FlaskClient,
    supervisor: FlaskClient,
    reference: str,
    db: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    newer = _another_case(reporter, supervisor, reference)
    twice = {
        "links-0-kind": "related_to",
        "links-0-reference": reference,
        "links-1-kind": "duplicate_of",
        "links-1-reference": reference,
    }
    response = officer_records(supervisor, newer, **twice)
    assert response.status_code == 400
    assert "Link each other case once" in html.unescape(response.get_data(as_text=True))
    # A case already holding the most links it may is not given one more from elsewhere.
    monkeypatch.setattr(casework, "MAX_LINKS", 1)
    third = _another_case(reporter, supervisor, reference, newer)
    officer_records(supervisor, newer, **{"links-0-reference": reference})
    response = officer_records(supervisor, third, **{"links-0-reference": reference})
    assert response.status_code == 400
    assert f"{reference} already links 1 other cases" in html.unescape(
        response.get_data(as_text=True)
    )
    assert _case(db, third).triage_version == 0


def test_a_post_with_more_entries_than_the_form_holds_is_refused_not_cut_short(
    supervisor: FlaskClient, reference: str, db: Session
) -> None:
    extra = {f"subjects-{n}-name": f"Person {n}" for n in range(11)}
    response = officer_records(supervisor, reference, **extra)
    assert response.status_code == 400
    assert "Record at most 10 subjects" in response.get_data(as_text=True)
    assert _case(db, reference).triage_version == 0


def test_a_repeated_category_is_refused(
    supervisor: FlaskClient, reference: str, db: Session
) -> None:
    response = officer_records(supervisor, reference, categories=["Infiltration", "Infiltration"])
    assert response.status_code == 400
    assert _case(db, reference).triage_version == 0


def test_a_link_to_a_case_deleted_since_does_not_lock_the_record(
    reporter: FlaskClient, supervisor: FlaskClient, reference: str, db: Session
) -> None:
    newer = _another_case(reporter, supervisor, reference)
    officer_records(supervisor, newer, **{"links-0-reference": reference})
    db.execute(delete(Case).where(Case.id == cases.parse_reference(reference)))
    db.commit()
    response = officer_records(supervisor, newer, **{"links-0-reference": "", "rationale": "On"})
    assert response.status_code == 303
    assert reference not in _case_page(supervisor, newer)


# ---------------------------------------------------------------- outcomes and feedback


def test_closing_needs_an_outcome_and_a_rationale_and_changes_nothing_without(
    supervisor: FlaskClient, reference: str, db: Session
) -> None:
    url = f"/triage/cases/{reference}"
    response = post_form(supervisor, url, f"{url}/status", {"status": "closed", "reason": ""})
    assert response.status_code == 400
    page = html.unescape(response.get_data(as_text=True))
    assert "Choose the outcome" in page and "Say why the case is closed" in page
    assert _case(db, reference).status == "received"
    officer_moves(supervisor, reference, "closed", "No policing purpose found", outcome="withdrawn")
    page = _case_page(supervisor, reference)
    assert "Withdrawn" in page and "No policing purpose found" in page
    assert _case(db, reference).status == "closed"
    # Editing the record afterwards keeps the outcome, which only closing sets.
    assert officer_records(supervisor, reference, rationale="Reviewed again").status_code == 303
    page = _case_page(supervisor, reference)
    assert "Withdrawn" in page and "No policing purpose found" in page


def test_a_referred_case_keeps_the_receiving_body_and_its_reference(
    supervisor: FlaskClient, reference: str, db: Session
) -> None:
    officer_moves(supervisor, reference, "acknowledged")
    officer_moves(supervisor, reference, "referred", "Criminal matter")
    url = f"/triage/cases/{reference}"
    response = post_form(
        supervisor,
        url,
        f"{url}/status",
        {"status": "closed", "reason": "Passed on", "outcome": "other"},
    )
    assert response.status_code == 400
    page = html.unescape(response.get_data(as_text=True))
    assert "Choose the body the case was referred to" in page
    assert "Enter the receiving body" in page
    assert _case(db, reference).status == "referred"
    officer_moves(
        supervisor,
        reference,
        "closed",
        "Passed on",
        outcome="other",
        referral_body="iopc",
        referral_reference="IOPC-2026/118",
    )
    page = _case_page(supervisor, reference)
    assert "The IOPC" in page and "IOPC-2026/118" in page


def test_a_message_marked_as_feedback_records_it_and_the_deadline_goes(
    app: Flask,
    supervisor: FlaskClient,
    unit: Enrolled,
    reference: str,
    db: Session,
    clock: MovableClock,
) -> None:
    officer_moves(supervisor, reference, "acknowledged")
    assert _case(db, reference).due_on is not None
    clock.advance(days=88)  # three months less a few days: due soon
    supervisor = _signed_in(app, unit, clock)
    assert "Feedback due soon" in _case_page(supervisor, reference)
    url = f"/triage/cases/{reference}"
    post_form(
        supervisor,
        url,
        f"{url}/messages",
        {"message": "We looked into it.", "kind": "message", "is_feedback": "y"},
    )
    case = _case(db, reference)
    assert case.feedback_given_on == clock().date() and case.due_on is None
    page = _case_page(supervisor, reference)
    assert "Feedback due soon" not in page and "Feedback overdue" not in page


def test_the_acknowledgement_is_overdue_after_seven_days_then_feedback_is_counted(
    app: Flask, supervisor: FlaskClient, unit: Enrolled, reference: str, clock: MovableClock
) -> None:
    assert "Acknowledgement due soon" in _case_page(supervisor, reference)
    clock.advance(days=8)
    supervisor = _signed_in(app, unit, clock)
    assert "Acknowledgement overdue" in _case_page(supervisor, reference)
    officer_moves(supervisor, reference, "acknowledged")
    page = _case_page(supervisor, reference)
    assert (
        "Acknowledgement overdue" not in page
        and "Feedback"
        not in re.sub(r"<dt.*?</dt>|<label.*?</label>", "", page, flags=re.S).split("Dates")[0]
    )


# ---------------------------------------------------------------- ownership


def test_an_officer_takes_an_unassigned_case_declaring_no_conflict(
    app: Flask, colleague: Enrolled, clock: MovableClock, reference: str, db: Session
) -> None:
    client = _signed_in(app, colleague, clock)
    url = f"/triage/cases/{reference}"
    response = post_form(client, url, f"{url}/take", {})
    assert response.status_code == 400
    assert "Confirm that you have no conflict of interest" in response.get_data(as_text=True)
    assert _case(db, reference).assignee_id is None
    assert post_form(client, url, f"{url}/take", {"no_conflict": "y"}).status_code == 303
    case = _case(db, reference)
    assert case.assignee_id == colleague.officer_id and case.assignee_declared_on is not None
    page = _case_page(client, reference)
    assert "Yours" in page and "no conflict of interest declared" in page
    assert _audit_details(db, "case.no_conflict_declared")


def test_an_officer_who_cannot_read_reports_cannot_take_a_case(
    app: Flask, clock: MovableClock, reference: str, db: Session
) -> None:
    newcomer = add_officer(db, clock, "newcomer@unit.example")
    client = _signed_in(app, newcomer, clock)
    url = f"/triage/cases/{reference}"
    response = client.post(
        f"{url}/take",
        data={
            "no_conflict": "y",
            "csrf_token": csrf_token(client.get("/triage/account").get_data(as_text=True)),
        },
    )
    assert response.status_code == 403
    assert "awaiting" in response.get_data(as_text=True).lower()
    assert _case(db, reference).assignee_id is None


def test_a_taken_case_cannot_be_taken_again(
    app: Flask,
    supervisor: FlaskClient,
    colleague: Enrolled,
    clock: MovableClock,
    reference: str,
    db: Session,
) -> None:
    client = _signed_in(app, colleague, clock)
    url = f"/triage/cases/{reference}"
    page = client.get(url).get_data(as_text=True)
    assert post_form(supervisor, url, f"{url}/take", {"no_conflict": "y"}).status_code == 303
    response = client.post(f"{url}/take", data={"no_conflict": "y", "csrf_token": csrf_token(page)})
    assert response.status_code == 409
    assert "Someone else took this case first" in response.get_data(as_text=True)
    assert _case(db, reference).assignee_id != colleague.officer_id


def test_a_supervisor_assigns_and_the_owner_then_declares(
    app: Flask,
    supervisor: FlaskClient,
    colleague: Enrolled,
    clock: MovableClock,
    reference: str,
    db: Session,
) -> None:
    url = f"/triage/cases/{reference}"
    response = post_form(
        supervisor, url, f"{url}/assign", {"officer_id": str(colleague.officer_id)}
    )
    assert response.status_code == 303
    case = _case(db, reference)
    assert case.assignee_id == colleague.officer_id and case.assignee_declared_on is None
    client = _signed_in(app, colleague, clock)
    assert "No conflict declaration yet" in _case_page(client, reference)
    assert post_form(client, url, f"{url}/declare", {"no_conflict": "y"}).status_code == 303
    assert _case(db, reference).assignee_declared_on is not None
    assert post_form(client, url, f"{url}/unassign", {}).status_code == 303
    assert _case(db, reference).assignee_id is None


def test_no_one_who_cannot_read_reports_may_own_a_case(
    supervisor: FlaskClient, db: Session, clock: MovableClock, reference: str
) -> None:
    from tests.helpers import add_officer

    keyless = add_officer(db, clock, "keyless@unit.example")
    url = f"/triage/cases/{reference}"
    assert f'value="{keyless.officer_id}"' not in supervisor.get(url).get_data(as_text=True)
    response = post_form(supervisor, url, f"{url}/assign", {"officer_id": str(keyless.officer_id)})
    assert response.status_code == 400
    assert "Choose an officer who can read reports" in response.get_data(as_text=True)
    assert _case(db, reference).assignee_id is None


def test_only_a_supervisor_assigns(
    app: Flask,
    colleague: Enrolled,
    clock: MovableClock,
    reference: str,
    db: Session,
    unit: Enrolled,
) -> None:
    client = _signed_in(app, colleague, clock)
    url = f"/triage/cases/{reference}"
    response = post_form(client, url, f"{url}/assign", {"officer_id": str(unit.officer_id)})
    assert response.status_code == 403
    assert _case(db, reference).assignee_id is None


def test_a_deactivated_officers_cases_return_to_unassigned(
    app: Flask,
    supervisor: FlaskClient,
    colleague: Enrolled,
    clock: MovableClock,
    reference: str,
    db: Session,
    unit: Enrolled,
) -> None:
    client = _signed_in(app, colleague, clock)
    url = f"/triage/cases/{reference}"
    post_form(client, url, f"{url}/take", {"no_conflict": "y"})
    row, by = db.get(Officer, colleague.officer_id), db.get(Officer, unit.officer_id)
    assert row and by
    officers.deactivate(db, row, by, clock())
    db.commit()
    assert _case(db, reference).assignee_id is None
    assert "Unassigned" in _case_page(supervisor, reference)


# ---------------------------------------------------------------- notes


def test_notes_stay_apart_from_the_conversation_and_never_reach_the_reporter(
    reporter: FlaskClient, supervisor: FlaskClient, db: Session
) -> None:
    receipt = submit_report(reporter)
    reference = first_reference(supervisor)
    officer_writes(supervisor, reference, "Can you tell us the date?")
    assert officer_notes(supervisor, reference, "Check the duty rota first").status_code == 303
    page = _case_page(supervisor, reference)
    notes = page.split('id="notes"')[1]
    assert "Check the duty rota first" in notes
    assert "Check the duty rota first" not in page.split('id="notes"')[0]
    reporter_page = follow_up_sign_in(reporter, receipt).get_data(as_text=True)
    follow_up = reporter.get("/follow-up/case").get_data(as_text=True)
    assert "Can you tell us the date?" in follow_up
    assert "duty rota" not in follow_up and "duty rota" not in reporter_page


def test_a_note_over_its_limit_is_refused_and_nothing_is_stored(
    supervisor: FlaskClient, reference: str, db: Session
) -> None:
    response = officer_notes(supervisor, reference, "x" * 5001)
    assert response.status_code == 400
    assert "Use 5,000 characters or fewer" in response.get_data(as_text=True)
    assert db.scalars(select(Note)).all() == [] and _case(db, reference).note_count == 0


def test_an_officer_corrects_their_own_note_and_both_versions_stay(
    app: Flask,
    supervisor: FlaskClient,
    colleague: Enrolled,
    clock: MovableClock,
    reference: str,
    db: Session,
) -> None:
    officer_notes(supervisor, reference, "Rota says Tuesday")
    clock.advance(minutes=5)
    url = f"/triage/cases/{reference}/notes/1/correct"
    assert "Rota says Tuesday" in supervisor.get(url).get_data(as_text=True)
    response = post_form(supervisor, url, url, {"note": "Rota says Wednesday"})
    assert response.status_code == 303
    page = _case_page(supervisor, reference)
    assert "Rota says Wednesday" in page and "corrected" in page
    assert "Earlier versions (1)" in page and "Rota says Tuesday" in page
    assert len(db.scalars(select(Note)).all()) == 2
    # Another officer may not correct it, nor correct the superseded version.
    other = _signed_in(app, colleague, clock)
    assert other.get(f"/triage/cases/{reference}/notes/2/correct").status_code == 403
    assert supervisor.get(url).status_code == 404
