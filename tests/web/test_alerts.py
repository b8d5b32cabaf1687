"""E-mail alerts against a real SMTP server: batches at fixed times, each officer's choices,
the urgent quarter hour and its cap, retries, two servers at once, and mails that carry
nothing of any report."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, func, inspect, select, update
from sqlalchemy.orm import Session

from reportline import create_app
from reportline.models import (
    AlertBatch,
    AuditEntry,
    Case,
    ExclusionKey,
    Officer,
    PendingAlert,
    UrgentMark,
)
from reportline.models.alerts import BATCH_KINDS
from reportline.services import (
    alert_recipients,
    alerts,
    cases,
    casework,
    exclusion_keys,
    instance,
    keyring,
    officers,
)
from reportline.services.alert_recipients import Preferences
from reportline.services.alerts import RunSummary
from reportline.services.flood import FloodMeter
from reportline.services.mail import FAILURES
from reportline.web.labels import CATEGORY
from tests.conftest import settings_for_test
from tests.helpers import (
    Enrolled,
    MovableClock,
    add_officer,
    add_reader,
    first_reference,
    follow_up_sign_in,
    officer_notes,
    officer_records,
    officer_writes,
    post_form,
    reporter_replies,
    sign_in,
    submit_report,
    unlock_officer_key,
)
from tests.smtp_server import (
    BASE_URL,
    MailCatcher,
    Received,
    free_port,
    mail_server,
    mail_settings,
)

__all__ = ["mail_server"]  # the fixture, used by name

MONDAY = datetime(2026, 11, 23)  # London is on UTC in November
URGENT = "Urgent: a report needs attention"
ACTIVITY = "ReportLine: new activity"
DIGEST = "ReportLine: daily summary"
# Every free-text field of the report, and of the triage record.
CANARY_FIELDS = [
    "what_happened",
    "when",
    "where",
    "who_involved",
    "how_known_detail",
    "at_risk_detail",
]
TRIAGE_TEXT = [
    "subjects-0-name",
    "subjects-0-number",
    "subjects-0-role",
    "subjects-0-team",
    "handling_conditions",
    "rationale",
    "intelligence_ref",
    "investigation_ref",
]


@pytest.fixture
def app_settings(instance_path: Any, database_url: str, mail_server: MailCatcher) -> dict[str, Any]:
    """The test app, sending alerts to the test's SMTP server."""
    return settings_for_test(instance_path, database_url, **mail_settings(mail_server))


def notify(app: Flask, clock: MovableClock, off_schedule: bool = False) -> RunSummary:
    """What `reportline notify` does, on the app's database at the clock's time."""
    settings = app.extensions["reportline.settings"]
    with instance.database_session(settings) as session:
        return alerts.run(session, settings, clock(), alerts.ACTOR, off_schedule, clock)


def at(clock: MovableClock, day: int, hour: int, minute: int = 0, second: int = 0) -> None:
    """Set the clock to `day` days after Monday 23 November 2026, at hour:minute:second."""
    clock.now = MONDAY + timedelta(days=day, hours=hour, minutes=minute, seconds=second)


def choose(db: Session, who: Enrolled, clock: MovableClock, **chosen: bool) -> None:
    """Save an officer's alert choices, as their account page does."""
    officer = db.get(Officer, who.officer_id)
    assert officer is not None
    alert_recipients.save_preferences(db, officer, Preferences(**chosen), clock())
    db.commit()


def subjects(catcher: MailCatcher, address: str) -> list[str]:
    return [message.subject for message in catcher.to(address)]


# ---------------------------------------------------------------- timing


def test_new_reports_wait_for_the_next_batch_which_says_only_how_many(
    app: Flask, unit: Enrolled, reporter: FlaskClient, clock: MovableClock, mail_server: MailCatcher
) -> None:
    at(clock, 0, 10, 0, 30)
    notify(app, clock)  # the 10:00 batch: nothing new
    at(clock, 0, 10, 5)
    submit_report(reporter)
    submit_report(reporter)
    for minute in (6, 30, 59):
        at(clock, 0, 10, minute)
        notify(app, clock)
    assert mail_server.messages == []  # the 10:00 batch was made before they came

    at(clock, 0, 11, 0, 5)
    notify(app, clock)
    at(clock, 0, 11, 1)
    notify(app, clock)

    [mail] = mail_server.messages
    assert mail.to == unit.email and mail.subject == ACTIVITY
    assert "New reports: 2" in mail.body and f"{BASE_URL}/triage/" in mail.body
    assert parsedate_to_datetime(mail.message["Date"]).replace(tzinfo=None) == clock.now.replace(
        hour=11, minute=0, second=0
    )


def test_nothing_goes_in_the_evening_or_at_the_weekend_and_monday_morning_catches_up(
    app: Flask, unit: Enrolled, reporter: FlaskClient, clock: MovableClock, mail_server: MailCatcher
) -> None:
    at(clock, 4, 18, 0, 30)  # Friday's last batch
    notify(app, clock)
    at(clock, 4, 18, 30)
    submit_report(reporter)
    for day, hour in ((4, 19), (4, 23), (5, 10), (6, 12), (7, 7)):
        at(clock, day, hour, 0, 5)
        notify(app, clock)
    assert mail_server.messages == []

    at(clock, 7, 8, 0, 5)  # Monday 08:00
    notify(app, clock)

    [mail] = mail_server.messages
    assert "New reports: 1" in mail.body


def test_a_missed_batch_is_made_once_late_and_never_twice(
    app: Flask, unit: Enrolled, reporter: FlaskClient, clock: MovableClock, mail_server: MailCatcher
) -> None:
    at(clock, 0, 9, 0, 5)
    notify(app, clock)
    at(clock, 0, 9, 10)
    submit_report(reporter)
    at(clock, 0, 11, 40)  # nothing ran at 10:00 or 11:00 (the server was down)
    notify(app, clock)
    at(clock, 0, 11, 41)
    notify(app, clock)

    assert subjects(mail_server, unit.email) == [ACTIVITY]


# ---------------------------------------------------------------- who gets what


def test_each_officer_gets_what_they_chose_and_nobody_else_gets_anything(
    app: Flask,
    db: Session,
    unit: Enrolled,
    reporter: FlaskClient,
    clock: MovableClock,
    mail_server: MailCatcher,
) -> None:
    at(clock, 0, 9, 30)
    alice = add_reader(db, clock, unit, "alice@unit.example")
    bob = add_reader(db, clock, unit, "bob@unit.example")
    carol = add_reader(db, clock, unit, "carol@unit.example")
    dave = add_reader(db, clock, unit, "dave@unit.example")
    erin = add_officer(db, clock, "erin@unit.example")  # never given the unit key
    frank = add_reader(db, clock, unit, "frank@unit.example")
    choose(db, alice, clock, replies=False, deadlines=False, urgent=False)
    choose(db, bob, clock, daily_digest=True)
    choose(db, carol, clock, new_reports=False, replies=False, deadlines=False, urgent=False)
    choose(db, dave, clock, new_reports=False, urgent=False)
    supervisor = db.get(Officer, unit.officer_id)
    assert supervisor is not None
    frank_row = db.get(Officer, frank.officer_id)
    assert frank_row is not None
    officers.deactivate(db, frank_row, supervisor, clock())
    db.commit()
    at(clock, 0, 10, 0, 30)
    notify(app, clock)

    at(clock, 0, 10, 10)
    receipt = submit_report(reporter)
    case_id = db.scalar(select(Case.id))
    assert case_id is not None
    dave_row = db.get(Officer, dave.officer_id)
    assert dave_row is not None
    casework.assign(db, case_id, dave_row, supervisor, False, clock())
    db.commit()
    follow_up_sign_in(reporter, receipt)
    reporter_replies(reporter, "More about what happened")
    at(clock, 0, 11, 0, 5)
    notify(app, clock)

    assert "New reports: 1" in mail_server.to(unit.email)[0].body
    assert "replies" not in mail_server.to(unit.email)[0].body  # dave's case, not theirs
    assert "New reports: 1" in mail_server.to(alice.email)[0].body
    [to_dave] = mail_server.to(dave.email)
    assert "New replies from reporters on your cases: 1" in to_dave.body
    assert "New reports" not in to_dave.body
    for nobody in (bob, carol, erin, frank):
        assert mail_server.to(nobody.email) == [], nobody.email

    mail_server.clear()
    at(clock, 1, 8, 0, 5)  # Tuesday's first batch: the digest, and the day's deadlines
    notify(app, clock)

    [summary] = mail_server.to(bob.email)
    assert summary.subject == DIGEST and "New reports: 1" in summary.body
    [deadlines] = mail_server.to(dave.email)
    assert "Due for acknowledgement within a week (your cases): 1" in deadlines.body
    assert {m.to for m in mail_server.messages} == {bob.email, dave.email}


def test_supervisors_hear_of_replies_and_deadlines_on_unassigned_cases(
    app: Flask,
    db: Session,
    unit: Enrolled,
    reporter: FlaskClient,
    clock: MovableClock,
    mail_server: MailCatcher,
) -> None:
    at(clock, 0, 9, 0)
    plain = add_reader(db, clock, unit, "plain@unit.example")
    receipt = submit_report(reporter)
    at(clock, 0, 9, 0, 30)
    notify(app, clock)
    mail_server.clear()
    follow_up_sign_in(reporter, receipt)
    reporter_replies(reporter, "Anything new?")
    at(clock, 8, 8, 0, 5)  # eight days on: the acknowledgement is overdue
    notify(app, clock)

    [to_supervisor] = mail_server.to(unit.email)
    assert "New replies from reporters on your cases and unassigned ones: 1" in to_supervisor.body
    assert "Overdue for acknowledgement (your cases and unassigned ones): 1" in to_supervisor.body
    assert mail_server.to(plain.email) == []  # an unassigned case is not theirs


def review_flood(officer: FlaskClient, action: str, references: list[str]) -> None:
    """A supervisor's decision on flood-marked reports, posted from the flood group."""
    data: dict[str, Any] = {"action": action, "case": references, "confirm_delete": "yes"}
    response = post_form(officer, "/triage/?status=flood", "/triage/admin/flood", data)
    assert response.status_code == 303


def test_a_flood_deleted_leaves_the_days_later_reports_to_be_counted(
    app: Flask,
    db: Session,
    unit: Enrolled,
    reporter: FlaskClient,
    clock: MovableClock,
    mail_server: MailCatcher,
) -> None:
    at(clock, 0, 10, 0, 30)
    notify(app, clock)
    app.extensions["reportline.flood_meter"] = FloodMeter(0, 600)  # every report is a flood's
    at(clock, 0, 10, 5)
    for _ in range(3):
        submit_report(app.test_client())
    at(clock, 0, 11, 0, 5)
    notify(app, clock)  # held as a flood: not counted (the queue's flood group shows them)

    at(clock, 0, 11, 5)
    again = app.test_client()
    assert sign_in(again, unit, clock).status_code == 303
    junk_a, junk_b, genuine = [cases.reference(c.id) for c in db.scalars(select(Case))]
    review_flood(again, "close", [junk_a, junk_b])
    review_flood(again, "delete", [junk_a, junk_b])
    review_flood(again, "release", [genuine])
    assert db.scalar(select(func.count()).select_from(Case)) == 1
    app.extensions["reportline.flood_meter"] = FloodMeter(100, 600)
    at(clock, 0, 11, 30)
    submit_report(reporter)
    at(clock, 0, 12, 0, 5)
    notify(app, clock)

    [mail] = mail_server.messages  # none at 11:00
    assert "New reports: 2" in mail.body  # the one released and the one after


def test_the_account_page_saves_choices_and_refuses_made_up_ones(
    app: Flask, db: Session, supervisor: FlaskClient, unit: Enrolled
) -> None:
    from tests.helpers import csrf_token

    page = supervisor.get("/triage/account/alerts").get_data(as_text=True)
    assert page.count('type="checkbox"') == 4 and page.count("checked") == 5  # the defaults
    token = csrf_token(page)

    saved = supervisor.post(
        "/triage/account/alerts",
        data={"csrf_token": token, "kinds": ["urgent", "deadlines"], "how_often": "daily"},
    )
    refused = supervisor.post(
        "/triage/account/alerts",
        data={"csrf_token": token, "kinds": ["everything"], "how_often": "hourly"},
    )

    assert saved.status_code == 303 and refused.status_code == 400
    assert "Choose from the kinds of alert listed" in refused.get_data(as_text=True)
    assert alert_recipients.preferences_of(db, unit.officer_id) == Preferences(
        new_reports=False, replies=False, deadlines=True, urgent=True, daily_digest=True
    )
    assert db.scalar(select(func.count()).where(AuditEntry.action == "officer.alerts_chosen")) == 1
    nothing = supervisor.post(
        "/triage/account/alerts", data={"csrf_token": token, "how_often": "as_they_come"}
    )
    assert nothing.status_code == 303
    assert alert_recipients.preferences_of(db, unit.officer_id).nothing


# ---------------------------------------------------------------- urgent


def test_a_report_that_someone_is_at_risk_calls_every_reader_within_the_quarter_hour(
    app: Flask,
    db: Session,
    unit: Enrolled,
    reporter: FlaskClient,
    clock: MovableClock,
    mail_server: MailCatcher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    at(clock, 5, 2, 0)  # a Saturday night: urgent alerts do not keep office hours
    alice = add_reader(db, clock, unit, "alice@unit.example")
    carol = add_reader(db, clock, unit, "carol@unit.example")
    erin = add_officer(db, clock, "erin@unit.example")
    choose(db, carol, clock, urgent=False)
    at(clock, 5, 2, 7)
    submit_report(reporter, at_risk="yes")

    [mark] = db.scalars(select(UrgentMark)).all()
    assert {column.key for column in inspect(UrgentMark).columns} == {
        "id",
        "unit_key_id",
        "exclusion_key_id",
        "quarter",
    }
    assert mark.unit_key_id is not None and mark.exclusion_key_id is None
    assert mark.quarter == clock.now.replace(minute=0) and mark.id != db.scalar(select(Case.id))
    at(clock, 5, 2, 14, 59)
    notify(app, clock)
    assert mail_server.messages == []  # its quarter hour is not over

    at(clock, 5, 2, 15, 4)
    with caplog.at_level(logging.INFO, logger="reportline"):
        notify(app, clock)

    assert sorted(m.to for m in mail_server.messages) == sorted([unit.email, alice.email])
    assert "Alerts: 2 sent, 0 failed" in caplog.text
    assert "urgent" not in caplog.text.lower()  # the log's time would date the report
    for message in mail_server.messages:
        assert message.subject == URGENT
        assert message.body == f"Urgent: a report needs attention.\n\n{BASE_URL}/triage/\n"
    assert db.scalars(select(UrgentMark)).all() == []
    assert mail_server.to(carol.email) == mail_server.to(erin.email) == []


def _group_member(db: Session, clock: MovableClock, unit: Enrolled, email: str) -> Enrolled:
    """A supervisor who reads reports and is given the exclusion key (by its read-back)."""
    member = add_reader(db, clock, unit, email, "supervisor")
    row = db.get(Officer, member.officer_id)
    assert row is not None
    held = keyring.unlock_group_keys(db, unit.officer_id, unlock_officer_key(db, unit))
    typed = unlock_officer_key(db, member).public_key().fingerprint
    assert exclusion_keys.grant(db, held, row, None, clock(), typed) == 1
    db.commit()
    return member


def test_an_at_risk_report_with_an_exclusion_calls_only_the_exclusion_group(
    app: Flask,
    db: Session,
    unit: Enrolled,
    reporter: FlaskClient,
    clock: MovableClock,
    mail_server: MailCatcher,
) -> None:
    at(clock, 5, 2, 0)  # a Saturday night
    gina = _group_member(db, clock, unit, "gina@unit.example")
    sam = add_reader(db, clock, unit, "sam@unit.example", "supervisor")  # not in the group
    alice = add_reader(db, clock, unit, "alice@unit.example")
    canaries = {name: f"CANARY{name.upper().replace('_', '')}Z3Q" for name in CANARY_FIELDS}
    canaries["exclude"] = "CANARYEXCLUDEZ3Q Sergeant Example"
    at(clock, 5, 2, 7)
    assert "the unit is sent an alert within 15 minutes" in reporter.get("/report").get_data(
        as_text=True
    )
    submit_report(reporter, at_risk="yes", category="corruption", **canaries)

    [mark] = db.scalars(select(UrgentMark)).all()
    assert mark.unit_key_id is None
    assert mark.exclusion_key_id == db.scalar(select(ExclusionKey.id))
    assert mark.quarter == clock.now.replace(minute=0) and mark.id != db.scalar(select(Case.id))
    at(clock, 5, 2, 15, 4)
    assert notify(app, clock).urgent_called == 2

    assert sorted(m.to for m in mail_server.messages) == sorted([unit.email, gina.email])
    for message in mail_server.messages:
        assert message.subject == URGENT
        assert message.body == f"Urgent: a report needs attention.\n\n{BASE_URL}/triage/\n"
    assert mail_server.to(sam.email) == mail_server.to(alice.email) == []
    assert db.scalars(select(UrgentMark)).all() == []

    member = app.test_client()
    assert sign_in(member, gina, clock).status_code == 303
    reference = first_reference(member)
    forbidden = [*canaries.values(), "CANARY", reference, reference[3:].replace("-", "")]
    forbidden += [str(db.scalar(select(Case.id))), "corruption", "exclu", "Sergeant"]
    for message in mail_server.messages:
        text = message.raw.decode("utf-8", "replace") + "\n" + message.body
        for word in forbidden:
            assert word.lower() not in text.lower(), (word, message.subject)


def test_the_urgent_cap_holds_across_ordinary_and_exclusion_marks(
    app: Flask,
    db: Session,
    unit: Enrolled,
    clock: MovableClock,
    mail_server: MailCatcher,
) -> None:
    alice = add_reader(db, clock, unit, "alice@unit.example")
    at(clock, 0, 10, 16)
    submit_report(app.test_client(), at_risk="yes", exclude="The duty inspector")
    at(clock, 0, 10, 17)
    submit_report(app.test_client(), at_risk="yes")
    at(clock, 0, 10, 18)
    submit_report(app.test_client(), at_risk="yes", exclude="The duty inspector")
    assert len(db.scalars(select(UrgentMark)).all()) == 3
    at(clock, 0, 10, 30, 2)
    assert notify(app, clock).urgent_called == 2
    at(clock, 0, 10, 31)
    submit_report(app.test_client(), at_risk="yes", exclude="The duty inspector")
    notify(app, clock, off_schedule=True)  # even sent off-schedule, the cap holds

    assert subjects(mail_server, unit.email).count(URGENT) == 1
    assert subjects(mail_server, alice.email).count(URGENT) == 1  # the ordinary report's
    at(clock, 0, 10, 45, 3)
    notify(app, clock)
    assert subjects(mail_server, unit.email).count(URGENT) == 2
    assert subjects(mail_server, alice.email).count(URGENT) == 1  # not the group's
    assert db.scalars(select(UrgentMark)).all() == []


def test_a_flood_of_at_risk_reports_sends_each_officer_one_urgent_mail_a_quarter_hour(
    app: Flask,
    db: Session,
    unit: Enrolled,
    clock: MovableClock,
    mail_server: MailCatcher,
) -> None:
    alice = add_reader(db, clock, unit, "alice@unit.example")
    for minute in range(16, 30):
        at(clock, 0, 10, minute)
        submit_report(app.test_client(), at_risk="yes")
        notify(app, clock)
    at(clock, 0, 10, 30, 2)
    notify(app, clock)
    at(clock, 0, 10, 31)
    submit_report(app.test_client(), at_risk="yes")
    at(clock, 0, 10, 32)
    notify(app, clock, off_schedule=True)  # even sent off-schedule, the cap holds
    at(clock, 0, 10, 44)
    notify(app, clock)

    for who in (unit.email, alice.email):
        assert subjects(mail_server, who).count(URGENT) == 1, who

    at(clock, 0, 10, 45, 3)
    notify(app, clock)

    for who in (unit.email, alice.email):
        assert subjects(mail_server, who).count(URGENT) == 2, who
    entries = db.scalars(select(AuditEntry).where(AuditEntry.action == "alerts.sent")).all()
    assert entries and all(entry.case_id is None for entry in entries)
    assert {entry.actor for entry in entries} == {alerts.ACTOR}


def test_an_urgent_mail_goes_only_at_the_start_of_a_quarter_hour(
    app: Flask,
    db: Session,
    unit: Enrolled,
    reporter: FlaskClient,
    clock: MovableClock,
    mail_server: MailCatcher,
) -> None:
    at(clock, 0, 10, 0, 30)
    notify(app, clock)  # the day's first batch, out of the way
    at(clock, 0, 10, 5)
    submit_report(reporter, at_risk="yes")
    at(clock, 0, 10, 15, 5)
    notify(app, clock)  # the 10:15 batch
    at(clock, 0, 10, 14, 59)
    submit_report(app.test_client(), at_risk="yes")  # its transaction ended after that batch
    at(clock, 0, 10, 15, 30)
    alice = add_reader(db, clock, unit, "alice@unit.example")  # not called at 10:15
    for minute in (16, 33, 40):  # the runs at 10:30 were missed
        at(clock, 0, 10, minute)
        notify(app, clock)
    assert len(db.scalars(select(UrgentMark)).all()) == 1  # waiting for 10:45
    at(clock, 0, 10, 45, 5)
    notify(app, clock)

    def dates(who: str) -> list[datetime]:
        return [
            parsedate_to_datetime(m.message["Date"]).replace(tzinfo=None)
            for m in mail_server.to(who)
            if m.subject == URGENT
        ]

    assert dates(unit.email) == [
        MONDAY.replace(hour=10, minute=15),
        MONDAY.replace(hour=10, minute=45),
    ]
    assert dates(alice.email) == [MONDAY.replace(hour=10, minute=45)]


def test_the_form_promises_an_alert_within_15_minutes_only_when_alerts_are_on(
    app: Flask, reporter: FlaskClient, instance_path: Any, database_url: str
) -> None:
    promise = "the unit is sent an alert within 15 minutes"
    assert promise in reporter.get("/report").get_data(as_text=True)
    welsh = app.test_client()
    welsh.get("/language/cy")
    assert "bydd yr uned yn cael rhybudd o fewn 15 munud" in welsh.get("/report").get_data(
        as_text=True
    )
    without_mail = create_app(settings_for_test(instance_path, database_url))
    page = without_mail.test_client().get("/report").get_data(as_text=True)
    without_mail.extensions["reportline.engine"].dispose()
    assert promise not in page


# ---------------------------------------------------------------- failures


def test_a_mail_server_that_is_down_or_refuses_loses_no_alert_and_logs_no_address(
    app: Flask,
    db: Session,
    unit: Enrolled,
    reporter: FlaskClient,
    clock: MovableClock,
    mail_server: MailCatcher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    alice = add_reader(db, clock, unit, "alice@unit.example")
    at(clock, 0, 10, 0, 30)
    notify(app, clock)  # the day's first batch, out of the way
    at(clock, 0, 10, 5)
    submit_report(reporter, at_risk="yes")
    mail_server.stop()
    at(clock, 0, 10, 15, 5)
    with caplog.at_level(logging.INFO, logger="reportline"):
        failed = notify(app, clock)
        at(clock, 0, 10, 20)
        notify(app, clock)  # failed alerts wait for the next quarter hour

    assert failed.failed == {"urgent": 2} and failed.failure == "connection"
    assert "Alert mail failed (connection)" in caplog.text
    assert "@" not in caplog.text
    assert db.scalar(select(func.count()).where(PendingAlert.urgent > 0)) == 2
    batch = db.get(AlertBatch, "urgent")
    assert batch is not None and batch.failure == "connection"

    mail_server.start()
    mail_server.refuse_data = True
    at(clock, 0, 10, 30, 5)
    refused = notify(app, clock)
    assert refused.failure == "refused" and mail_server.messages == []

    mail_server.refuse_data = False
    at(clock, 0, 10, 45, 5)
    notify(app, clock)
    at(clock, 0, 11, 0, 5)
    notify(app, clock)

    for who in (unit.email, alice.email):
        assert subjects(mail_server, who).count(URGENT) == 1, who
    assert (
        db.scalar(select(func.count()).select_from(PendingAlert).where(PendingAlert.urgent > 0))
        == 0
    )


def test_an_address_the_mail_server_cannot_take_fails_alone_and_says_why(
    app: Flask,
    db: Session,
    unit: Enrolled,
    reporter: FlaskClient,
    clock: MovableClock,
    mail_server: MailCatcher,
) -> None:
    alice = add_reader(db, clock, unit, "alice@unit.example")
    bob = add_reader(db, clock, unit, "bob@unit.example")
    mail_server.stop()
    mail_server.smtputf8 = False  # as many relays
    mail_server.start()
    # Stored before officer pages refused such addresses.
    db.execute(
        update(Officer)
        .where(Officer.id == alice.officer_id)
        .values(email="\u00e4lice@unit.example")
    )
    at(clock, 0, 10, 0, 30)
    notify(app, clock)  # the day's first batch, out of the way
    at(clock, 0, 10, 5)
    submit_report(reporter, at_risk="yes")
    at(clock, 0, 10, 15, 5)

    summary = notify(app, clock)

    assert sorted(m.to for m in mail_server.messages) == sorted([unit.email, bob.email])
    assert summary.failed == {"urgent": 1} and summary.failure == "refused_not_ascii"
    batch = db.get(AlertBatch, "urgent")
    assert batch is not None and batch.failure == "refused_not_ascii"
    assert "SMTPUTF8" in FAILURES[batch.failure] and "TLS" not in FAILURES[batch.failure]


def test_a_server_that_hangs_up_on_an_address_is_called_again_and_that_officer_goes_last(
    app: Flask,
    db: Session,
    unit: Enrolled,
    reporter: FlaskClient,
    clock: MovableClock,
    mail_server: MailCatcher,
) -> None:
    readers = [add_reader(db, clock, unit, f"reader{n}@unit.example") for n in range(4)]
    mail_server.hang_up_on = {readers[0].email, readers[2].email}
    at(clock, 0, 10, 0, 30)
    notify(app, clock)  # the day's first batch, out of the way
    at(clock, 0, 10, 5)
    submit_report(reporter, at_risk="yes")
    at(clock, 0, 10, 15, 5)
    first = notify(app, clock)

    # Lost at reader0, called again for reader1; lost again at reader2: reader3 waits.
    assert [m.to for m in mail_server.messages] == [unit.email, readers[1].email]
    assert first.failed == {"urgent": 3}

    at(clock, 0, 10, 30, 5)
    notify(app, clock)

    # reader3 was not tried, so goes before the two whose mail failed.
    assert [m.to for m in mail_server.messages][2:] == [readers[3].email]
    waiting = db.scalars(select(PendingAlert.officer_id).where(PendingAlert.urgent > 0)).all()
    assert sorted(waiting) == sorted([readers[0].officer_id, readers[2].officer_id])


# ---------------------------------------------------------------- several servers


def run_together(servers: list[Flask], clock: MovableClock) -> list[BaseException]:
    """Run `notify` on every server at the same moment, each in its own thread; return
    what any of them raised."""
    start = threading.Barrier(len(servers))
    problems: list[BaseException] = []

    def run(server: Flask) -> None:
        try:
            start.wait()
            notify(server, clock)
        except BaseException as exc:  # reported in the test's thread
            problems.append(exc)

    threads = [threading.Thread(target=run, args=(server,)) for server in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return problems


def test_two_app_servers_running_at_once_send_each_alert_once(
    app: Flask,
    make_app: Callable[..., Flask],
    db: Session,
    unit: Enrolled,
    clock: MovableClock,
    mail_server: MailCatcher,
) -> None:
    readers = [add_reader(db, clock, unit, f"reader{n}@unit.example") for n in range(4)]
    everyone = [unit.email] + [reader.email for reader in readers]
    other = make_app()  # a second server on the same database
    for hour in (10, 11, 12):
        at(clock, 0, hour, 5)
        submit_report(app.test_client(), at_risk="yes")
        submit_report(other.test_client())
        at(clock, 0, hour + 1, 0, 5)
        assert run_together([app, other], clock) == []
        for who in everyone:
            assert subjects(mail_server, who).count(URGENT) == hour - 9, who
            assert subjects(mail_server, who).count(ACTIVITY) == hour - 9, who


def test_a_run_that_outlasts_its_lease_stops_and_leaves_the_rest_for_the_next(
    app: Flask,
    db: Session,
    unit: Enrolled,
    reporter: FlaskClient,
    clock: MovableClock,
    mail_server: MailCatcher,
) -> None:
    readers = [add_reader(db, clock, unit, f"reader{n}@unit.example") for n in range(4)]
    at(clock, 0, 10, 5)
    submit_report(reporter)
    mail_server.on_message = lambda _message: clock.advance(minutes=4)  # a slow mail server
    at(clock, 0, 11, 0, 5)

    first = notify(app, clock)

    assert first.sent == {"regular": 3}  # at 11:12:05 its ten minutes were up
    left = db.scalars(select(PendingAlert).where(PendingAlert.new_reports > 0)).all()
    assert len(left) == 2 and all(row.lease is None for row in left)
    mail_server.on_message = None
    at(clock, 0, 11, 13)
    notify(app, clock)
    for who in [unit.email, *(reader.email for reader in readers)]:
        assert subjects(mail_server, who) == [ACTIVITY], who


def test_a_second_server_never_sends_what_a_slow_first_one_is_still_sending(
    app: Flask,
    app_settings: dict[str, Any],
    db: Session,
    unit: Enrolled,
    reporter: FlaskClient,
    clock: MovableClock,
    mail_server: MailCatcher,
) -> None:
    readers = [add_reader(db, clock, unit, f"reader{n}@unit.example") for n in range(4)]
    second_mail_server = MailCatcher(free_port())
    second_mail_server.start()
    other = create_app({**app_settings, **mail_settings(second_mail_server)}, clock=clock)

    def slow(_message: Received) -> None:
        clock.advance(minutes=4)
        if len(mail_server.messages) == 3:  # 11:12:05, while the third mail is being sent
            notify(other, clock)

    mail_server.on_message = slow
    try:
        at(clock, 0, 10, 5)
        submit_report(reporter)
        at(clock, 0, 11, 0, 5)
        notify(app, clock)
    finally:
        other.extensions["reportline.engine"].dispose()
        second_mail_server.stop()

    for who in [unit.email, *(reader.email for reader in readers)]:
        assert len(mail_server.to(who)) + len(second_mail_server.to(who)) == 1, who
    assert len(second_mail_server.messages) == 2


def test_every_run_locks_the_batch_rows_in_one_order(
    app: Flask,
    db: Session,
    unit: Enrolled,
    reporter: FlaskClient,
    clock: MovableClock,
    mail_server: MailCatcher,
) -> None:
    """Two runs taking 'regular' and 'digest' in opposite orders could deadlock."""
    bob = add_reader(db, clock, unit, "bob@unit.example")
    choose(db, bob, clock, daily_digest=True)
    at(clock, 0, 10, 0, 30)
    notify(app, clock)
    at(clock, 0, 10, 5)
    submit_report(reporter)
    locked: list[list[str]] = [[]]

    def lock(_conn: Any, _cursor: Any, sql: str, parameters: Any, *_: Any) -> None:
        if sql.startswith("INSERT INTO alert_batches"):
            values = parameters.values() if isinstance(parameters, dict) else parameters
            locked[-1].extend(value for value in values if value in BATCH_KINDS)

    def end(_conn: Any) -> None:
        locked.append([])

    event.listen(Engine, "before_cursor_execute", lock)
    event.listen(Engine, "commit", end)
    try:
        at(clock, 1, 8, 0, 5)  # Tuesday's first batch: a regular mail and a daily summary
        notify(app, clock)
    finally:
        event.remove(Engine, "before_cursor_execute", lock)
        event.remove(Engine, "commit", end)

    assert {m.subject for m in mail_server.messages} == {ACTIVITY, DIGEST}
    taken = [kinds for kinds in locked if len(kinds) > 1]
    assert len(taken) == 2  # making the batch, and recording what it sent
    assert all(kinds == sorted(kinds, key=BATCH_KINDS.index) for kinds in taken), taken


# ---------------------------------------------------------------- nothing of a report


def test_no_mail_ever_carries_a_word_reference_or_category_of_a_report(
    app: Flask,
    db: Session,
    unit: Enrolled,
    reporter: FlaskClient,
    supervisor: FlaskClient,
    clock: MovableClock,
    mail_server: MailCatcher,
) -> None:
    bob = add_reader(db, clock, unit, "bob@unit.example")
    choose(db, bob, clock, daily_digest=True)
    at(clock, 0, 10, 0, 30)
    notify(app, clock)
    canaries = {name: f"CANARY{name.upper().replace('_', '')}Z3Q" for name in CANARY_FIELDS}
    at(clock, 0, 10, 5)
    receipt = submit_report(
        reporter, category="corruption", how_known="documents", at_risk="yes", **canaries
    )
    reference = first_reference(supervisor)
    officer_writes(supervisor, reference, "CANARYOFFICERMESSAGEZ3Q")
    follow_up_sign_in(reporter, receipt)
    reporter_replies(reporter, "CANARYREPORTERREPLYZ3Q")
    triage = {name: f"CANARY{name.upper().replace('-', '')}Z3Q" for name in TRIAGE_TEXT}
    assert officer_records(supervisor, reference, **triage).status_code == 303
    officer_notes(supervisor, reference, "CANARYNOTEZ3Q")
    for day, hour, minute in ((0, 10, 15), (0, 11, 0), (1, 8, 0)):
        at(clock, day, hour, minute, 5)
        notify(app, clock)
    at(clock, 1, 9, 10)
    follow_up_sign_in(reporter, receipt)
    reporter_replies(reporter, "CANARYSECONDREPLYZ3Q")
    submit_report(app.test_client(), category="corruption", at_risk="yes", **canaries)
    notify(app, clock, off_schedule=True)
    again = app.test_client()
    assert sign_in(again, unit, clock).status_code == 303
    post_form(again, "/triage/admin/mail", "/triage/admin/mail/test", {})

    sent = {(m.subject.split(":")[0], m.to) for m in mail_server.messages}
    assert {("Urgent", unit.email), ("Urgent", bob.email), ("ReportLine", bob.email)} <= sent
    assert len(mail_server.messages) >= 8
    with app.test_request_context():
        category = str(CATEGORY["corruption"])
    case_id = db.scalar(select(Case.id).order_by(Case.received_on))
    forbidden = [
        *canaries.values(),
        *triage.values(),
        "CANARYOFFICERMESSAGEZ3Q",
        "CANARYREPORTERREPLYZ3Q",
        "CANARYSECONDREPLYZ3Q",
        "CANARYNOTEZ3Q",
        "CANARY",
        reference,
        reference.removeprefix("RL-").replace("-", ""),
        "corruption",
        category,
        "Misuse of force systems",
        "Received",
        "Acknowledged",
    ]
    assert case_id is not None and str(case_id) not in forbidden
    for message in mail_server.messages:
        text = message.raw.decode("utf-8", "replace") + "\n" + message.body
        for word in [*forbidden, str(case_id)]:
            assert word.lower() not in text.lower(), (word, message.subject)


def test_a_run_with_nothing_due_writes_nothing(
    app: Flask,
    db: Session,
    unit: Enrolled,
    reporter: FlaskClient,
    clock: MovableClock,
    mail_server: MailCatcher,
) -> None:
    """Runs come every minute: one that wrote (or row-locked) each time would be a clock
    a database reader could date reports against (PostgreSQL's transaction ids)."""
    bob = add_reader(db, clock, unit, "bob@unit.example")
    choose(db, bob, clock, daily_digest=True)  # his counts wait for tomorrow's summary
    at(clock, 0, 10, 0, 30)
    notify(app, clock)
    at(clock, 0, 10, 20)
    submit_report(reporter, at_risk="yes")  # its urgent batch is at 10:30
    at(clock, 0, 11, 0, 5)
    notify(app, clock)
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        statements.append(" ".join(sql.split()).upper())

    event.listen(Engine, "before_cursor_execute", record)
    try:
        for minute in (1, 7, 14):
            at(clock, 0, 11, minute)
            notify(app, clock)
    finally:
        event.remove(Engine, "before_cursor_execute", record)

    assert statements, "the runs read nothing at all"
    writes = [
        sql
        for sql in statements
        if sql.startswith(("INSERT", "UPDATE", "DELETE")) or "FOR UPDATE" in sql
    ]
    assert writes == []
    waiting = db.get(PendingAlert, bob.officer_id)
    assert waiting is not None and waiting.new_reports == 1  # his, for tomorrow
