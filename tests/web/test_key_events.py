"""An officer's keys over time: password change, forgotten password, revoke, reactivate,
role change. Each keeps the unit able to read every report."""

from __future__ import annotations

import json
import re
from datetime import UTC

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from reportline.models import AuditEntry, Officer
from tests.helpers import (
    Enrolled,
    MovableClock,
    add_officer,
    add_reader,
    first_reference,
    post_form,
    sign_in,
    submit_report,
    totp_code,
)

REPORT_TEXT = "Looked up an ex-partner"
NEW_PASSWORD = "saffron glacier tambourine wharf"
ACCOUNT_PASSWORD = "/triage/account/password"


def _actions(db: Session, action: str) -> list[AuditEntry]:
    return list(db.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def _change_password(
    client: FlaskClient, who: Enrolled, clock: MovableClock, **fields: str
) -> object:
    clock.advance(seconds=30)  # a code not used by the sign-in
    data = {
        "current": who.password,
        "code": totp_code(who.totp_seed, clock),
        "new": NEW_PASSWORD,
        "confirm": NEW_PASSWORD,
        **fields,
    }
    return post_form(client, ACCOUNT_PASSWORD, ACCOUNT_PASSWORD, data)


def test_a_changed_password_opens_the_key_the_old_one_does_not_and_other_sessions_end(
    app: Flask, reporter: FlaskClient, db: Session, clock: MovableClock, unit: Enrolled
) -> None:
    submit_report(reporter)
    reader = add_reader(db, clock, unit, "reader@unit.example")
    here, elsewhere = app.test_client(), app.test_client()
    sign_in(here, reader, clock)
    clock.advance(seconds=30)
    sign_in(elsewhere, reader, clock)

    changed = _change_password(here, reader, clock)
    assert changed.status_code == 303  # type: ignore[attr-defined]
    assert "Your password is changed" in here.get("/triage/account").get_data(as_text=True)
    assert elsewhere.get("/triage/").headers["Location"] == "/triage/login"
    reference = first_reference(here)  # this session still reads
    assert REPORT_TEXT in here.get(f"/triage/cases/{reference}").get_data(as_text=True)

    clock.advance(seconds=30)
    assert sign_in(app.test_client(), reader, clock).status_code == 401  # the old password
    clock.advance(seconds=30)
    fresh = app.test_client()
    with_new = Enrolled(reader.email, NEW_PASSWORD, reader.totp_seed, reader.officer_id)
    assert sign_in(fresh, with_new, clock).status_code == 303
    assert REPORT_TEXT in fresh.get(f"/triage/cases/{reference}").get_data(as_text=True)
    assert len(_actions(db, "officer.password_changed")) == 1


def test_a_password_change_refuses_bad_input_next_to_its_field_and_changes_nothing(
    app: Flask, db: Session, clock: MovableClock, unit: Enrolled
) -> None:
    officer = add_officer(db, clock, "careful@unit.example")
    client = app.test_client()
    sign_in(client, officer, clock)
    wrapped = db.scalar(select(Officer.wrapped_private_key).where(Officer.id == officer.officer_id))
    mistakes = {
        "That is not your current password": {"current": "not my password at all"},
        "That code is not right": {"code": "000000"},
        "The two new passwords are not the same": {"confirm": "something else entirely"},
        "Use at least 12 characters": {"new": "short", "confirm": "short"},
        "Choose a password other than your current one": {
            "new": officer.password,
            "confirm": officer.password,
        },
        "Enter the 6-digit code": {"code": ""},
    }
    for message, fields in mistakes.items():
        answer = _change_password(client, officer, clock, **fields)
        assert answer.status_code == 400, message  # type: ignore[attr-defined]
        page = answer.get_data(as_text=True)  # type: ignore[attr-defined]
        assert message in page and 'class="error-message"' in page, message
    db.expire_all()
    assert wrapped == db.scalar(
        select(Officer.wrapped_private_key).where(Officer.id == officer.officer_id)
    )
    assert _actions(db, "officer.password_changed") == []


def test_a_reset_officer_gets_a_new_key_pair_and_reads_only_after_a_new_grant(
    app: Flask,
    supervisor: FlaskClient,
    reporter: FlaskClient,
    db: Session,
    clock: MovableClock,
    unit: Enrolled,
) -> None:
    submit_report(reporter)
    forgetful = add_reader(db, clock, unit, "forgetful@unit.example")
    old_key = db.scalar(select(Officer.public_key).where(Officer.id == forgetful.officer_id))
    their_browser = app.test_client()
    sign_in(their_browser, forgetful, clock)
    page = f"/triage/admin/officers/{forgetful.officer_id}"

    asked = supervisor.get(f"{page}/reset-password").get_data(as_text=True)
    assert "Nobody can recover it" in asked and f'action="{page}/reset-password"' in asked
    shown = post_form(supervisor, page, f"{page}/reset-password", {}).get_data(as_text=True)
    match = re.search(r'id="enrolment-link">http://localhost([^<]+)<', shown)
    assert match and "They cannot read any report until" in shown
    link = match.group(1)
    assert their_browser.get("/triage/").headers["Location"] == "/triage/login"
    clock.advance(seconds=30)
    assert sign_in(app.test_client(), forgetful, clock).status_code == 401

    client = app.test_client()
    chosen = "marigold ferry lantern copper"
    assert post_form(client, link, link, {"password": chosen, "confirm": chosen}).status_code == 303
    setup = client.get("/triage/second-factor").get_data(as_text=True)
    seed = re.search(r'class="secret">([A-Z2-7]+)<', setup).group(1)  # type: ignore[union-attr]
    code = pyotp.TOTP(seed).at(clock().replace(tzinfo=UTC))
    post_form(client, "/triage/second-factor", "/triage/second-factor", {"code": code})
    assert "Awaiting access" in client.get("/triage/").get_data(as_text=True)
    db.expire_all()
    new_key = db.scalar(select(Officer.public_key).where(Officer.id == forgetful.officer_id))
    assert new_key is not None and new_key != old_key

    officers_page = supervisor.get("/triage/admin/").get_data(as_text=True)
    waiting = officers_page.split('id="waiting-for-access"', 1)[1].split("</div>", 1)[0]
    assert "forgetful@unit.example" in waiting
    post_form(supervisor, page, f"{page}/grant", {})
    reference = first_reference(client)
    assert REPORT_TEXT in client.get(f"/triage/cases/{reference}").get_data(as_text=True)
    assert len(_actions(db, "officer.password_reset")) == 1


def test_a_revoked_officer_keeps_the_account_but_no_session_opens_any_case(
    app: Flask,
    supervisor: FlaskClient,
    reporter: FlaskClient,
    db: Session,
    clock: MovableClock,
    unit: Enrolled,
) -> None:
    submit_report(reporter)
    leaving = add_reader(db, clock, unit, "moving.on@unit.example")
    client = app.test_client()
    sign_in(client, leaving, clock)
    reference = first_reference(client)
    assert REPORT_TEXT in client.get(f"/triage/cases/{reference}").get_data(as_text=True)

    page = f"/triage/admin/officers/{leaving.officer_id}"
    asked = supervisor.get(f"{page}/revoke").get_data(as_text=True)
    assert "keep their account" in asked and f'action="{page}/revoke"' in asked
    post_form(supervisor, page, f"{page}/revoke", {})
    told = supervisor.get(page).get_data(as_text=True)
    assert "can no longer read reports" in told and "Rotate the unit key on the keys page" in told

    refused = client.get(f"/triage/cases/{reference}")  # the same session as before
    assert refused.status_code == 403 and REPORT_TEXT not in refused.get_data(as_text=True)
    assert client.get("/triage/account").status_code == 200  # still signed in
    clock.advance(seconds=30)
    assert sign_in(app.test_client(), leaving, clock).status_code == 303
    assert len(_actions(db, "officer.access_revoked")) == 1


def test_nobody_revokes_or_resets_the_last_officer_who_can_read_reports(
    app: Flask, db: Session, clock: MovableClock, unit: Enrolled
) -> None:
    deputy = add_officer(db, clock, "deputy@unit.example", role="supervisor")
    client = app.test_client()
    sign_in(client, deputy, clock)
    page = f"/triage/admin/officers/{unit.officer_id}"
    for action in ("revoke", "reset-password"):
        post_form(client, page, f"{page}/{action}", {})
        shown = client.get(page).get_data(as_text=True)
        assert "Nothing was changed" in shown, action
        assert "last active officer who can read reports" in shown, action
    chief = db.get(Officer, unit.officer_id)
    assert chief is not None and chief.public_key is not None
    assert len(_actions(db, "officer.access_revoked") + _actions(db, "officer.password_reset")) == 0


def test_a_reactivated_officer_signs_in_again_and_awaits_access(
    app: Flask, supervisor: FlaskClient, db: Session, clock: MovableClock, unit: Enrolled
) -> None:
    returning = add_reader(db, clock, unit, "returning@unit.example")
    page = f"/triage/admin/officers/{returning.officer_id}"
    post_form(supervisor, page, f"{page}/deactivate", {})
    assert sign_in(app.test_client(), returning, clock).status_code == 401
    asked = supervisor.get(f"{page}/reactivate").get_data(as_text=True)
    assert "cannot read any report until" in asked
    post_form(supervisor, page, f"{page}/reactivate", {})
    again = post_form(supervisor, page, f"{page}/reactivate", {})  # twice: refused, says why
    assert again.status_code == 303
    assert "they are active already" in supervisor.get(page).get_data(as_text=True)
    clock.advance(seconds=30)
    client = app.test_client()
    assert sign_in(client, returning, clock).status_code == 303
    assert "Awaiting access" in client.get("/triage/").get_data(as_text=True)
    assert len(_actions(db, "officer.reactivated")) == 1


def test_after_a_stolen_laptop_the_old_password_stops_before_the_officer_is_back(
    app: Flask, supervisor: FlaskClient, db: Session, clock: MovableClock, unit: Enrolled
) -> None:
    robbed = add_reader(db, clock, unit, "robbed@unit.example")
    page = f"/triage/admin/officers/{robbed.officer_id}"
    post_form(supervisor, page, f"{page}/deactivate", {})
    offered = supervisor.get(page).get_data(as_text=True)
    assert (
        "Rotate the unit key so that" in offered
        and "Rotate the unit key on the keys page" in offered
    )
    shown = post_form(supervisor, page, f"{page}/reset-password", {}).get_data(as_text=True)
    match = re.search(r'id="enrolment-link">http://localhost([^<]+)<', shown)
    assert match
    link = match.group(1)
    assert app.test_client().get(link).status_code == 404  # not while deactivated
    post_form(supervisor, page, f"{page}/reactivate", {})
    clock.advance(seconds=30)
    assert sign_in(app.test_client(), robbed, clock).status_code == 401  # the saved password
    client = app.test_client()
    chosen = "juniper anchor velvet thimble"
    assert post_form(client, link, link, {"password": chosen, "confirm": chosen}).status_code == 303


def test_a_supervisor_changes_a_role_and_bad_choices_are_refused_clearly(
    app: Flask, supervisor: FlaskClient, db: Session, clock: MovableClock, unit: Enrolled
) -> None:
    colleague = add_officer(db, clock, "colleague@unit.example")
    page = f"/triage/admin/officers/{colleague.officer_id}"
    role_page = f"{page}/role"
    for sent in ({}, {"role": ""}, {"role": "admin"}):
        answer = post_form(supervisor, role_page, role_page, sent)
        assert answer.status_code == 400 and "Choose a role" in answer.get_data(as_text=True)
    same = post_form(supervisor, role_page, role_page, {"role": "officer"})
    assert same.status_code == 303
    assert "they are already an officer" in supervisor.get(page).get_data(as_text=True)
    mine = f"/triage/admin/officers/{unit.officer_id}/role"
    post_form(supervisor, mine, mine, {"role": "officer"})
    assert "cannot change your own role" in supervisor.get(
        f"/triage/admin/officers/{unit.officer_id}"
    ).get_data(as_text=True)

    post_form(supervisor, role_page, role_page, {"role": "supervisor"})
    client = app.test_client()
    sign_in(client, colleague, clock)
    assert client.get("/triage/admin/").status_code == 200
    post_form(supervisor, role_page, role_page, {"role": "officer"})
    assert client.get("/triage/admin/").status_code == 403
    changes = _actions(db, "officer.role_changed")
    assert [json.loads(entry.detail) for entry in changes][-2:] == [
        {"officer": colleague.officer_id, "role": "supervisor"},
        {"officer": colleague.officer_id, "role": "officer"},
    ]
