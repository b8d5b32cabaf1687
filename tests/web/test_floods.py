"""A flood of scripted reports is stored, never dropped, held apart and reviewed; a
genuine report sent during it arrives, and no flood can fill the disk."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from reportline.models import AuditEntry, Case
from reportline.services import cases, ledger, queue
from reportline.services.flood import FloodMeter, proof_is_valid
from tests.helpers import (
    VALID_REPORT,
    Enrolled,
    MovableClock,
    count_cases,
    post_form,
    report_form,
    sign_in,
)

FLOOD_AT = 3


class Ticks:
    """A clock for the flood meter that tests move."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticks(app: Flask) -> Ticks:
    clock = Ticks()
    app.extensions["reportline.flood_meter"] = FloodMeter(FLOOD_AT, 600, clock=clock)
    return clock


def _send(client: FlaskClient, proof: str | None = None, **fields: str) -> object:
    _page, hidden = report_form(client)
    data = {**VALID_REPORT, **hidden, **fields}
    if proof is not None:
        data["proof"] = proof
    return client.post("/report", data=data)


def _solve(challenge: str, bits: int) -> str:
    counter = 0
    while not proof_is_valid(challenge, str(counter), bits):
        counter += 1
    return str(counter)


def _flood_marks(db: Session) -> list[bool]:
    db.expire_all()
    return [c.possible_flood for c in db.scalars(select(Case))]


def test_reports_beyond_the_flood_rate_are_stored_marked_and_held_apart(
    app: Flask, reporter: FlaskClient, supervisor: FlaskClient, db: Session, ticks: Ticks
) -> None:
    for n in range(FLOOD_AT + 2):
        assert _send(app.test_client(), what_happened=f"report {n}").status_code == 200
    assert sorted(_flood_marks(db)) == [False] * FLOOD_AT + [True] * 2
    default_view = supervisor.get("/triage/").get_data(as_text=True)
    assert "2 reports arrived while reports came in much faster than usual" in default_view
    assert "(3 cases)" in default_view  # the flood group is counted apart, not mixed in
    assert default_view.count("Possible flood") >= 1
    flood_view = supervisor.get("/triage/?status=flood").get_data(as_text=True)
    assert "(2 cases)" in flood_view and flood_view.count('class="tag tag--purple"') == 2
    assert queue.ledger_state(db).state is ledger.LedgerState.AGREES


def test_a_report_with_a_valid_proof_of_work_is_never_marked(
    make_app: Callable[..., Flask], unit: Enrolled, db: Session
) -> None:
    app = make_app(proof_of_work_bits=8)
    app.extensions["reportline.flood_meter"] = FloodMeter(0, 600, clock=Ticks())  # always a flood
    client = app.test_client()
    _page, hidden = report_form(client)
    proof = _solve(hidden["submission"], 8)
    assert (
        client.post("/report", data={**VALID_REPORT, **hidden, "proof": proof}).status_code == 200
    )
    other = app.test_client()
    _page, hidden = report_form(other)
    wrong = next(str(n) for n in range(256) if not proof_is_valid(hidden["submission"], str(n), 8))
    assert other.post("/report", data={**VALID_REPORT, **hidden, "proof": wrong}).status_code == 200
    assert sorted(_flood_marks(db)) == [False, True]


def test_the_flood_ceiling_says_busy_keeps_the_text_and_never_touches_reports_outside_a_flood(
    make_app: Callable[..., Flask], unit: Enrolled, db: Session
) -> None:
    app = make_app(flood_max_reports=1)
    ticks = Ticks()
    app.extensions["reportline.flood_meter"] = FloodMeter(FLOOD_AT, 600, clock=ticks)
    for _ in range(FLOOD_AT + 1):
        assert _send(app.test_client()).status_code == 200
    busy = _send(app.test_client(), where="Stored nowhere yet")
    assert busy.status_code == 503 and busy.headers["Retry-After"]  # type: ignore[attr-defined]
    html = busy.get_data(as_text=True)  # type: ignore[attr-defined]
    assert "The service is busy" in html and "Stored nowhere yet" in html
    assert count_cases(db) == FLOOD_AT + 1
    ticks.now += 601  # the flood is over: the ceiling does not apply
    assert _send(app.test_client()).status_code == 200
    assert count_cases(db) == FLOOD_AT + 2


@pytest.fixture
def flood_of_three(app: Flask, db: Session, ticks: Ticks, unit: Enrolled) -> Iterator[list[str]]:
    """Three genuine reports, then three flood-marked ones; yields the flood's references."""
    for n in range(FLOOD_AT + 3):
        _send(app.test_client(), what_happened=f"report {n}")
    yield [cases.reference(c.id) for c in db.scalars(select(Case).where(Case.possible_flood))]


def _review(supervisor: FlaskClient, action: str, references: list[str], **extra: str) -> object:
    page = "/triage/?status=flood"
    data: dict[str, object] = {"action": action, "case": references, **extra}
    return post_form(supervisor, page, "/triage/admin/flood", data)  # type: ignore[arg-type]


def test_a_supervisor_releases_closes_and_then_deletes_flood_reports(
    supervisor: FlaskClient, db: Session, flood_of_three: list[str]
) -> None:
    genuine, junk_a, junk_b = flood_of_three
    assert _review(supervisor, "release", [genuine]).status_code == 303
    db.expire_all()
    assert sorted(_flood_marks(db)).count(True) == 2
    assert genuine in supervisor.get("/triage/").get_data(as_text=True)

    refused = _review(supervisor, "delete", [junk_a], confirm_delete="yes")
    assert "only a closed flood-marked case can be deleted" in supervisor.get(
        refused.headers["Location"]  # type: ignore[attr-defined]
    ).get_data(as_text=True)
    _review(supervisor, "close", [junk_a, junk_b])
    unconfirmed = _review(supervisor, "delete", [junk_a, junk_b])
    assert "tick the box" in supervisor.get(
        unconfirmed.headers["Location"]  # type: ignore[attr-defined]
    ).get_data(as_text=True)
    assert count_cases(db) == FLOOD_AT + 3
    _review(supervisor, "delete", [junk_a, junk_b], confirm_delete="yes")
    assert count_cases(db) == FLOOD_AT + 1
    actions = db.scalars(select(AuditEntry.action)).all()
    assert actions.count("case.deleted") == 2 and actions.count("case.flood_mark_removed") == 1
    assert queue.ledger_state(db).state is ledger.LedgerState.AGREES


def test_a_flood_mark_planted_in_the_database_cannot_get_a_genuine_report_deleted(
    supervisor: FlaskClient, db: Session, flood_of_three: list[str]
) -> None:
    genuine = db.scalars(select(Case).where(~Case.possible_flood)).first()
    assert genuine is not None
    db.execute(
        update(Case).where(Case.id == genuine.id).values(possible_flood=True, status="closed")
    )
    reference = cases.reference(genuine.id)
    _review(supervisor, "delete", [reference], confirm_delete="yes")
    assert db.get(Case, genuine.id) is not None


def test_an_officer_sees_the_flood_group_but_only_a_supervisor_may_act_on_it(
    app: Flask, db: Session, clock: MovableClock, flood_of_three: list[str], unit: Enrolled
) -> None:
    from tests.helpers import add_officer, unlock_officer_key

    officer = add_officer(db, clock, "plain@unit.example")
    from reportline.services import instance, keyring
    from reportline.services.officers import get_officer

    keyring.grant_unit_key(
        db,
        keyring.unlock_unit_keys(db, unit.officer_id, unlock_officer_key(db, unit)),
        get_officer(db, officer.officer_id),
        get_officer(db, unit.officer_id),
        clock(),
        instance.integrity_key(db.info["settings"]),
    )
    db.commit()
    client = app.test_client()
    sign_in(client, officer, clock)
    page = client.get("/triage/?status=flood").get_data(as_text=True)
    assert flood_of_three[0] in page and "Close as part of the flood" not in page
    refused = post_form(
        client, "/triage/", "/triage/admin/flood", {"action": "close", "case": flood_of_three[0]}
    )
    assert refused.status_code == 403


def test_the_proof_of_work_is_sha256_with_leading_zero_bits() -> None:
    challenge = "v1.example"
    answer = _solve(challenge, 10)
    digest = hashlib.sha256(f"{challenge}:{answer}".encode()).digest()
    assert digest[0] == 0 and digest[1] >> 6 == 0
    assert not proof_is_valid(challenge, answer + "x", 10)
    assert not proof_is_valid(challenge, "9" * 21, 1)
    assert not proof_is_valid(challenge, answer, 0)  # 0 bits: the proof is off
    assert re.fullmatch(r"\d+", answer)


def test_a_copy_of_a_stored_form_gets_its_receipt_even_at_the_ceiling(
    make_app: Callable[..., Flask], unit: Enrolled, db: Session
) -> None:
    from tests.helpers import receipt_on

    app = make_app(flood_max_reports=1)
    app.extensions["reportline.flood_meter"] = FloodMeter(0, 600, clock=Ticks())  # a flood
    client = app.test_client()
    _page, hidden = report_form(client)
    data = {**VALID_REPORT, **hidden}
    first = client.post("/report", data=data)
    assert first.status_code == 200  # the one flood report the ceiling allows
    again = client.post("/report", data=data)  # its answer was lost: the reporter resends
    assert again.status_code == 200
    assert receipt_on(again.get_data(as_text=True)) == receipt_on(first.get_data(as_text=True))
    assert count_cases(db) == 1


def test_a_proof_of_work_in_other_scripts_digits_is_simply_wrong(
    app: Flask, unit: Enrolled, db: Session
) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False
    app.extensions["reportline.flood_meter"] = FloodMeter(0, 600, clock=Ticks())  # a flood
    for proof in ("²", "١٢٣", "1\u00b3"):
        assert _send(app.test_client(), proof=proof).status_code == 200
    assert _flood_marks(db) == [True, True, True]
