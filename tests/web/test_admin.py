"""Supervisor pages: officers, their access to the key, their second factor."""

from __future__ import annotations

import re
from datetime import UTC

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from reportline.models import AuditEntry, Officer, OfficerSession, UnitKeyGrant
from tests.helpers import (
    Enrolled,
    MovableClock,
    add_officer,
    post_form,
    sign_in,
    submit_report,
    unlock_officer_key,
)


def test_the_officers_page_lists_everyone_with_their_state(
    supervisor: FlaskClient, db: Session, clock: MovableClock
) -> None:
    add_officer(db, clock, "listed@unit.example")
    page = supervisor.get("/triage/admin/").get_data(as_text=True)
    assert "listed@unit.example" in page and "supervisor@unit.example" in page


def test_granting_the_unit_key_lets_an_officer_read_reports(
    app: Flask, supervisor: FlaskClient, reporter: FlaskClient, db: Session, clock: MovableClock
) -> None:
    submit_report(reporter, what_happened="visible after the grant")
    officer = add_officer(db, clock, "granted@unit.example")
    client = app.test_client()
    sign_in(client, officer, clock)
    assert client.get("/triage/").status_code == 403
    page = f"/triage/admin/officers/{officer.officer_id}"
    assert post_form(supervisor, page, f"{page}/grant", {}).status_code == 303
    assert "can now read reports" in supervisor.get(page).get_data(as_text=True)
    queue = client.get("/triage/")
    assert queue.status_code == 200 and "Corruption" in queue.get_data(as_text=True)
    grant = db.scalars(select(UnitKeyGrant).where(UnitKeyGrant.officer_id == officer.officer_id))
    assert grant.one().granted_by_id is not None


def test_deactivation_ends_sessions_and_deletes_the_officers_key_copy(
    app: Flask, supervisor: FlaskClient, db: Session, clock: MovableClock
) -> None:
    officer = add_officer(db, clock, "leaving@unit.example")
    page = f"/triage/admin/officers/{officer.officer_id}"
    post_form(supervisor, page, f"{page}/grant", {})
    client = app.test_client()
    sign_in(client, officer, clock)
    post_form(supervisor, page, f"{page}/deactivate", {})
    assert client.get("/triage/").headers["Location"] == "/triage/login"
    assert (
        db.scalars(
            select(OfficerSession).where(OfficerSession.officer_id == officer.officer_id)
        ).all()
        == []
    )
    assert (
        db.scalars(select(UnitKeyGrant).where(UnitKeyGrant.officer_id == officer.officer_id)).all()
        == []
    )
    assert "Deactivated" in supervisor.get("/triage/admin/").get_data(as_text=True)


def test_a_supervisor_cannot_deactivate_themselves(
    supervisor: FlaskClient, unit: Enrolled, db: Session
) -> None:
    page = f"/triage/admin/officers/{unit.officer_id}"
    response = post_form(supervisor, page, f"{page}/deactivate", {})
    assert response.status_code == 303
    assert db.get(Officer, unit.officer_id).active  # type: ignore[union-attr]


def test_nobody_can_deactivate_the_last_officer_who_can_read_reports(
    app: Flask, supervisor: FlaskClient, unit: Enrolled, db: Session, clock: MovableClock
) -> None:
    newcomer = add_officer(db, clock, "new.supervisor@unit.example", role="supervisor")
    client = app.test_client()
    sign_in(client, newcomer, clock)
    page = f"/triage/admin/officers/{unit.officer_id}"
    answer = post_form(client, page, f"{page}/deactivate", {})
    assert answer.status_code == 303
    shown = client.get(page).get_data(as_text=True)
    assert "Nothing was changed" in shown and "last active officer who can read reports" in shown
    assert db.get(Officer, unit.officer_id).active  # type: ignore[union-attr]

    # Someone else holds the unit key; the original holder is still the only one who
    # holds the exclusion key (reports whose reporter kept someone out).
    colleague = add_officer(db, clock, "colleague@unit.example")
    colleague_page = f"/triage/admin/officers/{colleague.officer_id}"
    post_form(supervisor, colleague_page, f"{colleague_page}/grant", {})
    post_form(client, page, f"{page}/deactivate", {})
    shown = client.get(page).get_data(as_text=True)
    assert "last supervisor who can read reports with an exclusion" in shown
    assert db.get(Officer, unit.officer_id).active  # type: ignore[union-attr]

    # Once another supervisor holds both, the original holder can go.
    newcomer_page = f"/triage/admin/officers/{newcomer.officer_id}"
    post_form(supervisor, newcomer_page, f"{newcomer_page}/grant", {})
    typed = {"fingerprint": unlock_officer_key(db, newcomer).public_key().fingerprint}
    granted = post_form(supervisor, newcomer_page, f"{newcomer_page}/grant-exclusion", typed)
    assert "can now read reports with an exclusion" in supervisor.get(
        granted.headers["Location"]
    ).get_data(as_text=True)
    post_form(client, page, f"{page}/deactivate", {})
    db.expire_all()
    assert not db.get(Officer, unit.officer_id).active  # type: ignore[union-attr]


def test_resetting_the_second_factor_needs_the_link_and_the_current_password(
    app: Flask, supervisor: FlaskClient, db: Session, clock: MovableClock
) -> None:
    officer = add_officer(db, clock, "lostphone@unit.example")
    phone = app.test_client()
    sign_in(phone, officer, clock)
    page = f"/triage/admin/officers/{officer.officer_id}"
    shown = post_form(supervisor, page, f"{page}/reset-second-factor", {})
    match = re.search(r'id="enrolment-link">http://localhost([^<]+)<', shown.get_data(as_text=True))
    assert match
    link = match.group(1)
    assert phone.get("/triage/").headers["Location"] == "/triage/login"  # signed out at once

    clock.advance(seconds=30)
    assert sign_in(app.test_client(), officer, clock, code="").status_code == 401
    clock.advance(seconds=30)
    old_code = sign_in(app.test_client(), officer, clock, code=officer.recovery_codes[0])
    assert old_code.status_code == 401  # old recovery codes stopped working

    client = app.test_client()
    wrong = post_form(client, link, link, {"password": "not my password at all"})
    assert wrong.status_code == 400
    assert "That is not your current password" in wrong.get_data(as_text=True)
    right = post_form(client, link, link, {"password": officer.password})
    assert right.headers["Location"] == "/triage/second-factor"
    page_html = client.get("/triage/second-factor").get_data(as_text=True)
    seed = re.search(r'class="secret">([A-Z2-7]+)<', page_html).group(1)  # type: ignore[union-attr]
    done = post_form(
        client,
        "/triage/second-factor",
        "/triage/second-factor",
        {"code": pyotp.TOTP(seed).at(clock().replace(tzinfo=UTC))},
    )
    assert "Your recovery codes" in done.get_data(as_text=True)
    assert client.get(link).status_code == 404  # the link worked once
    assert client.get("/triage/account").status_code == 200


def test_inviting_an_existing_email_is_refused_next_to_the_field(
    supervisor: FlaskClient, unit: Enrolled
) -> None:
    response = post_form(
        supervisor,
        "/triage/admin/officers/new",
        "/triage/admin/officers/new",
        {"email": unit.email, "role": "officer"},
    )
    assert response.status_code == 400
    assert "already exists" in response.get_data(as_text=True)


def test_an_invalid_email_is_refused(supervisor: FlaskClient) -> None:
    response = post_form(
        supervisor,
        "/triage/admin/officers/new",
        "/triage/admin/officers/new",
        {"email": "not an email", "role": "officer"},
    )
    assert response.status_code == 400


def test_an_email_that_is_not_ascii_is_refused_next_to_the_field(
    supervisor: FlaskClient, db: Session
) -> None:
    response = post_form(
        supervisor,
        "/triage/admin/officers/new",
        "/triage/admin/officers/new",
        {"email": "j\u00f6rg@unit.example", "role": "officer"},
    )
    assert response.status_code == 400
    assert "only of the letters a-z, digits and punctuation" in response.get_data(as_text=True)
    assert db.scalar(select(Officer.id).where(Officer.email.like("j%"))) is None


def test_deactivating_and_resetting_ask_first_and_say_what_will_happen(
    supervisor: FlaskClient, db: Session, clock: MovableClock
) -> None:
    officer = add_officer(db, clock, "careful@unit.example")
    page = f"/triage/admin/officers/{officer.officer_id}"
    detail = supervisor.get(page).get_data(as_text=True)
    # No single click on the officer's page deactivates or resets: these are links.
    assert f'action="{page}/deactivate"' not in detail and f'href="{page}/deactivate"' in detail
    assert f'action="{page}/reset-second-factor"' not in detail
    assert f'href="{page}/reset-second-factor"' in detail

    confirm = supervisor.get(f"{page}/deactivate").get_data(as_text=True)
    assert "can reactivate the account later" in confirm
    assert f'action="{page}/deactivate"' in confirm
    assert db.get(Officer, officer.officer_id).active  # type: ignore[union-attr]  # asked only
    reset = supervisor.get(f"{page}/reset-second-factor").get_data(as_text=True)
    assert "recovery codes stop working" in reset
    assert f'action="{page}/reset-second-factor"' in reset

    post_form(supervisor, f"{page}/deactivate", f"{page}/deactivate", {})
    db.expire_all()
    assert not db.get(Officer, officer.officer_id).active  # type: ignore[union-attr]


def test_a_lost_or_expired_enrolment_link_can_be_replaced(
    app: Flask, supervisor: FlaskClient, db: Session, clock: MovableClock
) -> None:
    created = post_form(
        supervisor,
        "/triage/admin/officers/new",
        "/triage/admin/officers/new",
        {"email": "slow.starter@unit.example", "role": "officer"},
    ).get_data(as_text=True)
    old = re.search(r'id="enrolment-link">http://localhost([^<]+)<', created)
    assert old
    officer_id = db.scalars(
        select(Officer.id).where(Officer.email == "slow.starter@unit.example")
    ).one()
    clock.advance(minutes=10)
    page = f"/triage/admin/officers/{officer_id}"
    assert "Make a new enrolment link" in supervisor.get(page).get_data(as_text=True)
    renewed = post_form(supervisor, page, f"{page}/enrolment-link", {}).get_data(as_text=True)
    new = re.search(r'id="enrolment-link">http://localhost([^<]+)<', renewed)
    assert new and new.group(1) != old.group(1)
    newcomer = app.test_client()
    assert newcomer.get(old.group(1)).status_code == 404  # the old link stopped working
    assert newcomer.get(new.group(1)).status_code == 200
    assert db.scalars(
        select(AuditEntry).where(AuditEntry.action == "officer.enrolment_link_renewed")
    ).one()


def test_an_enrolled_officer_gets_no_new_enrolment_link(
    supervisor: FlaskClient, db: Session, clock: MovableClock
) -> None:
    officer = add_officer(db, clock, "already.in@unit.example")
    page = f"/triage/admin/officers/{officer.officer_id}"
    assert "Make a new enrolment link" not in supervisor.get(page).get_data(as_text=True)
    post_form(supervisor, page, f"{page}/enrolment-link", {})
    assert "Nothing was changed" in supervisor.get(page).get_data(as_text=True)
