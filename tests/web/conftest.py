"""Fixtures for the sweeps: sample values that make every route in the URL map concrete."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from reportline.models import Officer
from reportline.services import enrolment, instance
from tests.helpers import (
    Enrolled,
    MovableClock,
    add_officer,
    first_reference,
    officer_notes,
    submit_report,
)


@pytest.fixture
def samples(
    reporter: FlaskClient,
    supervisor: FlaskClient,
    unit: Enrolled,
    db: Session,
    clock: MovableClock,
) -> dict[str, str | int]:
    """Real values for every route argument: a case (with an evidence file), an officer,
    an invite, a language."""
    submit_report(reporter, files={"evidence-0-file": (b"A chat log", "log.txt")})
    other = add_officer(db, clock, "sample.officer@unit.example")
    supervisor_row = db.get(Officer, unit.officer_id)
    assert supervisor_row is not None
    _, token = enrolment.invite_officer(
        db,
        "invited@unit.example",
        "officer",
        supervisor_row,
        clock(),
        instance.integrity_key(db.info["settings"]),
    )
    db.commit()
    reference = first_reference(supervisor)
    assert officer_notes(supervisor, reference, "A sample note").status_code == 303
    return {
        "reference": reference,
        "seq": 1,
        "officer_id": other.officer_id,
        "token": token,
        "code": "cy",
    }
