"""Roles are authenticated: a role written in the database alone grants nothing."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from reportline.models import AuditEntry, Officer, UnitKey
from reportline.services import alert_recipients, officers
from reportline.services.errors import ServiceError
from tests.helpers import (
    Enrolled,
    MovableClock,
    add_reader,
    csrf_token,
    first_reference,
    post_form,
    sign_in,
    submit_report,
)
from tests.web.routes import officer_routes


def _promote_in_database(db: Session, officer_id: int, copy_mac_from: int) -> None:
    """What a database writer can do: set the role, and copy a real supervisor's MAC."""
    real_mac = db.scalar(select(Officer.role_mac).where(Officer.id == copy_mac_from))
    db.execute(
        update(Officer).where(Officer.id == officer_id).values(role="supervisor", role_mac=real_mac)
    )
    db.expire_all()


def test_a_role_promoted_in_the_database_alone_is_refused_everywhere_it_matters(
    app: Flask, samples: dict[str, str | int], db: Session, clock: MovableClock, unit: Enrolled
) -> None:
    accomplice = add_reader(db, clock, unit, "accomplice@unit.example")
    _promote_in_database(db, accomplice.officer_id, copy_mac_from=unit.officer_id)
    client = app.test_client()
    assert sign_in(client, accomplice, clock).status_code == 303

    # Every supervisor page and action, swept from the URL map.
    admin_routes = [
        r for r in officer_routes(app, samples) if r.endpoint.startswith("triage.admin.")
    ]
    token = csrf_token(client.get("/triage/account").get_data(as_text=True))
    for route in admin_routes:
        if route.method == "GET":
            response = client.get(route.url)
        else:
            response = client.post(route.url, data={"csrf_token": token})
        assert response.status_code == 403, str(route)
        assert "Your supervisor role could not be checked" in response.get_data(as_text=True)
    failures = db.scalars(
        select(AuditEntry).where(AuditEntry.action == "officer.role_check_failed")
    ).all()
    assert len(failures) == len(admin_routes)

    # A supervisor's case action, and the supervisor's links and menus.
    reference = first_reference(client)
    case_page = f"/triage/cases/{reference}"
    answer = post_form(
        client, case_page, f"{case_page}/assign", {"officer_id": str(accomplice.officer_id)}
    )
    assert answer.status_code == 403
    assert "/triage/admin/" not in client.get("/triage/account").get_data(as_text=True)

    # Who hears of unassigned cases, and who counts as "another supervisor".
    unit_key = db.scalars(select(UnitKey.id)).one()
    heard = alert_recipients.may_be_alerted(db, [unit_key])
    flags = {r.officer_id: r.is_supervisor for people in heard.values() for r in people}
    assert flags.get(accomplice.officer_id) is False and flags.get(unit.officer_id) is True
    chief = db.get(Officer, unit.officer_id)
    accomplice_row = db.get(Officer, accomplice.officer_id)
    assert chief is not None and accomplice_row is not None
    try:
        officers.deactivate(db, chief, accomplice_row, clock())
    except ServiceError as refused:
        assert "last active supervisor" in str(refused)
    else:
        raise AssertionError("the last real supervisor was deactivated")
    db.rollback()


def test_the_officers_page_shows_a_role_that_failed_its_check(
    app: Flask, db: Session, clock: MovableClock, unit: Enrolled
) -> None:
    accomplice = add_reader(db, clock, unit, "shown@unit.example")
    _promote_in_database(db, accomplice.officer_id, copy_mac_from=unit.officer_id)
    client = app.test_client()
    sign_in(client, unit, clock)
    page = client.get("/triage/admin/").get_data(as_text=True)
    row = page.split("shown@unit.example", 1)[1].split("</tr>", 1)[0]
    assert "Role failed its check" in row
    detail = client.get(f"/triage/admin/officers/{accomplice.officer_id}")
    assert "Role failed its check" in detail.get_data(as_text=True)


def test_an_officer_added_or_invited_gets_a_role_that_holds(
    app: Flask, db: Session, clock: MovableClock, unit: Enrolled
) -> None:
    deputy = add_reader(db, clock, unit, "deputy@unit.example", role="supervisor")
    client = app.test_client()
    sign_in(client, deputy, clock)
    assert client.get("/triage/admin/").status_code == 200
    submit_report(app.test_client())
    answer = post_form(
        client,
        "/triage/admin/officers/new",
        "/triage/admin/officers/new",
        {"email": "invited.supervisor@unit.example", "role": "supervisor"},
    )
    assert answer.status_code == 200
    invited = db.scalars(
        select(Officer).where(Officer.email == "invited.supervisor@unit.example")
    ).one()
    assert invited.role_mac is not None
