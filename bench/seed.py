"""A realistic database for the officer-page benchmark, made with the app's own services.

Reports are accepted with `submissions.submit_report` (the real sealing code,
each with its own form's one-time value from `form_tickets`), spread over
three years, oldest first. Each then lives a plausible life for
its age through the same services the officer pages use:
`triage.change_status` (status history with sealed reasons, audited),
`triage.open_case` and `triage.write_to_reporter` (questions, sealed to the
case and the reporter) and `follow_up.sign_in` / `reply` with the case's
receipt (the reporter's answers). Five officers share the work. Everything is committed in batches.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bench.common import VOCABULARY
from bench.instance import Credentials, instance_settings
from reportline import utcnow
from reportline.crypto.password import derive_password_key, read_params, unwrap_private_key
from reportline.models import Case, Officer
from reportline.services import (
    cases,
    follow_up,
    form_tickets,
    instance,
    keyring,
    maintenance,
    officers,
    submissions,
    triage,
)
from reportline.services.keyring import UnitKeyring

SPAN_DAYS = 3 * 365
OFFICER_EMAILS = [f"officer{n}@bench.reportline.invalid" for n in range(1, 5)]
OFFICER_PASSWORD = "granite meadow lantern quiet harbour"
# Share of cases whose reporter and unit exchange messages.
DIALOGUE_SHARE = 0.2


@dataclass
class SeedReport:
    """What was made, for the record and to pick pages to measure."""

    reports: int = 0
    status_changes: int = 0
    messages: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    busy_cases: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _text(rng: random.Random, low: int, high: int) -> str:
    words = " ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(low, high)))
    return words[:1].upper() + words[1:] + "."


def _draft(rng: random.Random) -> submissions.ReportDraft:
    return submissions.ReportDraft(
        category=rng.choices(submissions.CATEGORIES, weights=[30, 8, 25, 15, 10, 5, 7])[0],
        what_happened="\n\n".join(_text(rng, 30, 90) for _ in range(rng.randint(1, 5))),
        when=rng.choice(["", "Last Tuesday night", "Since March", "14 October, about 2am"]),
        where=rng.choice(["", "Central custody suite", "B shift group chat", "Northgate"]),
        who_involved=rng.choice(["", _text(rng, 5, 30)]),
        how_known=rng.choice(submissions.HOW_KNOWN),
        how_known_detail=rng.choice(["", "", _text(rng, 5, 25)]),
        at_risk=rng.choices(submissions.AT_RISK, weights=[5, 80, 15])[0],
        at_risk_detail=rng.choice(["", "", "", _text(rng, 5, 20)]),
    )


def _path_to(rng: random.Random, age_days: int) -> list[str]:
    """The statuses a case of this age has passed through after `received`."""
    if age_days < 3:
        target = rng.choices(["received", "acknowledged"], weights=[70, 30])[0]
    elif age_days < 14:
        target = rng.choices(["received", "acknowledged", "assessing"], weights=[25, 40, 35])[0]
    elif age_days < 90:
        target = rng.choices(
            ["acknowledged", "assessing", "investigating", "referred", "closed"],
            weights=[5, 25, 35, 10, 25],
        )[0]
    elif age_days < 365:
        target = rng.choices(
            ["assessing", "investigating", "referred", "closed"], weights=[5, 10, 5, 80]
        )[0]
    else:
        target = rng.choices(["investigating", "closed"], weights=[3, 97])[0]
    paths = {
        "received": [[]],
        "acknowledged": [["acknowledged"]],
        "assessing": [["acknowledged", "assessing"]],
        "investigating": [["acknowledged", "assessing", "investigating"],
                          ["acknowledged", "investigating"]],
        "referred": [["acknowledged", "assessing", "referred"]],
        "closed": [["acknowledged", "closed"], ["acknowledged", "assessing", "closed"],
                   ["acknowledged", "assessing", "investigating", "closed"]],
    }
    return rng.choice(paths[target])


def _at(day: date, rng: random.Random) -> datetime:
    return datetime.combine(day, clock_time(rng.randint(8, 18), rng.randint(0, 59)))


class Seeder:
    """Adds reports and their histories to an initialised instance."""

    def __init__(self, session: Session, folder: Path, credentials: Credentials, seed: int):
        self.session = session
        self.settings = instance_settings(folder)
        self.rng = random.Random(seed)
        self.now = utcnow().replace(microsecond=0) - timedelta(hours=1)
        self.today = self.now.date()
        self.officers, self.keyring = self._team(credentials)
        self.unit_key = keyring.PinnedUnitKey(self.settings.unit_key_fingerprint)
        # Each report is sent with its own form's one-time value, as the form sends it.
        self.ticket_key = instance.form_ticket_key(self.settings)
        self.submission_keys = submissions.SubmissionKeys(
            self.settings.receipt_pepper, instance.spent_form_key(self.settings))
        self.result = SeedReport()
        self._busy_seen = 0

    def _team(self, credentials: Credentials) -> tuple[list[Officer], UnitKeyring]:
        """The supervisor and four officers who hold the unit key; the unit keyring."""
        now = utcnow()
        existing = {o.email: o for o in self.session.scalars(select(Officer))}
        supervisor = existing[credentials.email]
        supervisor_key = self._unlock(supervisor, credentials.password)
        unit_keys = keyring.unlock_unit_keys(self.session, supervisor.id, supervisor_key)
        team = [supervisor]
        for email in OFFICER_EMAILS:
            officer = existing.get(email)
            if officer is None:
                officer = officers.create_officer(
                    self.session, email, "officer", OFFICER_PASSWORD,
                    instance.argon2_cost(self.settings), now, instance.integrity_key(self.settings),
                ).officer
                keyring.grant_unit_key(self.session, unit_keys, officer, supervisor, now,
                                       instance.integrity_key(self.settings))
            team.append(officer)
        self.session.commit()
        return team, unit_keys

    @staticmethod
    def _unlock(officer: Officer, password: str) -> Any:
        wrapped = officer.wrapped_private_key
        if wrapped is None:
            raise RuntimeError("the supervisor has no key")
        key = derive_password_key(password, read_params(wrapped))
        return unwrap_private_key(wrapped, key, officers.officer_key_context(officer.id))

    def add_reports(self, count: int, batch: int = 2000, progress: bool = True) -> SeedReport:
        """Add `count` reports, oldest first, committing every `batch`."""
        started = time.perf_counter()
        ages = sorted((self.rng.randrange(SPAN_DAYS) for _ in range(count)), reverse=True)
        for index, age in enumerate(ages, start=1):
            self._one_case(age)
            if index % batch == 0 or index == count:
                self.session.commit()
                self.session.expunge_all()
                if progress:
                    elapsed = time.perf_counter() - started
                    print(f"  seeded {index:,}/{count:,} reports in {elapsed:.0f} s "
                          f"(~{elapsed / index * (count - index):.0f} s to go)", flush=True)
        self.result.seconds = time.perf_counter() - started
        return self.result

    def _one_case(self, age: int) -> None:
        rng = self.rng
        received_on = self.today - timedelta(days=age)
        ticket = form_tickets.read(self.ticket_key, form_tickets.issue(self.ticket_key, self.now))
        if ticket is None:
            raise RuntimeError("a freshly issued form ticket does not read back")
        receipt = submissions.submit_report(
            self.session, _draft(rng), ticket, self.submission_keys, self.unit_key, received_on
        ).receipt
        case = self.session.scalars(select(Case).where(
            Case.receipt_hmac == receipt.lookup_hmac(self.settings.receipt_pepper))).one()
        self.result.reports += 1
        events: list[tuple[datetime, str, str]] = []
        moment = _at(received_on, rng)
        for status in _path_to(rng, age):
            moment = self._later(moment, rng.randint(1, 6 if status == "acknowledged" else 40))
            events.append((moment, "status", status))
        if events and rng.random() < DIALOGUE_SHARE:
            moment = events[0][0]
            for number in range(rng.randint(1, 4)):
                moment = self._later(moment, rng.randint(0, 10))
                events.append((moment, "officer" if number % 2 == 0 else "reporter", ""))
        events.sort()
        for when, kind, status in events:
            officer = rng.choice(self.officers)
            if kind == "status":
                reason = _text(rng, 5, 40) if status == "closed" or rng.random() < 0.4 else ""
                triage.change_status(self.session, self.keyring, case.id, status, reason,
                                     officer, when)
                self.result.status_changes += 1
            elif kind == "officer":
                if case.unread_by_unit:  # the officer reads the reply first (marks it read)
                    triage.open_case(self.session, case.id, self.keyring, officer, when)
                triage.write_to_reporter(self.session, self.keyring, case.id,
                                         _text(rng, 15, 120), officer, when)
                self.result.messages += 1
            else:
                self._reporter_replies(receipt.text, when)
        self.result.statuses[case.status] += 1
        if len(events) >= 5:  # a case with a history and a dialogue: keep a sample of 40
            self._busy_seen += 1
            if len(self.result.busy_cases) < 40:
                self.result.busy_cases.append(cases.reference(case.id))
            elif (slot := rng.randrange(self._busy_seen)) < 40:
                self.result.busy_cases[slot] = cases.reference(case.id)


    def _later(self, moment: datetime, days: int) -> datetime:
        """`days` after `moment` at a working hour, but never after the start of the run."""
        candidate = _at(moment.date() + timedelta(days=days), self.rng)
        if candidate <= moment:
            candidate = moment + timedelta(minutes=self.rng.randint(5, 90))
        return min(candidate, max(self.now, moment + timedelta(minutes=1)))

    def _reporter_replies(self, receipt: str, when: datetime) -> None:
        token = follow_up.sign_in(self.session, receipt, when, self.settings)
        reporter = follow_up.resume(self.session, token, when)
        follow_up.reply(self.session, reporter, _text(self.rng, 10, 150), when.date())
        follow_up.end(self.session, token)
        self.result.messages += 1


def seed_instance(folder: Path, credentials: Credentials, count: int, seed: int = 2026
                  ) -> SeedReport:
    """Fill an initialised instance with `count` reports and their histories."""
    settings = instance_settings(folder)
    with instance.database_session(settings) as session:
        seeder = Seeder(session, folder, credentials, seed)
        result = seeder.add_reports(count)
        # Spent form values older than a form's lifetime are gone on a real instance.
        maintenance.purge_spent_forms(session, utcnow(), settings)
        session.commit()
        total = session.scalar(select(func.count()).select_from(Case)) or 0
        if total < count:
            raise RuntimeError(f"only {total} cases in the database after seeding")
    return result
