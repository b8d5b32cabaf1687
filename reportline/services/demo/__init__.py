"""Sample data for `reportline demo`: a unit of officers and a dozen worked cases.

`populate` adds three officers who hold the unit key, then plays the sample
cases of `reportline.services.demo.samples` in one time order: each report is
sent as a reporter's form would send it and everything after it is done by
the officer a step names, at the moment the step names, through the same
services the pages use. So every report, message, note and record version is
sealed, MAC'd and audited exactly as real data, and the audit log reads in
time order. The caller commits.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from reportline.config import Settings
from reportline.crypto.receipt import wordlist
from reportline.models import Case, Officer
from reportline.models.case import PRIORITIES
from reportline.services import (
    case_record,
    cases,
    casework,
    follow_up,
    form_tickets,
    instance,
    keyring,
    officers,
    submissions,
    triage,
)
from reportline.services.demo.samples import CASES, OFFICERS, SUPERVISOR
from reportline.services.demo.script import (
    REPORTER,
    Action,
    Assign,
    Close,
    Declare,
    Move,
    Note,
    Record,
    Reply,
    SampleCase,
    Step,
    Take,
    Write,
)
from reportline.services.keyring import UnitKeyring
from reportline.services.triage_record import Link, national_categories

# How long before "now" the demo unit was set up: before its oldest case arrived.
HISTORY = timedelta(days=max(case.age_days for case in CASES) + 14)
PASSWORD_WORDS = 5


@dataclass(frozen=True, repr=False)
class DemoSignIn:
    """What an officer of the demo unit signs in with."""

    email: str
    password: str
    totp_seed: str

    def __repr__(self) -> str:
        return f"DemoSignIn({self.email!r}, <secrets>)"


@dataclass(frozen=True)
class DemoUnit:
    """What `populate` made: the officers' sign-ins and how many cases."""

    officers: tuple[DemoSignIn, ...]
    cases: int


def populate(
    session: Session,
    settings: Settings,
    supervisor: Officer,
    unit_keys: UnitKeyring,
    now: datetime,
) -> DemoUnit:
    """Add the demo officers (each given the unit key by `supervisor`) and the sample
    cases, received over the months up to `now` (the newest today, untouched) and
    worked up to the day before it. The officers are made `HISTORY` before `now`.

    Raises ValueError if a sample step falls on or after today (a mistake in the
    samples); any service error a step meets is raised as it is.
    """
    set_up = now - HISTORY
    team = {SUPERVISOR: supervisor}
    sign_ins = []
    words = wordlist()
    for member in OFFICERS:
        password = " ".join(secrets.choice(words) for _ in range(PASSWORD_WORDS))
        new = officers.create_officer(
            session,
            member.email,
            member.role,
            password,
            instance.argon2_cost(settings),
            set_up,
            instance.integrity_key(settings),
        )
        keyring.grant_unit_key(
            session, unit_keys, new.officer, supervisor, set_up, instance.integrity_key(settings)
        )
        team[member.handle] = new.officer
        sign_ins.append(DemoSignIn(new.officer.email, password, new.totp_seed))
    player = _Player(session, settings, unit_keys, team)
    for moment, sample, action in _timeline(now):
        player.play(moment, sample, action)
    return DemoUnit(tuple(sign_ins), len(CASES))


def _timeline(now: datetime) -> list[tuple[datetime, SampleCase, Step | None]]:
    """Every report's arrival (a None step, at midnight) and every step, in time order."""
    today = now.date()
    events: list[tuple[datetime, int, int, SampleCase, Step | None]] = []
    for number, sample in enumerate(CASES):
        received_on = today - timedelta(days=sample.age_days)
        events.append((datetime.combine(received_on, datetime.min.time()), number, 0, sample, None))
        for index, one in enumerate(sample.steps, start=1):
            moment = datetime.combine(received_on + timedelta(days=one.day), one.at)
            if moment.date() >= today:
                raise ValueError(f"a step of {sample.key} falls on or after today")
            events.append((moment, number, index, sample, one))
    events.sort(key=lambda event: event[:3])
    return [(moment, sample, one) for moment, _, _, sample, one in events]


@dataclass
class _Player:
    """Plays steps through the services, remembering each sample's case and receipt."""

    session: Session
    settings: Settings
    unit_keys: UnitKeyring
    team: dict[str, Officer]
    case_ids: dict[str, int] = field(default_factory=dict)
    receipts: dict[str, str] = field(default_factory=dict, repr=False)

    def play(self, moment: datetime, sample: SampleCase, one: Step | None) -> None:
        """Send the report (no step), or do the step as its officer or the reporter."""
        if one is None:
            self._send(sample, moment.date())
        elif one.by == REPORTER:
            if not isinstance(one.action, Reply):
                raise ValueError("a reporter only replies")
            self._reply(sample, one.action.text, moment)
        else:
            self._act(self.case_ids[sample.key], one.action, self.team[one.by], moment)

    def _send(self, sample: SampleCase, received_on: date) -> None:
        ticket_key = instance.form_ticket_key(self.settings)
        ticket = form_tickets.read(
            ticket_key,
            form_tickets.issue(ticket_key, datetime.combine(received_on, datetime.min.time())),
        )
        if ticket is None:
            raise RuntimeError("a freshly issued form ticket does not read back")
        keys = submissions.SubmissionKeys(
            self.settings.receipt_pepper, instance.spent_form_key(self.settings)
        )
        receipt = submissions.submit_report(
            self.session,
            sample.report,
            ticket,
            keys,
            keyring.PinnedUnitKey(self.settings.unit_key_fingerprint),
            received_on,
        ).receipt
        self.case_ids[sample.key] = self.session.scalars(
            select(Case.id).where(Case.receipt_hmac == receipt.lookup_hmac(keys.pepper))
        ).one()
        self.receipts[sample.key] = receipt.text

    def _reply(self, sample: SampleCase, text: str, moment: datetime) -> None:
        token = follow_up.sign_in(self.session, self.receipts[sample.key], moment, self.settings)
        reporter = follow_up.resume(self.session, token, moment)
        follow_up.reply(self.session, reporter, text, moment.date())
        follow_up.end(self.session, token)

    def _act(self, case_id: int, action: Action, officer: Officer, moment: datetime) -> None:
        session, keys = self.session, self.unit_keys
        if cases.get_case(session, case_id).unread_by_unit:
            # An officer reads the reporter's reply before doing anything else with it.
            triage.open_case(session, case_id, keys, officer, moment)
        match action:
            case Move(to, reason):
                triage.change_status(session, keys, case_id, to, reason, officer, moment)
            case Write(text, kind, feedback):
                triage.write_to_reporter(
                    session, keys, case_id, text, officer, moment, kind=kind, is_feedback=feedback
                )
            case Record():
                self._record(case_id, action, officer, moment)
            case Note(text, corrects):
                casework.add_note(session, keys, case_id, text, officer, moment, corrects)
            case Assign(to):
                casework.assign(session, case_id, self.team[to], officer, False, moment)
            case Take(declared):
                casework.assign(session, case_id, officer, officer, declared, moment)
            case Declare():
                casework.declare_no_conflict(session, case_id, officer, moment)
            case Close(outcome, rationale, body, reference):
                casework.close_with_outcome(
                    session, keys, case_id, outcome, rationale, body, reference, officer, moment
                )

    def _record(self, case_id: int, action: Record, officer: Officer, moment: datetime) -> None:
        """A new version of the record: the current one with the step's changes."""
        case = cases.get_case(self.session, case_id)
        current = case_record.current_record(
            self.session, case, cases.open_case_secret(case, self.unit_keys)
        )
        offered = national_categories(self.settings.national_categories)
        changes = dict(action.changes)
        if "categories" in changes:  # an instance may offer other categories than the usual
            changes["categories"] = tuple(c for c in changes["categories"] if c in offered)
        links = tuple(Link(self.case_ids[key], kind) for key, kind in action.links)
        data = replace(current, **changes, links=current.links + links)
        priority = action.priority
        if priority is None:
            priority = next(
                (name for name, rank in PRIORITIES.items() if rank == case.priority), ""
            )
        casework.save_record(
            self.session,
            self.unit_keys,
            case_id,
            data,
            priority,
            case.triage_version,
            offered,
            officer,
            moment,
        )
