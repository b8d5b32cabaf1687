"""A live ReportLine for the browser: a real server on a free port, and ways to arrange state.

The server is waitress in a daemon thread, on a fresh instance folder whose
SQLite database comes from the Alembic migrations. The app runs on a movable
clock, so officer sign-ins can ask for a fresh authenticator code instead of
waiting 30 seconds. Every request the app answers is recorded (endpoint,
method, status, templates rendered), so a test can prove which page it saw.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import waitress
from flask import Flask, request, template_rendered
from flask.signals import request_finished
from jinja2 import Template
from sqlalchemy import select
from sqlalchemy.orm import Session
from waitress import wasyncore

from reportline import cleaning, create_app
from reportline.config import Settings
from reportline.crypto.keys import PrivateKey
from reportline.crypto.receipt import generate_receipt
from reportline.migrate import upgrade
from reportline.models import Message, Officer
from reportline.services import (
    casework,
    enrolment,
    evidence,
    follow_up,
    form_tickets,
    instance,
    keyring,
    maintenance,
    officers,
    submissions,
    triage,
    triage_record,
)
from reportline.services.evidence_store import DatabaseChunkStore
from reportline.services.keyring import PinnedUnitKey
from reportline.services.triage_record import TriageRecordData
from reportline.web.page_cache import cached_page_served
from tests.conftest import settings_for_test
from tests.helpers import (
    FAST_ARGON2,
    OFFICER_PASSWORD,
    SUPERVISOR_PASSWORD,
    VALID_REPORT,
    Enrolled,
    MovableClock,
    initialise_unit,
    totp_code,
)


@dataclass
class Hit:
    """One request the app answered."""

    endpoint: str
    method: str
    status: int
    destination: str  # what the browser wanted it for (Sec-Fetch-Dest): document, image...
    templates: list[str] = field(default_factory=list)


class HitRecorder:
    """Collects what the app serves, from Flask's own signals (thread-safe)."""

    def __init__(self, app: Flask) -> None:
        self._lock = threading.Lock()
        self._hits: list[Hit] = []
        self._templates: dict[int, list[str]] = {}
        template_rendered.connect(self._on_template, app)
        cached_page_served.connect(self._on_cached_page, app)
        request_finished.connect(self._on_response, app)

    def _on_template(self, _app: Flask, template: Template, **_extra: Any) -> None:
        with self._lock:
            self._templates.setdefault(threading.get_ident(), []).append(str(template.name))

    def _on_cached_page(self, _app: Flask, template: str, **_extra: Any) -> None:
        with self._lock:
            self._templates.setdefault(threading.get_ident(), []).append(template)

    def _on_response(self, _app: Flask, response: Any, **_extra: Any) -> None:
        with self._lock:
            templates = self._templates.pop(threading.get_ident(), [])
            self._hits.append(
                Hit(
                    request.endpoint or "",
                    request.method,
                    response.status_code,
                    request.headers.get("Sec-Fetch-Dest", ""),
                    templates,
                )
            )

    def clear(self) -> None:
        """Forget everything recorded so far."""
        with self._lock:
            self._hits.clear()

    def hits(self) -> list[Hit]:
        """What the app answered since the last clear, oldest first."""
        with self._lock:
            return list(self._hits)

    def last_page(self) -> Hit:
        """The last document the browser asked for: the page on screen."""
        pages = [hit for hit in self.hits() if hit.destination == "document"]
        assert pages, "the browser loaded no page"
        return pages[-1]


@dataclass
class LiveSite:
    """A running ReportLine and handles to arrange what the browser will find there."""

    base_url: str
    app: Flask
    clock: MovableClock
    supervisor: Enrolled
    supervisor_key: PrivateKey
    recorder: HitRecorder

    @property
    def settings(self) -> Settings:
        """The app's parsed settings."""
        value: Settings = self.app.extensions["reportline.settings"]
        return value

    @contextmanager
    def database(self) -> Iterator[Session]:
        """A database session of the app's own kind; committed when the block ends."""
        with self.app.extensions["reportline.sessionmaker"]() as session:
            yield session
            session.commit()

    def fresh_code(self, who: Enrolled) -> str:
        """An authenticator code never used before: the clock moves to the next 30 s step."""
        self.clock.advance(seconds=30)
        return totp_code(who.totp_seed, self.clock)

    def submit_report(
        self,
        possible_flood: bool = False,
        files: Sequence[tuple[bytes, str, str]] = (),
        **fields: str,
    ) -> str:
        """File a report as the form would (a fresh form each time), with `files` (content,
        name, description) cleaned and stored as the form stores them; return its receipt."""
        draft = submissions.ReportDraft(**{**VALID_REPORT, **fields})
        ticket_key = instance.form_ticket_key(self.settings)
        ticket = form_tickets.read(ticket_key, form_tickets.issue(ticket_key, self.clock()))
        assert ticket is not None
        keys = submissions.SubmissionKeys(
            self.settings.receipt_pepper, instance.spent_form_key(self.settings)
        )
        with self.database() as db:
            prepared = self._store_files(db, files)
            submitted = submissions.submit_report(
                db,
                draft,
                ticket,
                keys,
                PinnedUnitKey(self.settings.unit_key_fingerprint),
                self.today(),
                possible_flood,
                evidence=prepared,
            )
        return " ".join(submitted.receipt.words)

    def _store_files(
        self, db: Session, files: Sequence[tuple[bytes, str, str]]
    ) -> list[evidence.PreparedFile]:
        limits = evidence.Limits(
            self.settings.evidence_file_max_bytes,
            self.settings.evidence_report_max_bytes,
            self.settings.evidence_quota_bytes,
        )
        rules = cleaning.CleaningLimits(
            self.settings.evidence_file_max_bytes, self.settings.evidence_max_pixels
        )
        prepared = []
        for content, name, description in files:
            cleaned = cleaning.clean_file(content, rules)
            store = DatabaseChunkStore(db)
            prepared.append(evidence.store_cleaned(store, cleaned, name, description, limits))
            db.commit()
        return prepared

    def case_id(self, receipt: str) -> int:
        """The case a receipt opens."""
        with self.database() as db:
            token = follow_up.sign_in(db, receipt, self.clock(), self.settings)
            reporter = follow_up.resume(db, token, self.clock())
            follow_up.end(db, token)
            return reporter.case.id

    def forget_kept_receipts(self) -> None:
        """Two rounds of housekeeping: receipts kept for repeated forms are dropped."""
        for _ in range(2):
            with self.database() as db:
                maintenance.age_kept_receipts(db)

    def alter_a_message(self, receipt: str) -> None:
        """What a database writer might do: change a byte of the case's first message."""
        case_id = self.case_id(receipt)
        with self.database() as db:
            message = db.scalars(
                select(Message).where(Message.case_id == case_id, Message.seq == 1)
            ).one()
            body = bytearray(message.body)
            body[-1] ^= 0x01
            message.body = bytes(body)

    def supervisor_acts(self, receipt: str, status: str = "", message: str = "") -> None:
        """The supervisor moves the receipt's case and/or writes to its reporter."""
        case_id = self.case_id(receipt)
        with self.database() as db:
            me = db.get(Officer, self.supervisor.officer_id)
            assert me is not None
            keys = keyring.unlock_unit_keys(db, me.id, self.supervisor_key)
            if status:
                triage.change_status(db, keys, case_id, status, "", me, self.clock())
            if message:
                triage.write_to_reporter(db, keys, case_id, message, me, self.clock())

    def supervisor_records(self, receipt: str, data: TriageRecordData, note: str) -> None:
        """The supervisor saves a triage record (high priority) and a note on the case."""
        case_id = self.case_id(receipt)
        with self.database() as db:
            me = db.get(Officer, self.supervisor.officer_id)
            assert me is not None
            keys = keyring.unlock_unit_keys(db, me.id, self.supervisor_key)
            categories = triage_record.national_categories(self.settings.national_categories)
            casework.save_record(db, keys, case_id, data, "high", 0, categories, me, self.clock())
            casework.add_note(db, keys, case_id, note, me, self.clock())

    def reporter_replies(self, receipt: str, text: str) -> None:
        """The reporter behind `receipt` sends a reply."""
        with self.database() as db:
            token = follow_up.sign_in(db, receipt, self.clock(), self.settings)
            reporter = follow_up.resume(db, token, self.clock())
            follow_up.reply(db, reporter, text, self.today())
            follow_up.end(db, token)

    def invite(self, email: str, role: str = "officer") -> str:
        """A one-time enrolment token for a new officer, as a supervisor would create."""
        with self.database() as db:
            me = db.get(Officer, self.supervisor.officer_id)
            assert me is not None
            _officer, token = enrolment.invite_officer(
                db, email, role, me, self.clock(), instance.integrity_key(self.settings)
            )
        return token

    def reset_link(self, officer_id: int) -> str:
        """A one-time link with which an officer who lost their phone sets up a new one."""
        with self.database() as db:
            me = db.get(Officer, self.supervisor.officer_id)
            officer = db.get(Officer, officer_id)
            assert me is not None and officer is not None
            return enrolment.reset_second_factor(
                db, officer, me, self.clock(), instance.integrity_key(self.settings)
            )

    def add_officer(self, email: str) -> Enrolled:
        """An officer set up by the CLI: can sign in, but does not hold the unit key."""
        with self.database() as db:
            new = officers.create_officer(
                db,
                email,
                "officer",
                OFFICER_PASSWORD,
                FAST_ARGON2,
                self.clock(),
                instance.integrity_key(self.settings),
            )
        return Enrolled(email, OFFICER_PASSWORD, new.totp_seed, new.officer.id, new.recovery_codes)

    def today(self) -> date:
        """The app's date."""
        return self.clock().date()


def unused_receipt() -> str:
    """Ten real receipt words that open no case (a fresh 128-bit receipt never does)."""
    return " ".join(generate_receipt().words)


@contextmanager
def running_site(
    instance: Path, database_url: str | None = None, **overrides: Any
) -> Iterator[LiveSite]:
    """Migrate, initialise and serve a fresh instance until the block ends (on SQLite in
    the instance folder, or on the empty database `database_url` names), with any
    settings `overrides`."""
    database_url = database_url or f"sqlite:///{instance / 'reportline.sqlite3'}"
    upgrade(database_url)
    # Alerts on (nothing sends them here): the pages show a deployment's mail set-up.
    settings = settings_for_test(
        instance,
        database_url,
        log_level="WARNING",
        smtp_host="smtp.unit.example",
        mail_from="reportline@unit.example",
        base_url="https://reportline.unit.example",
        **overrides,
    )
    clock = MovableClock()
    app = create_app(settings, clock=clock)
    recorder = HitRecorder(app)
    with app.extensions["reportline.sessionmaker"]() as db:
        new = initialise_unit(app, db, clock()).supervisor
        supervisor = Enrolled(new.officer.email, SUPERVISOR_PASSWORD, new.totp_seed, new.officer.id)
        supervisor_key = new.private_key
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4, ident="")
    thread = threading.Thread(target=server.run, name="reportline-e2e-server", daemon=True)
    thread.start()
    try:
        yield LiveSite(
            f"http://127.0.0.1:{server.effective_port}",
            app,
            clock,
            supervisor,
            supervisor_key,
            recorder,
        )
    finally:
        # Close every socket from the server's own loop, which then ends by itself.
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        thread.join(timeout=10)
        server.task_dispatcher.shutdown()
        app.extensions["reportline.engine"].dispose()
