"""The supervisors' mail page: the set-up without its password, what each batch did, and a
test mail over STARTTLS with a login, recorded in the audit log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from reportline import create_app
from reportline.models import AuditEntry
from reportline.services import alerts, instance
from tests.conftest import settings_for_test
from tests.helpers import (
    Enrolled,
    MovableClock,
    post_form,
    sign_in,
    submit_report,
)
from tests.smtp_server import (
    BASE_URL,
    MAIL_FROM,
    SMTP_PASSWORD,
    SMTP_USER,
    MailCatcher,
    free_port,
    make_test_ca,
)


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[MailCatcher]:
    """An SMTP server that requires STARTTLS, with a certificate from a test CA."""
    ca = make_test_ca(tmp_path)
    catcher = MailCatcher(free_port(), tls=ca.server_context, require_starttls=True)
    catcher.start()
    yield catcher
    catcher.stop()


@pytest.fixture
def app_settings(
    instance_path: Path, database_url: str, tls_server: MailCatcher, tmp_path: Path
) -> dict[str, Any]:
    """The force's set-up: STARTTLS against its own CA, and a login."""
    return settings_for_test(
        instance_path,
        database_url,
        smtp_host="localhost",
        smtp_port=tls_server.port,
        smtp_ca_file=str(tmp_path / "test-ca.pem"),
        smtp_username=SMTP_USER,
        smtp_password=SMTP_PASSWORD,
        mail_from=MAIL_FROM,
        base_url=BASE_URL,
    )


def test_the_page_shows_the_set_up_but_never_the_password(supervisor: FlaskClient) -> None:
    page = supervisor.get("/triage/admin/mail").get_data(as_text=True)

    assert "localhost, port" in page and "STARTTLS, required" in page
    assert f"As {SMTP_USER} (the password is not shown)" in page
    assert "test-ca.pem" in page and MAIL_FROM in page and f"{BASE_URL}/triage/" in page
    assert SMTP_PASSWORD not in page
    assert "Send a test mail to yourself" in page


def test_a_test_mail_goes_to_the_supervisor_over_tls_and_is_audited(
    supervisor: FlaskClient, unit: Enrolled, db: Session, tls_server: MailCatcher
) -> None:
    response = post_form(supervisor, "/triage/admin/mail", "/triage/admin/mail/test", {})

    assert response.status_code == 303
    [mail] = tls_server.messages
    assert mail.to == unit.email and mail.subject == "ReportLine: test"
    assert [(login.user, login.encrypted) for login in tls_server.logins] == [(SMTP_USER, True)]
    assert f"A test mail is on its way to {unit.email}" in supervisor.get(
        "/triage/admin/mail"
    ).get_data(as_text=True)
    [entry] = db.scalars(select(AuditEntry).where(AuditEntry.action == "mail.test_sent"))
    assert entry.actor == unit.email and entry.detail == '{"delivered":true}'


def test_a_failed_test_mail_says_why_and_is_audited_too(
    supervisor: FlaskClient, db: Session, tls_server: MailCatcher
) -> None:
    tls_server.stop()

    post_form(supervisor, "/triage/admin/mail", "/triage/admin/mail/test", {})

    page = supervisor.get("/triage/admin/mail").get_data(as_text=True)
    assert "The test mail was not sent: could not connect to the mail server" in page
    [entry] = db.scalars(select(AuditEntry).where(AuditEntry.action == "mail.test_sent"))
    assert entry.detail == '{"delivered":false}'


def test_the_page_says_when_each_batch_went_to_how_many_and_what_failed(
    app: Flask,
    supervisor: FlaskClient,
    unit: Enrolled,
    clock: MovableClock,
    tls_server: MailCatcher,
) -> None:
    submit_report(app.test_client(), at_risk="yes")
    settings = app.extensions["reportline.settings"]
    clock.advance(minutes=15)
    with instance.database_session(settings) as session:
        alerts.run(session, settings, clock(), alerts.ACTOR)
    tls_server.stop()
    submit_report(app.test_client(), at_risk="yes")
    clock.advance(minutes=15)
    with instance.database_session(settings) as session:
        alerts.run(session, settings, clock(), alerts.ACTOR)
    clock.advance(seconds=30)
    again = app.test_client()  # the supervisor's session has timed out meanwhile
    assert sign_in(again, unit, clock).status_code == 303
    page = again.get("/triage/admin/mail").get_data(as_text=True)

    assert "23 Nov 2026, 10:15 GMT" in page  # the urgent batch that went
    assert "23 Nov 2026, 10:30 GMT: could not connect to the mail server (1 not sent)" in page
    assert "Alerts are waiting for 1 officer, 1 of them after a failure" in page


def test_without_a_mail_server_the_page_says_alerts_are_off(
    app_settings: dict[str, Any], unit: Enrolled, clock: MovableClock
) -> None:
    without_mail = {
        name: value
        for name, value in app_settings.items()
        if not name.startswith("smtp_") and name not in {"mail_from", "base_url"}
    }
    plain = create_app(without_mail, clock=clock)
    client = plain.test_client()
    assert sign_in(client, unit, clock).status_code == 303
    page = client.get("/triage/admin/mail").get_data(as_text=True)
    plain.extensions["reportline.engine"].dispose()

    assert "Mail is not set up" in page and "Send a test mail to yourself" not in page
    assert "A test mail can be sent once mail is set up" in page
