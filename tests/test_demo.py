"""The demo's sample unit: a dozen worked cases, made through the services, that pass
every check and show each part of casework a newcomer should see."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from reportline.models import Officer
from reportline.models.case import PRIORITIES, PRIORITY_NOT_SET, STATUSES
from reportline.services import audit, demo, instance, keyring, officers, queue, triage
from reportline.services.keyring import UnitKeyring
from reportline.services.ledger import LedgerState
from reportline.services.queue import QueueRow
from reportline.services.triage import OpenedCase
from reportline.services.triage_record import REVERSE_LINK
from tests.helpers import REFERENCE, Enrolled, MovableClock, sign_in


@contextmanager
def as_supervisor(app: Flask, unit: Enrolled) -> Iterator[tuple[Session, Officer, UnitKeyring]]:
    """A session, the supervisor and their unlocked unit keys, as a signed-in page has."""
    settings = app.extensions["reportline.settings"]
    with instance.database_session(settings) as session:
        supervisor = officers.get_officer(session, unit.officer_id)
        key = officers.unlock_private_key(
            supervisor, unit.password, instance.integrity_key(settings)
        )
        yield session, supervisor, keyring.unlock_unit_keys(session, supervisor.id, key)


@pytest.fixture
def demo_unit(app: Flask, unit: Enrolled, clock: MovableClock) -> demo.DemoUnit:
    """The demo's sample data, made and committed as `reportline demo` makes it."""
    with as_supervisor(app, unit) as (session, supervisor, unit_keys):
        made = demo.populate(
            session, app.extensions["reportline.settings"], supervisor, unit_keys, clock()
        )
        session.commit()
    return made


@dataclass
class Seen:
    """The queue as the supervisor first sees it, then every case opened."""

    rows: list[QueueRow]
    opened: list[OpenedCase]
    open_view_total: int
    ledger: LedgerState | None
    audit_breaks: list[int]

    def case(self, case_id: int) -> OpenedCase:
        return next(o for o in self.opened if o.case_id == case_id)


@pytest.fixture
def seen(app: Flask, unit: Enrolled, demo_unit: demo.DemoUnit, clock: MovableClock) -> Seen:
    """What the supervisor sees on the Monday morning: the queue, then each case."""
    with as_supervisor(app, unit) as (session, supervisor, unit_keys):
        every = queue.queue_page(session, unit_keys, supervisor, clock(), 1, 50, "all")
        open_view = queue.queue_page(session, unit_keys, supervisor, clock(), 1, 50)
        opened = [
            triage.open_case(session, row.case_id, unit_keys, supervisor, clock())
            for row in every.rows
        ]
        session.commit()
        breaks = audit.verify_chain(session)
    assert open_view.ledger is not None
    return Seen(every.rows, opened, open_view.total, open_view.ledger.state, breaks)


def test_the_demo_queue_holds_a_dozen_cases_in_every_status_each_passing_its_checks(
    seen: Seen, demo_unit: demo.DemoUnit, clock: MovableClock
) -> None:
    today = clock().date()
    assert demo_unit.cases == len(seen.rows) == 12
    assert {row.status for row in seen.rows} == set(STATUSES)
    assert not [row.reference for row in seen.rows if row.tampered]
    assert [o.reference for o in seen.opened if o.faults or o.report is None] == []
    assert seen.open_view_total == sum(row.status != "closed" for row in seen.rows)
    assert seen.ledger is LedgerState.AGREES
    assert seen.audit_breaks == []
    # Received over about four months, the newest today.
    days = sorted((o.received_on for o in seen.opened), reverse=True)
    assert days[0] == today
    assert 90 <= (days[0] - days[-1]).days <= 130


def test_the_demo_cases_are_due_overdue_prioritised_and_graded(seen: Seen) -> None:
    assert any(o.acknowledgement_overdue for o in seen.opened)
    acknowledged = [o for o in seen.opened if o.acknowledged_on and o.status != "closed"]
    assert {"due_soon", "overdue"} <= {o.due_state for o in acknowledged}
    assert {o.priority for o in seen.opened} == {*PRIORITIES.values(), PRIORITY_NOT_SET}
    records = [o.record for o in seen.opened if o.record is not None and o.record.categories]
    assert len({category for r in records for category in r.categories}) >= 8
    assert len({flag for r in records for flag in r.risk_flags}) >= 5
    assert any(r.handling_code == "C" and r.handling_conditions for r in records)
    assert {r.intelligence_assessment for r in records} >= {"B", "C", "D"}
    subjects = [s for r in records for s in r.subjects]
    assert subjects and all(s.name and s.number and s.role and s.team for s in subjects)


def test_the_demo_cases_have_owners_notes_links_and_outcomes(seen: Seen) -> None:
    owned = [o for o in seen.opened if o.assignee_id is not None]
    assert any(o.assignee_declared for o in owned)
    assert any(not o.assignee_declared for o in owned)
    assert any(o.assignee_id is None for o in seen.opened)
    assert len({o.assignee_id for o in owned}) >= 3
    assert any(note.earlier for o in seen.opened for note in o.notes)  # a corrected note
    kinds = set()
    for case in seen.opened:
        assert case.record is not None
        for link in case.record.links:
            kinds.add(link.kind)
            other = seen.case(link.case_id).record
            assert other is not None
            back = REVERSE_LINK.get(link.kind, link.kind)
            assert (case.case_id, back) in {(x.case_id, x.kind) for x in other.links}
    assert {"duplicate_of", "duplicated_by", "related_to"} <= kinds
    closed = [o for o in seen.opened if o.status == "closed"]
    assert closed and all(o.record and o.record.outcome for o in closed)
    assert any(
        o.was_referred and o.record and o.record.referral_body and o.record.referral_reference
        for o in closed
    )


def test_the_demo_conversations_hold_replies_feedback_and_one_unread_reply(seen: Seen) -> None:
    unread = [row for row in seen.rows if row.unread_replies]
    assert len(unread) == 1
    last = seen.case(unread[0].case_id).dialogue[-1]
    assert last.author == "reporter" and last.text
    assert any(o.feedback_given_on for o in seen.opened if o.status != "closed")
    assert any(o.feedback_given_on for o in seen.opened if o.status == "closed")
    entries = [entry for o in seen.opened for entry in o.dialogue]
    assert {"reporter", "officer"} == {entry.author for entry in entries}
    assert any(entry.kind == "outcome" for entry in entries)
    assert sum(entry.author == "reporter" for entry in entries) >= 5


def test_each_demo_officer_signs_in_and_sees_the_whole_queue(
    app: Flask, db: Session, demo_unit: demo.DemoUnit, clock: MovableClock
) -> None:
    assert len(demo_unit.officers) == 3
    for who in demo_unit.officers:
        assert who.email.endswith(".invalid")
        officer_id = db.scalars(select(Officer.id).where(Officer.email == who.email)).one()
        client = app.test_client()
        enrolled = Enrolled(who.email, who.password, who.totp_seed, officer_id)
        response = sign_in(client, enrolled, clock)
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        page = client.get("/triage/?status=all").get_data(as_text=True)
        assert len(set(REFERENCE.findall(page))) == 12
