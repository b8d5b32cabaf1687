"""A malicious database writer cannot alter or swap what is sealed without it showing.

A tamper is shown precisely, never as an outage: the case page opens with a
warning naming what failed, everything intact stays readable, each altered
item is marked, and the case takes no new writes.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from reportline.crypto.errors import DecryptionError
from reportline.crypto.receipt import parse_receipt
from reportline.models import AuditEntry, Case, CaseSeal, Message
from reportline.services import audit, cases, keyring
from reportline.services.keyring import format_recovery_key, parse_recovery_key
from tests.helpers import (
    Enrolled,
    csrf_token,
    first_reference,
    follow_up_sign_in,
    officer_moves,
    officer_writes,
    post_form,
    submit_report,
    unlock_officer_key,
)


@pytest.fixture
def quiet_errors(app: Flask) -> Flask:
    """Let the app answer a failed decryption with its error page instead of raising."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    return app


WARNING = "Part of this case failed its integrity check"


def _tampered(response: object, *shown: str, hidden: tuple[str, ...] = ()) -> str:
    """Assert a case page opened with the warning, the intact text and no write forms."""
    html = response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert response.status_code == 200, html[:500]  # type: ignore[attr-defined]
    assert WARNING in html
    assert "Send to reporter" not in html and "Change status" not in html
    for text in shown:
        assert text in html, text
    for text in hidden:
        assert text not in html, text
    return html


def _flip(blob: bytes, index: int) -> bytes:
    damaged = bytearray(blob)
    damaged[index] ^= 0x01
    return bytes(damaged)


def test_a_flipped_byte_in_a_stored_report_is_reported_not_shown(
    quiet_errors: Flask, reporter: FlaskClient, supervisor: FlaskClient, db: Session
) -> None:
    submit_report(reporter)
    reference = first_reference(supervisor)
    case = db.scalars(select(Case)).one()
    db.execute(update(Case).where(Case.id == case.id).values(report=_flip(case.report, 40)))
    response = supervisor.get(f"/triage/cases/{reference}")
    _tampered(response, "The report itself was changed", hidden=("Looked up an ex-partner",))
    actions = db.scalars(select(AuditEntry.action).where(AuditEntry.case_id == case.id)).all()
    assert "case.integrity_failed" in actions


def test_a_report_swapped_into_another_case_does_not_open(
    quiet_errors: Flask, reporter: FlaskClient, supervisor: FlaskClient, db: Session
) -> None:
    submit_report(reporter, what_happened="first report")
    submit_report(quiet_errors.test_client(), what_happened="second report")
    first, second = db.scalars(select(Case)).all()
    db.execute(update(Case).where(Case.id == first.id).values(report=second.report))
    page = supervisor.get(f"/triage/cases/{cases.reference(first.id)}")
    _tampered(page, hidden=("second report",))


def test_a_message_moved_to_another_position_does_not_open(
    quiet_errors: Flask, reporter: FlaskClient, supervisor: FlaskClient, db: Session
) -> None:
    submit_report(reporter)
    reference = first_reference(supervisor)
    officer_writes(supervisor, reference, "first question")
    officer_writes(supervisor, reference, "second question")
    one, two = db.scalars(select(Message).order_by(Message.seq)).all()
    db.execute(update(Message).where(Message.id == one.id).values(body=two.body))
    page = _tampered(
        supervisor.get(f"/triage/cases/{reference}"),
        "Looked up an ex-partner",  # the report is intact, so it is shown
        "This message was changed after it was sent",
    )
    assert page.count("second question") == 1  # only in its own, intact place


def test_a_swapped_reporter_key_stops_officers_writing_to_it(
    quiet_errors: Flask, reporter: FlaskClient, supervisor: FlaskClient, db: Session
) -> None:
    submit_report(reporter)
    reference = first_reference(supervisor)
    attacker_receipt = submit_report(quiet_errors.test_client())
    victim, attacker = db.scalars(select(Case)).all()
    attacker_case = next(
        c
        for c in (victim, attacker)
        if c.receipt_hmac
        == parse_receipt(attacker_receipt).lookup_hmac(
            quiet_errors.extensions["reportline.settings"].receipt_pepper
        )
    )
    victim_case = victim if attacker_case is attacker else attacker
    db.execute(
        update(Case)
        .where(Case.id == victim_case.id)
        .values(reporter_public_key=attacker_case.reporter_public_key)
    )
    response = officer_writes(supervisor, cases.reference(victim_case.id), "sensitive question")
    assert response.status_code == 409
    assert "A key of the case was replaced" in response.get_data(as_text=True)
    assert db.scalars(select(Message)).all() == []
    assert reference


def test_a_swapped_case_key_stops_the_reporter_replying_to_it(
    quiet_errors: Flask, reporter: FlaskClient, unit: Enrolled, db: Session
) -> None:
    receipt = submit_report(reporter)
    submit_report(quiet_errors.test_client())
    mine = db.scalars(
        select(Case).where(
            Case.receipt_hmac
            == parse_receipt(receipt).lookup_hmac(
                quiet_errors.extensions["reportline.settings"].receipt_pepper
            )
        )
    ).one()
    other = db.scalars(select(Case).where(Case.id != mine.id)).one()
    follow_up_sign_in(reporter, receipt)
    token = csrf_token(reporter.get("/follow-up/case").get_data(as_text=True))
    db.execute(update(Case).where(Case.id == mine.id).values(case_public_key=other.case_public_key))
    page = reporter.get("/follow-up/case")
    assert page.status_code == 200
    assert "could not be checked" in page.get_data(as_text=True)
    assert "Send message" not in page.get_data(as_text=True)
    sent = reporter.post(
        "/follow-up/case", data={"csrf_token": token, "message": "to a planted key"}
    )
    assert sent.status_code == 409
    assert db.scalars(select(Message)).all() == []


def test_a_sealed_case_secret_swapped_between_cases_does_not_open(
    quiet_errors: Flask, reporter: FlaskClient, supervisor: FlaskClient, db: Session
) -> None:
    submit_report(reporter)
    submit_report(quiet_errors.test_client())
    first, second = db.scalars(select(Case)).all()
    other = db.scalars(select(CaseSeal.sealed).where(CaseSeal.case_id == second.id)).one()
    db.execute(update(CaseSeal).where(CaseSeal.case_id == first.id).values(sealed=other))
    _tampered(
        supervisor.get(f"/triage/cases/{cases.reference(first.id)}"),
        "sealed key does not open",
        hidden=("Looked up an ex-partner",),
    )


def test_the_recovery_key_alone_reads_every_report(
    app: Flask, reporter: FlaskClient, unit: Enrolled, db: Session
) -> None:
    submit_report(reporter, what_happened="readable with the recovery key")
    text = format_recovery_key(app.extensions["test.recovery_key"])
    recovered = keyring.unlock_with_recovery_key(db, parse_recovery_key(text))
    case = db.scalars(select(Case)).one()
    secret = cases.open_case_secret(case, recovered)
    assert cases.open_report(secret, case)["what_happened"] == "readable with the recovery key"


def test_a_damaged_recovery_key_file_is_refused_clearly(app: Flask, unit: Enrolled) -> None:
    text = format_recovery_key(app.extensions["test.recovery_key"])
    lines = text.splitlines()
    body_line = lines.index("-----BEGIN REPORTLINE RECOVERY KEY-----") + 1
    lines[body_line] = ("B" if lines[body_line][0] != "B" else "C") + lines[body_line][1:]
    with pytest.raises(DecryptionError, match="damaged"):
        parse_recovery_key("\n".join(lines))


def test_an_officers_own_key_opens_the_unit_key_but_not_with_a_wrong_password(
    db: Session, unit: Enrolled
) -> None:
    assert keyring.unlock_unit_keys(db, unit.officer_id, unlock_officer_key(db, unit)).keys
    wrong = Enrolled(unit.email, "another password entirely", unit.totp_seed, unit.officer_id)
    with pytest.raises(DecryptionError):
        unlock_officer_key(db, wrong)


def test_an_edited_audit_entry_breaks_the_chain(
    supervisor: FlaskClient, reporter: FlaskClient, db: Session
) -> None:
    submit_report(reporter)
    supervisor.get(f"/triage/cases/{first_reference(supervisor)}")
    assert audit.verify_chain(db) == []
    entries = db.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert {e.action for e in entries} >= {
        "instance.initialised",
        "officer.granted_unit_key",
        "officer.signed_in",
        "queue.viewed",
        "case.viewed",
    }
    target_id, original_actor = entries[1].id, entries[1].actor
    db.execute(update(AuditEntry).where(AuditEntry.id == target_id).values(actor="someone else"))
    assert audit.verify_chain(db) == [target_id]
    db.execute(update(AuditEntry).where(AuditEntry.id == target_id).values(actor=original_actor))
    assert audit.verify_chain(db) == []
    db.execute(AuditEntry.__table__.delete().where(AuditEntry.id == entries[2].id))
    assert audit.verify_chain(db) == [e.id for e in entries[3:]]  # everything after the gap


def _forge_message(db: Session, case: Case, author: str, text: str) -> None:
    """What a database writer can do with public keys alone: seal a new message."""
    from datetime import date

    from reportline.crypto.envelope import Recipient, seal_envelope
    from reportline.crypto.keys import PublicKey
    from reportline.services.dialogue import message_context

    seq = case.message_count + 1
    db.add(
        Message(
            id=987654,
            case_id=case.id,
            seq=seq,
            author=author,
            officer_id=None,
            kind="message",
            sent_on=date(2026, 11, 23),
            unread=True,
            mac=b"\0" * 32,
            body=seal_envelope(
                text.encode(),
                {
                    Recipient.CASE: PublicKey(case.case_public_key),
                    Recipient.REPORTER: PublicKey(case.reporter_public_key),
                },
                message_context(case.id, seq, author, "message"),
            ),
        )
    )
    db.execute(update(Case).where(Case.id == case.id).values(message_count=seq))
    db.commit()


def test_a_message_forged_by_a_database_writer_is_refused_by_both_sides(
    quiet_errors: Flask, reporter: FlaskClient, supervisor: FlaskClient, db: Session
) -> None:
    receipt = submit_report(reporter)
    reference = first_reference(supervisor)
    _forge_message(db, db.scalars(select(Case)).one(), "officer", "Please call 0800 FORGED")
    follow_up_sign_in(reporter, receipt)
    page = reporter.get("/follow-up/case")
    assert page.status_code == 200
    assert "FORGED" not in page.get_data(as_text=True)
    assert "This message was changed after it was sent" in page.get_data(as_text=True)
    _tampered(
        supervisor.get(f"/triage/cases/{reference}"),
        "A message was changed, removed or added",
        hidden=("FORGED",),
    )


def test_a_message_removed_from_the_middle_of_the_dialogue_is_noticed(
    quiet_errors: Flask, reporter: FlaskClient, supervisor: FlaskClient, db: Session
) -> None:
    submit_report(reporter)
    reference = first_reference(supervisor)
    for text in ("one", "two", "three"):
        officer_writes(supervisor, reference, text)
    middle = db.scalars(select(Message).where(Message.seq == 2)).one()
    db.execute(Message.__table__.delete().where(Message.id == middle.id))
    _tampered(
        supervisor.get(f"/triage/cases/{reference}"),
        "one",
        "three",
        "A message is missing here",
    )


def test_a_forged_status_change_is_noticed(
    quiet_errors: Flask, reporter: FlaskClient, supervisor: FlaskClient, db: Session
) -> None:
    from reportline.models import StatusChange

    submit_report(reporter)
    reference = first_reference(supervisor)
    officer_moves(supervisor, reference, "acknowledged", "genuine")
    change = db.scalars(select(StatusChange)).one()
    db.execute(update(StatusChange).where(StatusChange.id == change.id).values(to_status="closed"))
    _tampered(
        supervisor.get(f"/triage/cases/{reference}"),
        "Its status history was changed",
        "This status change was altered or added outside ReportLine",
    )
    moved = officer_moves(supervisor, reference, "assessing", "after the tamper")
    assert moved.status_code == 409
    assert len(db.scalars(select(StatusChange)).all()) == 1


def test_the_queue_still_shows_the_other_cases_when_one_fails_its_check(
    quiet_errors: Flask, reporter: FlaskClient, supervisor: FlaskClient, db: Session
) -> None:
    submit_report(reporter, what_happened="intact one")
    submit_report(quiet_errors.test_client(), what_happened="damaged one")
    damaged = db.scalars(select(Case)).all()[0]
    db.execute(update(Case).where(Case.id == damaged.id).values(report=_flip(damaged.report, 50)))
    queue = supervisor.get("/triage/")
    html = queue.get_data(as_text=True)
    assert queue.status_code == 200
    assert html.count("Failed its integrity check: possible tampering") == 1
    assert "Corruption" in html


def test_a_case_closed_or_re_dated_in_the_database_is_flagged_everywhere(
    quiet_errors: Flask, reporter: FlaskClient, supervisor: FlaskClient, db: Session
) -> None:
    from datetime import date

    receipt = submit_report(reporter)
    reference = first_reference(supervisor)
    case = db.scalars(select(Case)).one()
    db.execute(update(Case).where(Case.id == case.id).values(status="closed"))
    default_view = supervisor.get("/triage/").get_data(as_text=True)
    assert "1 case has left this view without a decision recorded in ReportLine" in default_view
    queue = supervisor.get("/triage/?status=all").get_data(as_text=True)
    assert "Failed its integrity check: possible tampering" in queue
    _tampered(
        supervisor.get(f"/triage/cases/{reference}"),
        "Its status, dates or counts were changed outside ReportLine",
        "Looked up an ex-partner",
    )
    follow_up_sign_in(reporter, receipt)
    page = reporter.get("/follow-up/case")
    assert page.status_code == 200 and "could not be checked" in page.get_data(as_text=True)
    db.execute(
        update(Case)
        .where(Case.id == case.id)
        .values(status="received", received_on=date(2026, 1, 1))
    )
    _tampered(supervisor.get(f"/triage/cases/{reference}"), "Its status, dates or counts")


def test_a_status_change_deleted_from_the_history_is_noticed(
    quiet_errors: Flask, reporter: FlaskClient, supervisor: FlaskClient, db: Session
) -> None:
    from reportline.models import StatusChange

    submit_report(reporter)
    reference = first_reference(supervisor)
    officer_moves(supervisor, reference, "acknowledged")
    officer_moves(supervisor, reference, "closed", "No further action")
    last = db.scalars(select(StatusChange).where(StatusChange.seq == 2)).one()
    db.execute(StatusChange.__table__.delete().where(StatusChange.id == last.id))
    _tampered(supervisor.get(f"/triage/cases/{reference}"), "A status change is missing here")


def test_an_audit_chain_recomputed_without_the_instance_key_does_not_verify(
    supervisor: FlaskClient, db: Session
) -> None:
    import hashlib
    import json

    entries = db.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    # An insider re-attributes every entry and recomputes a plain SHA-256 chain.
    prev = bytes(32)
    for entry in entries:
        canonical = json.dumps(
            [
                entry.id,
                entry.at.isoformat(),
                "someone else",
                entry.action,
                entry.case_id,
                entry.detail,
            ],
            separators=(",", ":"),
        ).encode()
        link = hashlib.sha256(prev + canonical).digest()
        db.execute(
            update(AuditEntry)
            .where(AuditEntry.id == entry.id)
            .values(actor="someone else", prev_hash=prev, entry_hash=link)
        )
        prev = link
    assert audit.verify_chain(db) == [e.id for e in entries]


def test_a_case_pointed_at_another_unit_key_is_flagged_not_hidden(
    quiet_errors: Flask, reporter: FlaskClient, supervisor: FlaskClient, db: Session
) -> None:
    """Every officer who reads reports holds every unit key generation, so a case sealed
    to one they do not hold was changed in the database: it is a failed check, shown,
    and found by the scan of closed cases."""
    from datetime import datetime

    from reportline.crypto.keys import generate_private_key
    from reportline.models import UnitKey

    submit_report(reporter)
    reference = first_reference(supervisor)
    planted = generate_private_key().public_key()
    key_row = UnitKey(
        public_key=planted.raw,
        fingerprint=planted.fingerprint,
        active=False,
        created_at=datetime(2026, 11, 23),
    )
    db.add(key_row)
    db.commit()
    case = db.scalars(select(Case)).one()
    db.execute(update(CaseSeal).where(CaseSeal.case_id == case.id).values(holder_id=key_row.id))
    db.execute(update(Case).where(Case.id == case.id).values(status="closed"))
    queue = supervisor.get("/triage/?status=all").get_data(as_text=True)
    assert "Failed its integrity check: possible tampering" in queue
    _tampered(supervisor.get(f"/triage/cases/{reference}"), "sealed key does not open")
    page = "/triage/admin/integrity"
    scan = post_form(supervisor, page, f"{page}/scan", {"after": "0"}).get_data(as_text=True)
    assert reference in scan and "These failed their check" in scan


@pytest.mark.parametrize("position", [50_000_000, 0, -3])
def test_a_message_moved_far_away_is_marked_in_its_place_and_the_page_stays_small(
    quiet_errors: Flask,
    reporter: FlaskClient,
    supervisor: FlaskClient,
    db: Session,
    position: int,
) -> None:
    receipt = submit_report(reporter)
    reference = first_reference(supervisor)
    officer_writes(supervisor, reference, "a question")
    db.execute(update(Message).values(seq=position))
    page = _tampered(
        supervisor.get(f"/triage/cases/{reference}"),
        "This message was changed after it was sent",  # its MAC covers its position
        "A message is missing here",
        hidden=("a question",),
    )
    assert len(page) < 100_000
    follow_up_sign_in(reporter, receipt)
    mine = reporter.get("/follow-up/case").get_data(as_text=True)
    assert "could not be checked" in mine and "Send message" not in mine


def test_a_count_altered_to_millions_is_a_changed_state_not_millions_of_gaps(
    quiet_errors: Flask, reporter: FlaskClient, supervisor: FlaskClient, db: Session
) -> None:
    submit_report(reporter)
    reference = first_reference(supervisor)
    db.execute(update(Case).values(message_count=10**9, status_change_count=10**9))
    page = _tampered(
        supervisor.get(f"/triage/cases/{reference}"),
        "Its status, dates or counts were changed outside ReportLine",
    )
    assert page.count("A message is missing here") == 50


def test_the_reporter_cannot_write_to_a_case_whose_history_was_altered(
    quiet_errors: Flask, reporter: FlaskClient, supervisor: FlaskClient, db: Session
) -> None:
    from reportline.models import StatusChange

    receipt = submit_report(reporter)
    reference = first_reference(supervisor)
    officer_moves(supervisor, reference, "acknowledged", "genuine")
    db.execute(update(StatusChange).values(to_status="investigating"))
    follow_up_sign_in(reporter, receipt)
    page = reporter.get("/follow-up/case").get_data(as_text=True)
    assert "could not be checked" in page and "Send message" not in page
    token = csrf_token(reporter.get("/report").get_data(as_text=True))  # this browser's token
    sent = reporter.post("/follow-up/case", data={"csrf_token": token, "message": "hello"})
    assert sent.status_code == 409
    assert db.scalars(select(Message)).all() == []
