"""Helpers the tests share: a movable clock, enrolled officers, form-filling clients."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, func, insert, select
from sqlalchemy.orm import Session

from reportline import utcnow
from reportline.crypto.errors import DecryptionError
from reportline.crypto.kdf import Argon2Cost
from reportline.crypto.keys import PrivateKey, PublicKey, generate_private_key, open_sealed, seal
from reportline.models import (
    Case,
    CaseSeal,
    KeyRotation,
    Officer,
    RecoveryKey,
    UnitKey,
    UnitKeyGrant,
)
from reportline.services import cases, instance, keyring, officers, restriction, setup

FAST_ARGON2 = Argon2Cost(time_cost=1, memory_cost_kib=1024, parallelism=1)
SUPERVISOR_EMAIL = "supervisor@unit.example"
SUPERVISOR_PASSWORD = "violet kettle harbour sketch"
OFFICER_PASSWORD = "granite meadow lantern quiet"
START = datetime(2026, 11, 23, 10, 0, 0)

CSRF_FIELD = re.compile(
    r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"'
)
SUBMISSION_FIELD = re.compile(r'name="submission"[^>]*value="([^"]+)"')
RECEIPT_WORDS = re.compile(r"<li>([a-z]+)</li>")


class MovableClock:
    """A clock tests move forward instead of sleeping."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move time forward by a timedelta's worth of keyword arguments."""
        self.now += timedelta(**delta)


@dataclass
class Enrolled:
    """An officer the tests can sign in as."""

    email: str
    password: str
    totp_seed: str
    officer_id: int
    recovery_codes: list[str] = field(default_factory=list)


def add_officer(db: Session, clock: MovableClock, email: str, role: str = "officer") -> Enrolled:
    """Create an officer (CLI path): keys and TOTP, but no unit key yet."""
    new = officers.create_officer(
        db,
        email,
        role,
        OFFICER_PASSWORD,
        FAST_ARGON2,
        clock(),
        instance.integrity_key(db.info["settings"]),
    )
    db.commit()
    return Enrolled(email, OFFICER_PASSWORD, new.totp_seed, new.officer.id, new.recovery_codes)


def add_reader(
    db: Session, clock: MovableClock, granted_by: Enrolled, email: str, role: str = "officer"
) -> Enrolled:
    """An officer who can read reports: created, then granted the unit key by `granted_by`."""
    reader = add_officer(db, clock, email, role)
    granter = db.get(Officer, granted_by.officer_id)
    row = db.get(Officer, reader.officer_id)
    assert granter is not None and row is not None
    opened = keyring.unlock_unit_keys(db, granter.id, unlock_officer_key(db, granted_by))
    keyring.grant_unit_key(
        db, opened, row, granter, clock(), instance.integrity_key(db.info["settings"])
    )
    db.commit()
    return reader


def csrf_token(html: str) -> str:
    """The CSRF token in a rendered page."""
    match = CSRF_FIELD.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1) or match.group(2)


def totp_code(seed: str, clock: MovableClock, offset_steps: int = 0) -> str:
    """The authenticator code for `seed` at the app's current time."""
    moment = clock().replace(tzinfo=UTC) + timedelta(seconds=30 * offset_steps)
    return pyotp.TOTP(seed).at(moment)


VALID_REPORT = {
    "category": "corruption",
    "what_happened": "Looked up an ex-partner's address on the command system.",
    "when": "Last Tuesday",
    "where": "Central station",
    "who_involved": "A sergeant on B shift",
    "how_known": "saw_or_heard",
    "how_known_detail": "",
    "at_risk": "not_sure",
    "at_risk_detail": "",
}


def count_cases(db: Session) -> int:
    """How many cases are stored."""
    db.expire_all()
    return db.scalar(select(func.count()).select_from(Case)) or 0


def report_form(client: FlaskClient) -> tuple[str, dict[str, str]]:
    """Fetch the report form; return the page and its hidden values (token, one-time value)."""
    page = client.get("/report").get_data(as_text=True)
    match = SUBMISSION_FIELD.search(page)
    assert match
    return page, {"csrf_token": csrf_token(page), "submission": match.group(1)}


def receipt_on(html: str) -> str:
    """The ten receipt words on a receipt page."""
    receipt_html = html.split('id="receipt"', 1)[1].split("</ol>", 1)[0]
    words = RECEIPT_WORDS.findall(receipt_html)
    assert len(words) == 10
    return " ".join(words)


def submit_report(
    client: FlaskClient, files: dict[str, tuple[bytes, str]] | None = None, **fields: str
) -> str:
    """Fill in and send the report form (with `files`: field name to content and name,
    sent in the form's body as a browser without JavaScript does); return the receipt."""
    page = client.get("/report").get_data(as_text=True)
    data: dict[str, Any] = {**VALID_REPORT, **fields, "csrf_token": csrf_token(page)}
    match = SUBMISSION_FIELD.search(page)
    assert match
    data["submission"] = match.group(1)
    for name, (content, filename) in (files or {}).items():
        data[name] = (io.BytesIO(content), filename)
    response = client.post(
        "/report", data=data, content_type="multipart/form-data" if files else None
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return receipt_on(response.get_data(as_text=True))


def sign_in(
    client: FlaskClient, who: Enrolled, clock: MovableClock, code: str | None = None
) -> Any:
    """Sign an officer in through the login form; return the response."""
    page = client.get("/triage/login").get_data(as_text=True)
    return client.post(
        "/triage/login",
        data={
            "csrf_token": csrf_token(page),
            "email": who.email,
            "password": who.password,
            "code": totp_code(who.totp_seed, clock) if code is None else code,
        },
    )


def post_form(client: FlaskClient, page_url: str, action: str, data: dict[str, str]) -> Any:
    """Load a page for its CSRF token, then post `data` to `action`."""
    page = client.get(page_url).get_data(as_text=True)
    return client.post(action, data={**data, "csrf_token": csrf_token(page)})


REFERENCE = re.compile(r"RL-[0-9A-Z]{4}-[0-9A-Z]{4}")


def first_reference(officer: FlaskClient) -> str:
    """The reference of the newest case in the officer's queue."""
    match = REFERENCE.search(officer.get("/triage/?status=all").get_data(as_text=True))
    assert match, "no case in the queue"
    return match.group(0)


def follow_up_sign_in(client: FlaskClient, receipt: str) -> Any:
    """Type a receipt into the follow-up page; return the response."""
    return post_form(client, "/follow-up", "/follow-up", {"receipt": receipt})


def officer_writes(officer: FlaskClient, reference: str, text: str, kind: str = "message") -> Any:
    """An officer sends the reporter a message from the case page."""
    url = f"/triage/cases/{reference}"
    return post_form(officer, url, f"{url}/messages", {"message": text, "kind": kind})


def officer_moves(
    officer: FlaskClient, reference: str, status: str, reason: str = "", **more: str
) -> Any:
    """An officer changes a case's status from the case page. Closing records an outcome,
    a rationale and (for a referred case) where it went: plain ones unless given."""
    url = f"/triage/cases/{reference}"
    data = {"status": status, "reason": reason, **more}
    if status == "closed":
        data["reason"] = reason or "No further action needed"
        data.setdefault("outcome", "other")
        data.setdefault("referral_body", "professional_standards")
        data.setdefault("referral_reference", "PSD-0001")
    return post_form(officer, url, f"{url}/status", data)


# A triage record with every field filled (officer_records posts it).
TRIAGE_RECORD = {
    "priority": "high",
    "categories": ["Misuse of force systems", "Disclosure of information"],
    "risk_flags": ["victimisation", "corroboration_needed"],
    "relationship": "colleague",
    "subjects-0-name": "Pat Example",
    "subjects-0-number": "PC 4471",
    "subjects-0-role": "Response officer",
    "subjects-0-team": "Team 3, Northgate",
    "source_evaluation": "2",
    "intelligence_assessment": "B",
    "handling_code": "C",
    "handling_conditions": "Not to be shared outside the unit",
    "decision": "investigate",
    "rationale": "Two lookups with no policing purpose",
    "allegation_summary": "An officer is said to have searched force systems for a relative",
    "intelligence_ref": "INT-2026-0042",
    "investigation_ref": "OP-TIDEWAY",
    "links-0-kind": "related_to",
    "links-0-reference": "",
}


def officer_records(officer: FlaskClient, reference: str, **changes: Any) -> Any:
    """An officer fills the triage record form as shown (its version included) with
    TRIAGE_RECORD and `changes` (None drops a field); return the response."""
    url = f"/triage/cases/{reference}/record"
    page = officer.get(url).get_data(as_text=True)
    version = re.search(r'name="version"[^>]*value="(\d+)"', page)
    assert version, "the record form carries the version it was filled from"
    data = {**TRIAGE_RECORD, "version": version.group(1), **changes}
    data = {name: value for name, value in data.items() if value is not None}
    return officer.post(url, data={**data, "csrf_token": csrf_token(page)})


def officer_notes(officer: FlaskClient, reference: str, text: str) -> Any:
    """An officer adds an internal note from the case page."""
    url = f"/triage/cases/{reference}"
    return post_form(officer, url, f"{url}/notes", {"note": text})


def reporter_replies(client: FlaskClient, text: str) -> Any:
    """A signed-in reporter sends a reply from the follow-up page."""
    return post_form(client, "/follow-up/case", "/follow-up/case", {"message": text})


def unlock_officer_key(db: Session, who: Enrolled) -> PrivateKey:
    """An officer's private key, unwrapped with their password (as sign-in does)."""
    row = db.get(Officer, who.officer_id)
    assert row is not None
    return officers.unlock_private_key(
        row, who.password, instance.integrity_key(db.info["settings"])
    )


def receipt_fragments(receipt: str) -> list[str]:
    """Every pair of neighbouring receipt words: none may appear in a log or at rest.

    (Single words are common English and may appear anywhere by chance.)"""
    words = receipt.split()
    return [f"{a} {b}" for a, b in pairwise(words)]


def initialise_unit(app: Flask, db: Session, now: datetime) -> setup.InitialisedInstance:
    """What `reportline init` does, for a test instance: the unit, recovery and exclusion
    keys, the first supervisor (who holds the unit and exclusion keys), committed, and
    the keys pinned."""
    result = setup.initialise(
        db,
        SUPERVISOR_EMAIL,
        SUPERVISOR_PASSWORD,
        FAST_ARGON2,
        now,
        instance.integrity_key(app.extensions["reportline.settings"]),
    )
    db.commit()
    pin_unit_key(app, result.unit_key_fingerprint)
    instance.pin_recovery_key(
        app.extensions["reportline.settings"].instance_path,
        instance.recovery_pin(result.recovery_key.public_key().raw),
    )
    instance.pin_exclusion_key(
        app.extensions["reportline.settings"].instance_path, result.exclusion_key_fingerprint
    )
    return result


def pin_unit_key(app: Flask, fingerprint: str) -> None:
    """What `reportline init` writes to the instance config: the unit key to seal to."""
    settings = app.extensions["reportline.settings"]
    app.extensions["reportline.settings"] = replace(settings, unit_key_fingerprint=fingerprint)
    instance.pin_unit_key(settings.instance_path, fingerprint)


@contextmanager
def transactions(engine: Engine) -> Iterator[list[list[str]]]:
    """Every statement the app sends meanwhile, grouped by transaction."""
    found: list[list[str]] = []
    ended = [True]

    def end(_conn: Any) -> None:
        ended[0] = True

    def statement(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if ended[0]:
            found.append([])
            ended[0] = False
        found[-1].append(" ".join(sql.split()))

    listeners = [("commit", end), ("rollback", end), ("before_cursor_execute", statement)]
    for name, listener in listeners:
        event.listen(engine, name, listener)
    try:
        yield found
    finally:
        for name, listener in listeners:
            event.remove(engine, name, listener)


def plant_unit_key(db: Session, rotating_from: int | None = None) -> tuple[int, PrivateKey]:
    """What a database writer without the instance config can do with SQL: an active unit
    key of their own, sealed (public keys are enough) to every officer with a key and
    every recovery key; with `rotating_from`, also an unfinished rotation to it."""
    attacker = generate_private_key()
    public = attacker.public_key()
    now = utcnow()
    planted = db.execute(
        insert(UnitKey)
        .values(public_key=public.raw, fingerprint=public.fingerprint, active=True, created_at=now)
        .returning(UnitKey.id)
    ).scalar_one()
    holders = [
        (row.public_key, {"officer_id": row.id})
        for row in db.scalars(select(Officer).where(Officer.public_key.is_not(None)))
    ] + [(row.public_key, {"recovery_key_id": row.id}) for row in db.scalars(select(RecoveryKey))]
    for public_key, holder in holders:
        db.execute(
            insert(UnitKeyGrant).values(
                unit_key_id=planted,
                sealed_private_key=seal(
                    attacker.raw,
                    PublicKey(public_key),
                    keyring._grant_context(planted, **holder),
                ),
                granted_at=now,
                **holder,
            )
        )
    if rotating_from is not None:
        db.execute(
            insert(KeyRotation).values(
                from_unit_key_id=rotating_from, to_unit_key_id=planted, started_at=now, total=0
            )
        )
    db.commit()
    return planted, attacker


def opens_any_case(db: Session, private_key: PrivateKey) -> bool:
    """Whether a unit private key opens any case's seal in the database."""
    db.expire_all()
    for case_seal in db.scalars(select(CaseSeal)):
        try:
            open_sealed(
                case_seal.sealed,
                private_key,
                cases.grant_context(case_seal.case_id, case_seal.holder_id),
            )
        except DecryptionError:
            continue
        return True
    return False


def restrict_case(
    db: Session,
    by: Enrolled,
    case_id: int,
    reader_ids: list[int] | None,
    now: datetime,
    unit_key: tuple[int, PublicKey] | None = None,
) -> restriction.Change:
    """Set who may read a case as the access page does (None: the whole unit again),
    opened with `by`'s keys; committed."""
    keys = keyring.unlock_unit_keys(db, by.officer_id, unlock_officer_key(db, by))
    case = db.get(Case, case_id, populate_existing=True)
    assert case is not None
    version = restriction.access_version(
        case, restriction.readers(db, case_id), restriction.waiting(db, case_id)
    )
    settings = db.info["settings"]
    pins = instance.read_pins(settings.instance_path)
    if reader_ids is None and unit_key is None:
        unit_key = keyring.PinnedUnitKey(pins.current).get(db)
    supervisor = db.get(Officer, by.officer_id)
    assert supervisor is not None
    change = restriction.set_access(
        db,
        keys,
        case_id,
        reader_ids,
        version,
        supervisor,
        now,
        restriction.Pins(unit_key, pins.recovery),
    )
    db.commit()
    return change
