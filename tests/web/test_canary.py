"""Canary strings typed into every field never rest in clear: not in the database, its WAL,
the instance folder or the logs."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from reportline.db import Base
from tests.helpers import (
    TRIAGE_RECORD,
    VALID_REPORT,
    Enrolled,
    first_reference,
    follow_up_sign_in,
    officer_moves,
    officer_notes,
    officer_records,
    officer_writes,
    post_form,
    receipt_fragments,
    reporter_replies,
    submit_report,
)

REPORT_FIELDS = [
    "what_happened",
    "when",
    "where",
    "who_involved",
    "how_known_detail",
    "at_risk_detail",
]

# Every free-text field of the triage record (categories and flags are fixed values,
# checked apart: they are in the sealed index, never in a clear column).
TRIAGE_FIELDS = [
    "subjects-0-name",
    "subjects-0-number",
    "subjects-0-role",
    "subjects-0-team",
    "handling_conditions",
    "rationale",
    "intelligence_ref",
    "investigation_ref",
]
# What an officer types elsewhere in casework: notes, their corrections, the outcome.
CASEWORK_FIELDS = ["note", "note_correction", "outcome_rationale", "referral_reference"]


def _canary(name: str) -> str:
    return f"CANARY{name.upper().replace('_', '')}Q7X"


def _database_bytes(backend: str, db: Session, instance: Path) -> bytes:
    """Everything the database holds, as bytes: the SQLite files, or every PostgreSQL row."""
    if backend == "sqlite":
        return b"".join(path.read_bytes() for path in instance.iterdir() if path.is_file())
    chunks = []
    for table in Base.metadata.sorted_tables:
        for row in db.execute(select(table)):
            chunks.extend(v if isinstance(v, bytes) else str(v).encode() for v in row)
    return b"".join(chunks)


def _variants(text: str) -> list[bytes]:
    return [text.encode("utf-8"), text.encode("utf-16-le"), text.lower().encode()]


def test_canaries_from_every_reporter_and_officer_field_never_rest_in_clear(
    app: Flask,
    backend: str,
    db: Session,
    instance_path: Path,
    reporter: FlaskClient,
    supervisor: FlaskClient,
    unit: Enrolled,
    capfd: pytest.CaptureFixture[str],
) -> None:
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    app.logger.addHandler(handler)
    logging.getLogger().addHandler(handler)

    receipt = submit_report(reporter, **{field: _canary(field) for field in REPORT_FIELDS})
    reference = first_reference(supervisor)
    assert _canary("what_happened") in supervisor.get(f"/triage/cases/{reference}").get_data(
        as_text=True
    )
    officer_moves(supervisor, reference, "acknowledged", _canary("status_reason"))
    officer_writes(supervisor, reference, _canary("officer_message"))
    follow_up_sign_in(reporter, receipt)
    reporter_replies(reporter, _canary("reporter_reply"))
    page = supervisor.get(f"/triage/cases/{reference}").get_data(as_text=True)
    assert _canary("reporter_reply") in page and _canary("status_reason") in page

    # Casework: the triage record, a note and its correction, a referral closed with its
    # outcome; each shown back to the officer, so each was kept.
    record = {name: _canary(name) for name in TRIAGE_FIELDS}
    assert officer_records(supervisor, reference, **record).status_code == 303
    officer_notes(supervisor, reference, _canary("note"))
    url = f"/triage/cases/{reference}"
    correct = f"{url}/notes/1/correct"
    post_form(supervisor, correct, correct, {"note": _canary("note_correction")})
    officer_moves(supervisor, reference, "referred", "Referred on")
    officer_moves(
        supervisor,
        reference,
        "closed",
        _canary("outcome_rationale"),
        outcome="substantiated",
        referral_body="iopc",
        referral_reference=_canary("referral_reference"),
    )
    page = supervisor.get(url).get_data(as_text=True)
    for name in [*TRIAGE_FIELDS, *CASEWORK_FIELDS]:
        assert _canary(name) in page, name

    canaries = [
        _canary(f)
        for f in [
            *REPORT_FIELDS,
            "status_reason",
            "officer_message",
            "reporter_reply",
            *TRIAGE_FIELDS,
            *CASEWORK_FIELDS,
        ]
    ]
    at_rest = _database_bytes(backend, db, instance_path)
    everything_in_instance = b"".join(
        p.read_bytes() for p in instance_path.rglob("*") if p.is_file()
    )
    out, err = capfd.readouterr()
    logs = (captured.getvalue() + out + err).encode()
    for canary in canaries:
        for variant in _variants(canary):
            assert variant not in at_rest, canary
            assert variant not in everything_in_instance, canary
            assert variant not in logs, canary
    for fragment in receipt_fragments(receipt):
        assert fragment.encode() not in logs and fragment.encode() not in at_rest
    for secret in (unit.password, unit.totp_seed):
        assert secret.encode() not in at_rest and secret.encode() not in logs
    assert VALID_REPORT["category"].encode() not in at_rest  # even the category is sealed
    # The triage record's substance is sealed too: its categories and risk flags are not
    # in any clear column (names or codes), nor its grading words.
    for value in [
        *TRIAGE_RECORD["categories"],
        *TRIAGE_RECORD["risk_flags"],
        TRIAGE_RECORD["handling_conditions"],
        "Substantiated",
        "substantiated",
    ]:
        assert value.encode() not in at_rest, value
    app.logger.removeHandler(handler)
    logging.getLogger().removeHandler(handler)
