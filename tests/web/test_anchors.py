"""What a database-only writer cannot do because some secrets live outside the database:
the pinned unit key, officer key MACs, keyed one-time links, checked session keys."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from reportline.crypto.keys import generate_private_key
from reportline.models import Case, EnrolmentInvite, Officer, OfficerSession, UnitKey
from reportline.services.sessions import b64, new_token, seal_payload
from tests.helpers import (
    Enrolled,
    MovableClock,
    add_officer,
    csrf_token,
    post_form,
    sign_in,
    submit_report,
)


@pytest.fixture
def quiet_errors(app: Flask) -> Flask:
    """Let the app answer with its error pages instead of raising."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    return app


def _send_report(reporter: FlaskClient) -> int:
    page = reporter.get("/report").get_data(as_text=True)
    response = reporter.post(
        "/report",
        data={
            "csrf_token": csrf_token(page),
            "category": "other",
            "what_happened": "x",
            "how_known": "other",
            "at_risk": "no",
            "submission": page.split('name="submission" value="')[1].split('"')[0],
        },
    )
    return response.status_code


def test_a_unit_key_planted_in_the_database_is_never_sealed_to(
    quiet_errors: Flask, reporter: FlaskClient, unit: Enrolled, db: Session, clock: MovableClock
) -> None:
    genuine = db.scalars(select(UnitKey)).one()
    planted = generate_private_key().public_key()
    db.add(
        UnitKey(
            public_key=planted.raw, fingerprint=planted.fingerprint, active=True, created_at=clock()
        )
    )
    db.commit()
    quiet_errors.extensions.pop("reportline.unit_key", None)  # as a new process: read it again
    assert _send_report(reporter) == 200
    case = db.scalars(select(Case)).one()
    assert [seal.holder_id for seal in case.seals] == [genuine.id]


def test_a_planted_key_under_the_pinned_fingerprint_stops_reports_rather_than_take_them(
    quiet_errors: Flask, reporter: FlaskClient, unit: Enrolled, db: Session, clock: MovableClock
) -> None:
    genuine = db.scalars(select(UnitKey)).one()
    planted = generate_private_key().public_key()
    # A second row under the pinned fingerprint: the database refuses it (unique).
    with pytest.raises(IntegrityError):
        db.add(
            UnitKey(
                public_key=planted.raw,
                fingerprint=genuine.fingerprint,
                active=True,
                created_at=clock(),
            )
        )
        db.commit()
    db.rollback()
    # The pinned row's own public key replaced by the planted one instead.
    db.execute(update(UnitKey).where(UnitKey.id == genuine.id).values(public_key=planted.raw))
    db.commit()
    quiet_errors.extensions.pop("reportline.unit_key", None)
    assert _send_report(reporter) == 500
    assert db.scalars(select(Case)).all() == []


def test_an_officer_key_swapped_in_the_database_is_not_given_the_unit_key(
    app: Flask, supervisor: FlaskClient, db: Session, clock: MovableClock
) -> None:
    officer = add_officer(db, clock, "target@unit.example")
    attacker = generate_private_key().public_key()
    db.execute(
        update(Officer).where(Officer.id == officer.officer_id).values(public_key=attacker.raw)
    )
    page = f"/triage/admin/officers/{officer.officer_id}"
    app.config["PROPAGATE_EXCEPTIONS"] = False
    assert post_form(supervisor, page, f"{page}/grant", {}).status_code == 500
    from reportline.models import UnitKeyGrant

    assert (
        db.scalars(select(UnitKeyGrant).where(UnitKeyGrant.officer_id == officer.officer_id)).all()
        == []
    )
    clock.advance(seconds=30)
    assert sign_in(app.test_client(), officer, clock).status_code == 401


def test_the_officer_reads_the_fingerprint_the_supervisor_must_see(
    app: Flask, supervisor: FlaskClient, db: Session, clock: MovableClock
) -> None:
    officer = add_officer(db, clock, "careful@unit.example")
    own = app.test_client()
    sign_in(own, officer, clock)
    row = db.get(Officer, officer.officer_id)
    assert row is not None and row.public_key is not None
    from reportline.crypto.keys import PublicKey
    from reportline.web.labels import grouped

    fingerprint = grouped(PublicKey(row.public_key).fingerprint)
    assert fingerprint in own.get("/triage/account").get_data(as_text=True)
    admin_page = supervisor.get(f"/triage/admin/officers/{officer.officer_id}")
    assert fingerprint in admin_page.get_data(as_text=True)


def test_a_session_minted_in_the_database_is_refused(
    app: Flask, unit: Enrolled, db: Session, clock: MovableClock
) -> None:
    token = new_token()
    attacker_key = generate_private_key()
    db.add(
        OfficerSession(
            id_hash=token.id_hash,
            officer_id=unit.officer_id,
            stage="active",
            sealed=seal_payload(token, "officer-session", {"key": b64(attacker_key.raw)}),
            created_at=clock(),
            last_seen_at=clock(),
        )
    )
    db.commit()
    client = app.test_client()
    client.set_cookie("rl_officer", token.encode(), path="/triage")
    assert client.get("/triage/admin/").headers["Location"] == "/triage/login"


def test_a_one_time_link_planted_in_the_database_does_not_work(
    app: Flask, unit: Enrolled, db: Session, clock: MovableClock
) -> None:
    import hashlib

    victim = db.get(Officer, unit.officer_id)
    assert victim is not None
    token = secrets.token_urlsafe(32)
    db.add(
        EnrolmentInvite(
            token_hash=hashlib.sha256(b"reportline:v1:invite:" + token.encode()).digest(),
            officer_id=unit.officer_id,
            purpose="reset",
            expires_at=clock() + timedelta(hours=1),
            mac=bytes(32),
        )
    )
    db.commit()
    assert app.test_client().get(f"/triage/enrol/{token}").status_code == 404


def test_wrong_passwords_on_a_reset_link_are_slowed_like_a_strangers_and_never_lock(
    app: Flask, supervisor: FlaskClient, db: Session, clock: MovableClock
) -> None:
    import re

    officer = add_officer(db, clock, "locked.out@unit.example")
    page = f"/triage/admin/officers/{officer.officer_id}"
    shown = post_form(supervisor, page, f"{page}/reset-second-factor", {})
    link = re.search(
        r'id="enrolment-link">http://localhost([^<]+)<', shown.get_data(as_text=True)
    ).group(1)  # type: ignore[union-attr]
    guesser = app.test_client()
    failures = delays = 0
    while failures < 12:
        response = post_form(guesser, link, link, {"password": f"guess number {failures}"})
        if response.status_code == 429:
            delays += 1
            clock.advance(seconds=int(response.headers["Retry-After"]))
            continue
        assert response.status_code == 400
        failures += 1
    assert delays >= 8  # every failure past the free ones waited out a delay
    db.expire_all()
    assert not db.get(Officer, officer.officer_id).locked  # type: ignore[union-attr]
    clock.advance(hours=1)
    right = post_form(app.test_client(), link, link, {"password": officer.password})
    assert right.status_code == 303


def test_a_follow_up_session_ends_four_hours_after_sign_in_however_active(
    reporter: FlaskClient, unit: Enrolled, clock: MovableClock
) -> None:
    from tests.helpers import follow_up_sign_in

    follow_up_sign_in(reporter, submit_report(reporter))
    for _ in range(7):
        clock.advance(minutes=30)
        assert reporter.get("/follow-up/case").status_code == 200
    clock.advance(minutes=31)
    assert reporter.get("/follow-up/case").status_code == 303
