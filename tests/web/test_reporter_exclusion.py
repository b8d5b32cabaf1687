"""The reporter's exclusion: a report that asks that someone in the unit not see it is
sealed to the pinned exclusion key and the recovery key from arrival, never to the unit
key, and is hidden from everyone outside the exclusion group; on every backend."""

from __future__ import annotations

import io
import logging
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from reportline.crypto.errors import DecryptionError
from reportline.crypto.keys import open_sealed
from reportline.models import Case, CaseSeal, ExclusionKey, RecoveryKey
from reportline.services import alert_delivery, cases, instance, keyring
from reportline.services.errors import NoKeyAccess
from tests.helpers import (
    VALID_REPORT,
    Enrolled,
    MovableClock,
    add_reader,
    count_cases,
    csrf_token,
    first_reference,
    follow_up_sign_in,
    report_form,
    reporter_replies,
    sign_in,
    submit_report,
    unlock_officer_key,
)
from tests.web.test_canary import _database_bytes, _variants
from tests.web.test_restricted import _confirm, _review

EXCLUDE = "CANARYEXCLUDEQ7X Sergeant Example of the unit"
SECRET = "The sergeant took the seized cash"


def _only_case(db: Session) -> Case:
    db.expire_all()
    found = db.scalars(select(Case)).all()
    assert len(found) == 1
    return found[0]


def _holders(db: Session, case_id: int) -> set[tuple[str, int]]:
    db.expire_all()
    return {
        (seal.holder, seal.holder_id)
        for seal in db.scalars(select(CaseSeal).where(CaseSeal.case_id == case_id))
    }


def _client(app: Flask, who: Enrolled, clock: MovableClock) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, who, clock).status_code == 303
    clock.advance(seconds=30)
    return client


def test_a_report_with_an_exclusion_is_sealed_to_the_group_and_recovery_never_the_unit(
    app: Flask, unit: Enrolled, db: Session, clock: MovableClock, reporter: FlaskClient
) -> None:
    reader = add_reader(db, clock, unit, "reader@unit.example")
    page = reporter.get("/report").get_data(as_text=True)
    assert "Is there anyone in the anti-corruption unit who should not see this report?" in page
    assert "your report is first read only by the unit" in page, page[page.find("exclude") :][:1500]

    receipt = submit_report(reporter, what_happened=SECRET, exclude=EXCLUDE)
    case = _only_case(db)
    exclusion_id = db.scalar(select(ExclusionKey.id))
    recovery_id = db.scalar(select(RecoveryKey.id))
    assert case.access == "pending"
    assert _holders(db, case.id) == {("exclusion_group", exclusion_id), ("recovery", recovery_id)}

    # An ordinary officer with the whole database, their password and their keys opens
    # none of its seals, under any holder's context.
    officer_key = unlock_officer_key(db, reader)
    held = keyring.unlock_unit_keys(db, reader.officer_id, officer_key)
    with pytest.raises(NoKeyAccess):
        cases.open_case_secret(case, held)
    for seal in db.scalars(select(CaseSeal).where(CaseSeal.case_id == case.id)):
        for key in [officer_key, *held.keys.values()]:
            for holder, holder_id in [
                (seal.holder, seal.holder_id),
                (cases.UNIT_KEY, case.unit_key_id),
                (cases.OFFICER, reader.officer_id),
            ]:
                with pytest.raises(DecryptionError):
                    open_sealed(seal.sealed, key, cases.seal_context(case.id, holder, holder_id))

    # A supervisor (a member of the exclusion group) reads it, answer included, and the
    # queue asks them to set its access.
    boss = _client(app, unit, clock)
    queue = boss.get("/triage/").get_data(as_text=True)
    assert "the reporter asked that someone not see this report — set access" in queue, queue[
        queue.find("<main") :
    ][:3000]
    reference = first_reference(boss)
    shown = boss.get(f"/triage/cases/{reference}").get_data(as_text=True)
    assert SECRET in shown and EXCLUDE in shown
    assert "Waiting for a supervisor to set who may read it." in shown

    # The ordinary officer sees nothing of it: queue, count, case URL.
    outsider = _client(app, reader, clock)
    their_queue = outsider.get("/triage/").get_data(as_text=True)
    assert reference not in their_queue and "set access" not in their_queue
    assert outsider.get(f"/triage/cases/{reference}").status_code == 404
    assert outsider.get("/triage/?status=all").get_data(as_text=True).count(reference) == 0

    # Alerts: its audience is the group's members only.
    _people, allowed = alert_delivery._recipients(db)
    assert -case.id in allowed[unit.officer_id]
    assert -case.id not in allowed.get(reader.officer_id, set())

    # The reporter's side keeps working: replies are sealed to the case key as before.
    follow_up_sign_in(reporter, receipt)
    assert reporter_replies(reporter, "One more thing").status_code == 303
    assert "One more thing" in boss.get(f"/triage/cases/{reference}").get_data(as_text=True)


def test_the_receipt_says_who_first_reads_it(
    app: Flask, unit: Enrolled, reporter: FlaskClient
) -> None:
    _page, hidden = report_form(reporter)
    response = reporter.post("/report", data={**VALID_REPORT, **hidden, "exclude": EXCLUDE})
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "You asked that someone in the unit not see your report" in text
    ordinary = app.test_client()
    _page, hidden = report_form(ordinary)
    text = ordinary.post("/report", data={**VALID_REPORT, **hidden}).get_data(as_text=True)
    assert "not see your report" not in text


def test_an_ordinary_report_is_sealed_to_the_unit_key_as_before(
    unit: Enrolled, db: Session, reporter: FlaskClient
) -> None:
    submit_report(reporter, what_happened=SECRET)
    case = _only_case(db)
    assert case.access == "unit"
    assert _holders(db, case.id) == {("unit_key", case.unit_key_id)}


def test_without_a_pinned_exclusion_key_an_answer_is_refused_with_the_text_kept(
    app: Flask, unit: Enrolled, db: Session, reporter: FlaskClient
) -> None:
    settings = app.extensions["reportline.settings"]
    instance.pin_exclusion_key(settings.instance_path, None)
    app.extensions["reportline.settings"] = replace(settings, exclusion_key_fingerprint=None)
    app.extensions.pop("reportline.exclusion_key", None)
    app.extensions.pop("reportline.page_cache", None)

    page, hidden = report_form(reporter)
    assert "The unit cannot yet keep a report from someone in it." in page
    response = reporter.post(
        "/report", data={**VALID_REPORT, **hidden, "what_happened": SECRET, "exclude": EXCLUDE}
    )
    text = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "Your report has not been sent." in text
    assert SECRET in text and EXCLUDE in text
    assert count_cases(db) == 0

    # Emptied, the same form goes to the whole unit.
    retry = {**VALID_REPORT, "what_happened": SECRET, "csrf_token": csrf_token(text)}
    retry["submission"] = hidden["submission"]
    assert reporter.post("/report", data=retry).status_code == 200
    assert _only_case(db).access == "unit"


def test_the_route_outside_the_unit_is_shown_when_configured(
    app: Flask, unit: Enrolled, reporter: FlaskClient
) -> None:
    assert 'id="exclusion-route"' not in reporter.get("/report").get_data(as_text=True)
    settings = app.extensions["reportline.settings"]
    app.extensions["reportline.settings"] = replace(
        settings,
        exclusion_route_text="The IOPC's reporting line",
        exclusion_route_url="https://www.policeconduct.gov.uk/",
    )
    app.extensions.pop("reportline.page_cache", None)
    page = reporter.get("/report").get_data(as_text=True)
    assert 'href="https://www.policeconduct.gov.uk/"' in page
    assert "The IOPC&#39;s reporting line" in page


def test_the_answer_never_rests_in_clear(
    app: Flask,
    backend: str,
    db: Session,
    instance_path: Path,
    unit: Enrolled,
    reporter: FlaskClient,
    capfd: pytest.CaptureFixture[str],
) -> None:
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    logging.getLogger().addHandler(handler)
    try:
        submit_report(reporter, exclude=EXCLUDE)
    finally:
        logging.getLogger().removeHandler(handler)
    at_rest = _database_bytes(backend, db, instance_path)
    out, err = capfd.readouterr()
    logs = (captured.getvalue() + out + err).encode()
    for variant in _variants("CANARYEXCLUDEQ7X"):
        assert variant not in at_rest
        assert variant not in logs


def test_the_follow_up_page_says_what_became_of_the_request_without_naming_anyone(
    app: Flask, unit: Enrolled, db: Session, clock: MovableClock, reporter: FlaskClient
) -> None:
    reader = add_reader(db, clock, unit, "reader@unit.example")
    receipt = submit_report(reporter, what_happened=SECRET, exclude=EXCLUDE)
    follow_up_sign_in(reporter, receipt)
    page = reporter.get("/follow-up/case").get_data(as_text=True)
    assert "A supervisor will set who may read it." in page
    assert "respected" not in page

    boss = _client(app, unit, clock)
    reference = first_reference(boss)
    access = boss.get(f"/triage/admin/cases/{reference}/access").get_data(as_text=True)
    assert 'id="exclusion-asked"' in access
    assert _confirm(boss, _review(boss, reference, [unit.officer_id])).status_code == 303
    case = _only_case(db)
    assert case.access == "restricted" and case.reporter_excluded
    page = reporter.get("/follow-up/case").get_data(as_text=True)
    assert "Your request was respected: a supervisor has set who may read it." in page
    assert "supervisor@unit.example" not in page and "reader@" not in page

    # The excluded officer: nothing in the queue, no count, no case page.
    outsider = _client(app, reader, clock)
    assert reference not in outsider.get("/triage/?status=all").get_data(as_text=True)
    assert outsider.get(f"/triage/cases/{reference}").status_code == 404

    # Given to the whole unit, the confirmation says what the reporter asked, and the
    # reporter is told plainly: never "respected".
    reviewed = _review(boss, reference, [], lift=True)
    assert 'id="exclusion-lift"' in reviewed.get_data(as_text=True)
    assert _confirm(boss, reviewed).status_code == 303
    page = reporter.get("/follow-up/case").get_data(as_text=True)
    assert "A supervisor decided that everyone in the unit who reads reports may read it." in page
    assert "respected" not in page
