"""Every officer route refuses the wrong person — swept from the URL map."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from reportline.models import Officer
from reportline.services import cases, enrolment, instance, keyring, officers
from reportline.web.triage.access import ENROLMENT_ENDPOINTS, PUBLIC_ENDPOINTS
from tests.helpers import (
    Enrolled,
    MovableClock,
    add_officer,
    add_reader,
    csrf_token,
    post_form,
    restrict_case,
    sign_in,
    unlock_officer_key,
)
from tests.web.routes import Route, officer_routes

SECRET_REPORT_TEXT = "Looked up an ex-partner"


def _request(client: FlaskClient, route: Route, token: str) -> tuple[int, str, str]:
    if route.method == "GET":
        response = client.get(route.url)
    else:
        response = client.open(route.url, method=route.method, data={"csrf_token": token})
    return (
        response.status_code,
        response.headers.get("Location", ""),
        response.get_data(as_text=True),
    )


def _token(client: FlaskClient) -> str:
    """A CSRF token from whichever page this client may load."""
    for path in ("/triage/login", "/triage/account", "/triage/second-factor", "/report"):
        response = client.get(path)
        if response.status_code == 200:
            return csrf_token(response.get_data(as_text=True))
    raise AssertionError("no page with a form")


def test_every_officer_route_sends_an_anonymous_visitor_to_sign_in(
    app: Flask, samples: dict[str, str | int]
) -> None:
    swept = 0
    for route in officer_routes(app, samples):
        if route.endpoint in PUBLIC_ENDPOINTS:
            continue
        client = app.test_client()
        status, location, body = _request(client, route, _token(client))
        assert (status, location) == (303, "/triage/login"), str(route)
        assert SECRET_REPORT_TEXT not in body
        swept += 1
    assert swept >= 12


def test_only_sign_in_and_enrolment_links_are_public() -> None:
    assert {"triage.login", "triage.enrol"} == PUBLIC_ENDPOINTS


def test_an_officer_is_refused_every_supervisor_route(
    app: Flask, samples: dict[str, str | int], db: Session, clock: MovableClock, unit: Enrolled
) -> None:
    officer = add_officer(db, clock, "plain.officer@unit.example")
    client = app.test_client()
    assert sign_in(client, officer, clock).status_code == 303
    admin_routes = [
        r for r in officer_routes(app, samples) if r.endpoint.startswith("triage.admin.")
    ]
    assert len(admin_routes) >= 7
    for route in admin_routes:
        status, _location, body = _request(client, route, _token(client))
        assert status == 403, str(route)
        assert "You cannot see this page" in body


def test_an_officer_without_the_unit_key_sees_awaiting_access_and_no_report(
    app: Flask, samples: dict[str, str | int], db: Session, clock: MovableClock
) -> None:
    officer = add_officer(db, clock, "new.officer@unit.example")
    client = app.test_client()
    sign_in(client, officer, clock)
    for path in ("/triage/", f"/triage/cases/{samples['reference']}"):
        response = client.get(path)
        assert response.status_code == 403
        body = response.get_data(as_text=True)
        assert "Awaiting access" in body and SECRET_REPORT_TEXT not in body


def test_a_deactivated_officer_is_refused_at_once_on_every_route(
    app: Flask, samples: dict[str, str | int], db: Session, clock: MovableClock, unit: Enrolled
) -> None:
    officer = add_officer(db, clock, "leaver@unit.example")
    officer_row = db.get(Officer, officer.officer_id)
    supervisor_row = db.get(Officer, unit.officer_id)
    assert officer_row and supervisor_row
    opened = keyring.unlock_unit_keys(db, unit.officer_id, unlock_officer_key(db, unit))
    keyring.grant_unit_key(
        db,
        opened,
        officer_row,
        supervisor_row,
        clock(),
        instance.integrity_key(db.info["settings"]),
    )
    db.commit()
    client = app.test_client()
    sign_in(client, officer, clock)
    assert client.get("/triage/").status_code == 200
    officers.deactivate(db, officer_row, supervisor_row, clock())
    db.commit()
    for route in officer_routes(app, samples):
        if route.endpoint in PUBLIC_ENDPOINTS:
            continue
        status, location, body = _request(client, route, _token(client))
        assert (status, location) == (303, "/triage/login"), str(route)
        assert SECRET_REPORT_TEXT not in body
    clock.advance(seconds=30)
    assert sign_in(client, officer, clock).status_code == 401


def test_a_half_signed_in_officer_can_only_set_up_the_second_factor(
    app: Flask, samples: dict[str, str | int], db: Session, clock: MovableClock, unit: Enrolled
) -> None:
    officer = add_officer(db, clock, "resetting@unit.example")
    officer_row = db.get(Officer, officer.officer_id)
    supervisor_row = db.get(Officer, unit.officer_id)
    assert officer_row and supervisor_row
    token = enrolment.reset_second_factor(
        db, officer_row, supervisor_row, clock(), instance.integrity_key(db.info["settings"])
    )
    db.commit()
    client = app.test_client()
    link = f"/triage/enrol/{token}"
    response = post_form(client, link, link, {"password": officer.password})
    assert response.headers["Location"] == "/triage/second-factor"
    for route in officer_routes(app, samples):
        if route.endpoint in PUBLIC_ENDPOINTS | ENROLMENT_ENDPOINTS:
            continue
        status, location, body = _request(client, route, _token(client))
        assert (status, location) == (303, "/triage/second-factor"), str(route)
        assert SECRET_REPORT_TEXT not in body
    assert client.get("/triage/second-factor").status_code == 200


def _untokened(html: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]*"', "", html)


def test_an_officer_outside_a_restricted_case_finds_every_route_about_it_missing(
    app: Flask, samples: dict[str, str | int], db: Session, clock: MovableClock, unit: Enrolled
) -> None:
    outsider = add_reader(db, clock, unit, "outsider@unit.example", "supervisor")
    reference = str(samples["reference"])
    restrict_case(db, unit, cases.parse_reference(reference), [unit.officer_id], clock())
    client = app.test_client()
    sign_in(client, outsider, clock)
    missing = "RL-0000-0001"
    swept = 0
    for route in officer_routes(app, samples):
        if reference not in route.url:
            continue
        status, _location, body = _request(client, route, _token(client))
        gone = Route(route.endpoint, route.method, route.url.replace(reference, missing))
        assert status == 404, str(route)
        assert SECRET_REPORT_TEXT not in body and reference not in body
        other = _request(client, gone, _token(client))
        # The same page but for its sign-out form's token (timestamped to the second).
        assert (status, _untokened(body)) == (other[0], _untokened(other[2])), str(route)
        swept += 1
    assert swept >= 10
