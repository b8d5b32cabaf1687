"""Every state-changing POST without a CSRF token is refused and stores nothing."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from reportline.db import Base
from tests.helpers import Enrolled, MovableClock, follow_up_sign_in, sign_in, submit_report
from tests.web.routes import routes

# Session and throttle rows are bookkeeping that a refused request may refresh
# (a session's idle clock); everything else must be byte-for-byte unchanged.
BOOKKEEPING = {"officer_sessions", "reporter_sessions", "throttle_buckets", "throttle_salts"}


def _content(db: Session) -> dict[str, list[Any]]:
    snapshot = {}
    for table in Base.metadata.sorted_tables:
        if table.name in BOOKKEEPING:
            continue
        rows = db.execute(select(table)).all()
        snapshot[table.name] = sorted(repr(tuple(row)) for row in rows)
    return snapshot


def test_every_post_route_without_a_csrf_token_is_refused_and_changes_nothing(
    app: Flask,
    samples: dict[str, str | int],
    supervisor: FlaskClient,
    db: Session,
    clock: MovableClock,
    unit: Enrolled,
) -> None:
    reporter = app.test_client()
    follow_up_sign_in(reporter, submit_report(reporter))
    posts = [r for r in routes(app, samples) if r.method == "POST"]
    assert len(posts) >= 12
    for route in posts:
        client: FlaskClient = supervisor if route.endpoint.startswith("triage.") else reporter
        before = _content(db)
        response = client.post(
            route.url,
            data={
                "status": "closed",
                "message": "forged",
                "kind": "message",
                "receipt": "forged",
                "email": unit.email,
                "password": unit.password,
                "code": "000000",
                "role": "officer",
                "category": "other",
                "what_happened": "forged",
                "how_known": "other",
                "at_risk": "no",
                "confirm": unit.password,
            },
        )
        assert response.status_code == 400, str(route)
        assert _content(db) == before, str(route)
    clock.advance(seconds=30)
    assert sign_in(app.test_client(), unit, clock).status_code == 303  # nothing got locked


def test_an_officer_form_refuses_a_token_from_a_reporter_page(
    app: Flask, samples: dict[str, str | int], supervisor: FlaskClient, db: Session
) -> None:
    """Signed-in officer forms take only tokens bound to the officer's own session: one
    from the reporter side of the same browser (the shared session cookie) is refused."""
    from tests.helpers import csrf_token

    reporter_token = csrf_token(supervisor.get("/follow-up").get_data(as_text=True))
    officer_token = csrf_token(supervisor.get("/triage/account").get_data(as_text=True))
    assert reporter_token != officer_token
    posts = [
        r for r in routes(app, samples) if r.method == "POST" and r.endpoint.startswith("triage.")
    ]
    signed_in_posts = [r for r in posts if r.endpoint not in {"triage.login", "triage.enrol"}]
    assert len(signed_in_posts) >= 10
    for route in signed_in_posts:
        before = _content(db)
        response = supervisor.post(route.url, data={"csrf_token": reporter_token})
        assert response.status_code == 400, str(route)
        assert _content(db) == before, str(route)
    accepted = supervisor.post("/triage/account/recovery-codes", data={"csrf_token": officer_token})
    assert accepted.status_code == 200


def test_the_public_officer_forms_work_in_a_browser_with_an_officer_session(
    app: Flask, supervisor: FlaskClient, db: Session, clock: MovableClock, unit: Enrolled
) -> None:
    """A supervisor who opens an enrolment link in their own signed-in browser: the page's
    token and the check of its POST use the same key."""
    from reportline.services import enrolment, instance
    from reportline.services.officers import get_officer
    from tests.helpers import csrf_token

    _officer, token = enrolment.invite_officer(
        db,
        "new.starter@unit.example",
        "officer",
        get_officer(db, unit.officer_id),
        clock(),
        instance.integrity_key(db.info["settings"]),
    )
    db.commit()
    page = supervisor.get(f"/triage/enrol/{token}").get_data(as_text=True)
    password = "copper whistle orchard seven"
    response = supervisor.post(
        f"/triage/enrol/{token}",
        data={"csrf_token": csrf_token(page), "password": password, "confirm": password},
    )
    assert response.status_code == 303
