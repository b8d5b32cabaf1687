"""The supervisors' keys page: the inventory, and a rotation started from it."""

from __future__ import annotations

import threading

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from reportline.models import Case, UnitKey
from reportline.services import cases, instance, keyring, rotation
from tests.helpers import (
    Enrolled,
    MovableClock,
    add_reader,
    csrf_token,
    opens_any_case,
    plant_unit_key,
    submit_report,
)

PAGE = "/triage/admin/keys"


def _press_rotate(supervisor: FlaskClient) -> object:
    token = csrf_token(supervisor.get(PAGE).get_data(as_text=True))
    return supervisor.post(f"{PAGE}/rotate", data={"csrf_token": token})


def test_the_keys_page_shows_each_key_its_holders_and_the_recovery_key(
    app: Flask, supervisor: FlaskClient, unit: Enrolled, db: Session, clock: MovableClock
) -> None:
    add_reader(db, clock, unit, "reader@unit.example")
    page = supervisor.get(PAGE)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    fingerprint = db.scalars(select(UnitKey.fingerprint)).one()
    assert fingerprint in text
    assert "reader@unit.example, supervisor@unit.example; the recovery key" in text
    recovery = app.extensions["test.recovery_key"].public_key().fingerprint
    assert recovery in text and "last checked never" in text
    assert "Cases still under a retired key" in text


def test_a_rotation_from_the_page_reseals_every_case_while_reports_keep_arriving(
    app: Flask, supervisor: FlaskClient, reporter: FlaskClient, unit: Enrolled, db: Session
) -> None:
    for number in range(3):
        submit_report(reporter, what_happened=f"report {number}")
    response = _press_rotate(supervisor)
    assert response.status_code == 303
    worker: threading.Thread = app.extensions["reportline.rotation"]
    submit_report(reporter, what_happened="report during the rotation")
    worker.join(timeout=60)
    old, new = db.scalars(select(UnitKey).order_by(UnitKey.id)).all()
    assert not old.active and new.active
    submit_report(reporter, what_happened="report after the rotation")
    opened = keyring.unlock_with_recovery_key(db, app.extensions["test.recovery_key"])
    db.expire_all()
    found = db.scalars(select(Case)).all()
    assert len(found) == 5
    for case in found:
        assert {seal.holder_id for seal in case.seals} == {new.id}
        assert cases.open_report(cases.open_case_secret(case, opened), case)["what_happened"]
    text = supervisor.get(PAGE).get_data(as_text=True)
    assert f"{new.fingerprint}" in text and "Retired" in text


def test_a_rotation_while_another_runs_is_refused_next_to_the_button(
    app: Flask, supervisor: FlaskClient, db: Session
) -> None:
    lock = rotation.RotationLock(app.extensions["reportline.engine"])
    lock.acquire()
    try:
        response = _press_rotate(supervisor)
    finally:
        lock.release()
    assert response.status_code == 409
    assert "Another rotation of the unit key is running" in response.get_data(as_text=True)
    assert len(db.scalars(select(UnitKey)).all()) == 1


def test_a_rotation_planted_in_the_database_is_not_offered_for_resuming(
    app: Flask, supervisor: FlaskClient, db: Session
) -> None:
    current = db.scalars(select(UnitKey.id)).one()
    _planted, attacker = plant_unit_key(db, rotating_from=current)
    page = supervisor.get(PAGE).get_data(as_text=True)
    assert "The instance config does not name its new key" in page
    assert "Resume the rotation" not in page
    response = _press_rotate_without_button(supervisor)
    assert response.status_code == 409
    assert "not one the instance config knows" in response.get_data(as_text=True)
    assert "reportline.rotation" not in app.extensions
    assert not opens_any_case(db, attacker)


def _press_rotate_without_button(supervisor: FlaskClient) -> TestResponse:
    # The page offers no button; a forged post with a valid token is refused too.
    token = csrf_token(supervisor.get(PAGE).get_data(as_text=True))
    return supervisor.post(f"{PAGE}/rotate", data={"csrf_token": token})


def test_a_rotation_waits_for_the_recovery_key_to_be_pinned(
    app: Flask, supervisor: FlaskClient, db: Session
) -> None:
    instance.pin_recovery_key(app.extensions["reportline.settings"].instance_path, None)
    response = _press_rotate(supervisor)
    assert response.status_code == 409
    assert "No recovery key is pinned in the instance config yet" in response.get_data(as_text=True)
    assert "reportline.rotation" not in app.extensions
    assert len(db.scalars(select(UnitKey)).all()) == 1
