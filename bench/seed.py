"""A realistic database for the officer-page benchmarks, sealed with the app's own crypto
and written in bulk.

Seeding through the services (`submit_report`, `change_status`, ...) took about
50 minutes for 100,000 reports: every write re-checks the whole case and
appends its audit entry one statement at a time. Here each case's whole life
is built in memory instead, sealed with the same functions the services call
(`cases.seal_report`, `cases.bind_case`, `seal_envelope`,
`case_checks.status_change_mac`, `dialogue.message_mac`,
`triage_record.seal`, `case_record.note_key`, `cases.seal_state`), by two
worker processes, and inserted with executemany in one transaction per chunk.
At the end the audit chain is rebuilt in time order, the queue ledger is set
to the cases that need attention, and the sealed triage index gets every
case's categories and risk flags; on PostgreSQL a `VACUUM (ANALYZE)` does what
autovacuum would have done over three years. `verify` then opens a sample of cases with
the app's own checks (`triage.intact_keys`, the ledger, the index, the audit
chain): rows that drifted from what the services write fail there, loudly.

Each case lives a plausible life for its age (three years of reports, most
closed, a few thousand open): status changes with sealed reasons; a triage
record (national categories, risk flags, subjects, 3x5x2 grading, decision)
and a priority once it is assessed; an owner among five officers, most with a
declaration of no conflict; an outcome version when closed; notes, some
corrected; messages both ways, some feedback, and unread replies on some;
a small flood group.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from hashlib import sha256
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.orm import Session

from bench.common import VOCABULARY
from bench.instance import Credentials, instance_settings
from reportline import utcnow
from reportline.crypto import aead
from reportline.crypto.envelope import Recipient, seal_envelope
from reportline.crypto.keys import PublicKey
from reportline.crypto.password import derive_password_key, read_params, unwrap_private_key
from reportline.crypto.receipt import generate_receipt
from reportline.db import make_engine
from reportline.models import (
    AuditEntry,
    Case,
    CaseSeal,
    Message,
    Note,
    Officer,
    RecoveryKey,
    StatusChange,
    TriageIndex,
    TriageRecord,
)
from reportline.models.case import PRIORITIES, PRIORITY_NOT_SET
from reportline.services import (
    audit,
    case_checks,
    case_record,
    cases,
    dialogue,
    instance,
    keyring,
    ledger,
    officers,
    submissions,
    triage,
    triage_index,
    triage_record,
)
from reportline.services.keyring import UnitKeyring

SPAN_DAYS = 3 * 365
OFFICER_EMAILS = [f"officer{n}@bench.reportline.invalid" for n in range(1, 5)]
OFFICER_PASSWORD = "granite meadow lantern quiet harbour"
OFFICERS_FILE = "bench-officers.json"
CHUNK = 500
# Share of cases whose reporter and unit exchange messages (open cases: most of them).
DIALOGUE_SHARE = 0.2
RESTRICTED_SHARE = 0.01  # cases restricted to named officers
TEAMS = ("B shift", "Custody", "Response", "CID", "Roads policing", "Control room")
ROLES = ("PC", "Sergeant", "Inspector", "Detention officer", "Call handler")
NAMES = ("Alex Morgan", "Sam Patel", "Chris Evans", "Jo Williams", "Lee Davies", "Kim Hughes")


@dataclass
class SeedReport:
    """What was made, for the record and to pick pages to measure."""

    reports: int = 0
    status_changes: int = 0
    messages: int = 0
    triage_records: int = 0
    notes: int = 0
    audit_entries: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    facts: Counter[str] = field(default_factory=Counter)
    busy_cases: list[str] = field(default_factory=list)
    closed_cases: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class Team:
    """What a worker needs to seal cases: no secret beyond the unit's public key."""

    unit_key_id: int
    unit_public: bytes
    pepper: bytes
    officer_ids: tuple[int, ...]
    officer_emails: tuple[str, ...]
    categories: tuple[str, ...]
    now: datetime
    # The officers' public keys (in `officer_ids` order) and the recovery key (id, public
    # key): about 1% of cases are restricted to the supervisor and their owner.
    officer_keys: tuple[bytes, ...] = ()
    recovery: tuple[int, bytes] | None = None


# Made-up text is a run of words from a long shuffled list: cheap, and never the same twice.
_WORDS = list(VOCABULARY) * 40
random.Random(1).shuffle(_WORDS)


def _text(rng: random.Random, low: int, high: int) -> str:
    start = rng.randrange(len(_WORDS) - high)
    words = " ".join(_WORDS[start : start + rng.randint(low, high)])
    return words[:1].upper() + words[1:] + "."


def _row(model: Any, **values: Any) -> SimpleNamespace:
    """A row to be, as a plain object: the app's MAC and context functions read only its
    attributes, and a mapped instance costs a tracked event per attribute set."""
    return SimpleNamespace(**{**{column.key: None for column in model.__table__.columns}, **values})


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
        target = rng.choices(["received", "acknowledged", "assessing"], weights=[20, 40, 40])[0]
    elif age_days < 90:
        target = rng.choices(
            ["received", "acknowledged", "assessing", "investigating", "referred", "closed"],
            weights=[1, 4, 20, 22, 8, 45],
        )[0]
    elif age_days < 365:
        target = rng.choices(
            ["assessing", "investigating", "referred", "closed"], weights=[2, 5, 1, 92]
        )[0]
    else:
        target = rng.choices(["investigating", "closed"], weights=[1, 99])[0]
    paths = {
        "received": [[]],
        "acknowledged": [["acknowledged"]],
        "assessing": [["acknowledged", "assessing"]],
        "investigating": [
            ["acknowledged", "assessing", "investigating"],
            ["acknowledged", "investigating"],
        ],
        "referred": [["acknowledged", "assessing", "referred"]],
        "closed": [
            ["acknowledged", "closed"],
            ["acknowledged", "assessing", "closed"],
            ["acknowledged", "assessing", "investigating", "closed"],
            ["acknowledged", "assessing", "referred", "closed"],
        ],
    }
    return rng.choice(paths[target])


def _at(day: date, rng: random.Random) -> datetime:
    return datetime.combine(day, clock_time(rng.randint(8, 18), rng.randint(0, 59)))


def _record_data(rng: random.Random, categories: tuple[str, ...]) -> triage_record.TriageRecordData:
    subjects = tuple(
        triage_record.Subject(
            rng.choice(NAMES), f"{rng.randint(1000, 9999)}", rng.choice(ROLES), rng.choice(TEAMS)
        )
        for _ in range(rng.choices([1, 2, 3], weights=[70, 25, 5])[0])
    )
    handling = rng.choice(list(triage_record.HANDLING_CODES))
    return triage_record.TriageRecordData(
        categories=tuple(rng.sample(categories, rng.choices([1, 2], weights=[75, 25])[0])),
        subjects=subjects,
        relationship=rng.choice(list(triage_record.RELATIONSHIPS)),
        risk_flags=tuple(
            rng.sample(
                list(triage_record.RISK_FLAGS), rng.choices([0, 1, 2], weights=[55, 35, 10])[0]
            )
        ),
        source_evaluation=rng.choice(list(triage_record.SOURCE_EVALUATION)),
        intelligence_assessment=rng.choice(list(triage_record.INTELLIGENCE_ASSESSMENT)),
        handling_code=handling,
        handling_conditions=_text(rng, 5, 15) if handling == "C" else "",
        decision=rng.choice(list(triage_record.DECISIONS)),
        rationale=_text(rng, 10, 60),
        intelligence_ref=f"INT/{rng.randint(10000, 99999)}" if rng.random() < 0.5 else "",
        investigation_ref=f"PSD/{rng.randint(1000, 9999)}" if rng.random() < 0.3 else "",
    )


class CaseLife:
    """One case built in memory, as the services would have left it after its life."""

    def __init__(self, team: Team, rng: random.Random, age: int):
        self.team, self.rng = team, rng
        self.today = team.now.date()
        received_on = self.today - timedelta(days=age)
        self.secret = cases.CaseSecret(aead.new_key())
        self.case_public = self.secret.private_key().public_key()
        self.mac_key = self.secret.mac_key()
        receipt = generate_receipt()
        reporter_key = receipt.reporter_private_key()
        self.reporter_public = reporter_key.public_key()
        case_id = rng.randrange(1, 2**40)
        fields = {
            **asdict(_draft(rng)),
            "reporter_key_sha256": sha256(self.reporter_public.raw).hexdigest(),
            "case_key_sha256": sha256(self.case_public.raw).hexdigest(),
        }
        self.case = _row(
            Case,
            id=case_id,
            received_on=received_on,
            unit_key_id=team.unit_key_id,
            status="received",
            status_changed_on=received_on,
            case_public_key=self.case_public.raw,
            report=cases.seal_report(self.secret, case_id, fields),
            receipt_hmac=receipt.lookup_hmac(team.pepper),
            reporter_public_key=self.reporter_public.raw,
            key_binding=cases.bind_case(case_id, self.secret, self.case_public, reporter_key),
            message_count=0,
            status_change_count=0,
            unread_by_unit=0,
            possible_flood=age < 14 and rng.random() < 0.01,
            priority=PRIORITY_NOT_SET,
            triage_version=0,
            note_count=0,
            access=cases.UNIT_ACCESS,
            reporter_excluded=False,
        )
        restricted = team.recovery is not None and rng.random() < RESTRICTED_SHARE
        if restricted:
            self.case.access = cases.RESTRICTED  # before the state MAC is made
        self.seals = [
            cases.seal_row(case_id, team.unit_key_id, self.secret, PublicKey(team.unit_public))
        ]
        self.changes: list[dict[str, Any]] = []
        self.messages: list[SimpleNamespace] = []
        self.records: list[dict[str, Any]] = []
        self.notes: list[dict[str, Any]] = []
        self.audit: list[tuple[datetime, str, str, int, dict[str, Any]]] = []
        self.record = triage_record.TriageRecordData()
        self.live(age)
        if restricted:
            self._restrict()

    def _restrict(self) -> None:
        """Seal the case to the supervisor, its owner (or another officer) and the recovery
        key instead of the unit key, as restriction.set_access leaves it."""
        team, case = self.team, self.case
        assert team.recovery is not None
        readers = {0, team.officer_ids.index(case.assignee_id) if case.assignee_id else 1}
        self.seals = [
            _columns(
                cases.seal_to(
                    case.id,
                    cases.OFFICER,
                    team.officer_ids[n],
                    self.secret,
                    PublicKey(team.officer_keys[n]),
                ),
                CaseSeal,
            )
            for n in sorted(readers)
        ]
        recovery_id, recovery_public = team.recovery
        sealed = cases.seal_to(
            case.id, cases.RECOVERY, recovery_id, self.secret, PublicKey(recovery_public)
        )
        self.seals.append(_columns(sealed, CaseSeal))

    # ------------------------------------------------------------ the life

    def live(self, age: int) -> None:
        rng, case = self.rng, self.case
        moment = _at(case.received_on, rng)
        owner = rng.randrange(len(self.team.officer_ids))
        path = _path_to(rng, age)
        for status in path:
            moment = self._later(moment, rng.randint(1, 6 if status == "acknowledged" else 40))
            if status in ("assessing", "investigating", "referred") and not case.triage_version:
                self._assign(owner, moment)
                self._save_record(owner, _record_data(rng, self.team.categories), moment)
            if status == "closed":
                closer = owner if case.assignee_id else rng.randrange(len(self.team.officer_ids))
                self._close(closer, moment)
            else:
                self._change_status(
                    owner, status, _text(rng, 5, 40) if rng.random() < 0.4 else "", moment
                )
            if status == "acknowledged" and rng.random() < 0.3:
                self._assign(owner, moment)
        is_open = case.status != "closed"
        if is_open and case.triage_version and rng.random() < 0.25:  # a second thought
            moment = self._later(moment, rng.randint(1, 20))
            changed = _record_data(rng, self.team.categories)
            self._save_record(
                owner,
                replace(
                    self.record,
                    decision=changed.decision,
                    rationale=changed.rationale,
                    risk_flags=changed.risk_flags,
                ),
                moment,
            )
        if case.triage_version:
            for _ in range(
                rng.choices([0, 1, 2, 3], weights=[10, 40, 35, 15] if is_open else [50, 35, 10, 5])[
                    0
                ]
            ):
                moment = self._later(moment, rng.randint(0, 15))
                self._note(owner, moment)
        if path and rng.random() < (0.8 if is_open else DIALOGUE_SHARE):
            self._dialogue(owner, moment, is_open)
        cases.seal_state(case, self.mac_key)

    def _later(self, moment: datetime, days: int) -> datetime:
        """`days` after `moment` at a working hour, but never after the start of the run."""
        candidate = _at(moment.date() + timedelta(days=days), self.rng)
        if candidate <= moment:
            candidate = moment + timedelta(minutes=self.rng.randint(5, 90))
        return min(candidate, max(self.team.now, moment + timedelta(minutes=1)))

    def _audit(self, by: int, action: str, when: datetime, **detail: Any) -> None:
        self.audit.append((when, self.team.officer_emails[by], action, self.case.id, detail))

    def _change_status(self, officer: int, to_status: str, reason: str, when: datetime) -> None:
        """As triage.change_status."""
        case = self.case
        case.status_change_count += 1
        change = _row(
            StatusChange,
            id=self.rng.randrange(1, 2**40),
            case_id=case.id,
            seq=case.status_change_count,
            from_status=case.status,
            to_status=to_status,
            officer_id=self.team.officer_ids[officer],
            changed_at=when.replace(microsecond=0),
        )
        if reason:
            change.reason = seal_envelope(
                reason.encode("utf-8"),
                {Recipient.CASE: self.case_public},
                triage._reason_context(case.id, change.id),
            )
        change.mac = case_checks.status_change_mac(self.mac_key, change)
        self.changes.append(_columns(change, StatusChange))
        if case.acknowledged_on is None:
            case.acknowledged_on = when.date()
        case.status = to_status
        case.status_changed_on = when.date()
        self._audit(
            officer,
            "case.status_changed",
            when,
            from_status=change.from_status,
            to_status=to_status,
        )

    def _assign(self, officer: int, when: datetime) -> None:
        """As casework.assign (an officer takes the case, most declare no conflict)."""
        if self.case.assignee_id is not None:
            return
        self.case.assignee_id = self.team.officer_ids[officer]
        self._audit(officer, "case.assigned", when, officer=self.case.assignee_id)
        if self.rng.random() < 0.9:
            self.case.assignee_declared_on = when.date()
            self._audit(officer, "case.no_conflict_declared", when)

    def _write_version(
        self, officer: int, data: triage_record.TriageRecordData, when: datetime
    ) -> None:
        """As case_record.write_version."""
        at = when.replace(microsecond=0)
        version = self.case.triage_version + 1
        officer_id = self.team.officer_ids[officer]
        self.records.append(
            {
                "case_id": self.case.id,
                "version": version,
                "officer_id": officer_id,
                "recorded_at": at,
                "sealed": triage_record.seal(
                    self.secret.raw,
                    data,
                    triage_record.record_context(self.case.id, version, officer_id, at),
                ),
            }
        )
        self.case.triage_version = version
        self.record = data

    def _save_record(
        self, officer: int, data: triage_record.TriageRecordData, when: datetime
    ) -> None:
        """As casework.save_record (no links), with a priority on the first save."""
        changed = data.changed_fields(self.record)
        if not self.case.triage_version:
            self.case.priority = self.rng.choices(list(PRIORITIES.values()), weights=[8, 42, 50])[0]
            changed.append("priority")
        self._write_version(officer, data, when)
        self._audit(officer, "case.triage_recorded", when, fields=changed)

    def _close(self, officer: int, when: datetime) -> None:
        """As casework.close_with_outcome."""
        referred = any(change["to_status"] == "referred" for change in self.changes)
        outcome = self.rng.choices(
            list(triage_record.OUTCOMES), weights=[15, 20, 25, 20, 8, 5, 2, 5]
        )[0]
        rationale = _text(self.rng, 8, 40)
        self._change_status(officer, "closed", rationale, when)
        self._write_version(
            officer,
            self.record.with_outcome(
                outcome,
                rationale,
                self.rng.choice(list(triage_record.REFERRAL_BODIES)) if referred else "",
                f"REF-{self.rng.randint(100, 999)}" if referred else "",
            ),
            when,
        )
        self._audit(officer, "case.outcome_recorded", when)

    def _note(self, officer: int, when: datetime) -> None:
        """As casework.add_note; a few are corrections of the officer's own last note."""
        case = self.case
        corrects = None
        if self.notes and self.rng.random() < 0.1:
            last = self.notes[-1]
            if last["officer_id"] == self.team.officer_ids[officer] and last["corrects"] is None:
                corrects = last["seq"]
        case.note_count += 1
        note = _row(
            Note,
            id=self.rng.randrange(1, 2**40),
            case_id=case.id,
            seq=case.note_count,
            officer_id=self.team.officer_ids[officer],
            written_at=when.replace(microsecond=0),
            corrects=corrects,
            body=b"",
        )
        note.body = aead.encrypt(
            case_record.note_key(self.secret),
            _text(self.rng, 10, 120).encode("utf-8"),
            case_record.note_context(note),
        )
        self.notes.append(_columns(note, Note))
        self._audit(
            officer, "case.note_corrected" if corrects else "case.note_added", when, note=note.seq
        )

    def _dialogue(self, officer: int, moment: datetime, is_open: bool) -> None:
        """Messages both ways (dialogue.add_message), starting with the unit; the reporter's
        last reply is left unread on some cases, and some officer message is the feedback."""
        rng, case = self.rng, self.case
        count = rng.choices([1, 2, 3, 4], weights=[30, 35, 20, 15])[0]
        feedback_due = (
            case.acknowledged_on is not None and (self.today - case.acknowledged_on).days > 45
        )
        for number in range(count):
            moment = self._later(moment, rng.randint(0, 10))
            last = number == count - 1
            if number % 2 == 0:
                self._mark_read(officer, moment)
                is_feedback = (
                    feedback_due
                    and case.feedback_given_on is None
                    and (last or rng.random() < 0.5)
                    and rng.random() < 0.8
                )
                kind = "outcome" if last and not is_open and rng.random() < 0.5 else "message"
                if is_feedback:
                    case.feedback_given_on = moment.date()
                self._message("officer", moment, officer, kind)
                self._audit(officer, "case.message_sent", moment, kind=kind, feedback=is_feedback)
            else:
                self._message("reporter", moment)
                # The unit reads most replies; open cases keep some unread, closed few.
                if not last or rng.random() > (0.3 if is_open else 0.03):
                    self._mark_read(officer, self._later(moment, rng.randint(0, 3)))

    def _message(
        self, author: str, when: datetime, officer: int | None = None, kind: str = "message"
    ) -> None:
        case = self.case
        case.message_count += 1
        seq = case.message_count
        message = _row(
            Message,
            id=self.rng.randrange(1, 2**40),
            case_id=case.id,
            seq=seq,
            author=author,
            officer_id=self.team.officer_ids[officer] if officer is not None else None,
            kind=kind,
            sent_on=when.date(),
            unread=True,
            body=seal_envelope(
                _text(self.rng, 10, 150).encode("utf-8"),
                {Recipient.CASE: self.case_public, Recipient.REPORTER: self.reporter_public},
                dialogue.message_context(case.id, seq, author, kind),
            ),
        )
        message.mac = dialogue.message_mac(self.mac_key, message)
        self.messages.append(message)
        if author == "reporter":
            case.unread_by_unit += 1

    def _mark_read(self, officer: int, when: datetime) -> None:
        """As triage.open_case on a case with unread replies (viewed, replies marked read)."""
        if not self.case.unread_by_unit:
            return
        for message in self.messages:
            if message.author == "reporter":
                message.unread = False
        self.case.unread_by_unit = 0
        self._audit(officer, "case.viewed", when)

    def rows(self) -> dict[str, Any]:
        """Everything to insert, as column dicts."""
        return {
            "case": _columns(self.case, Case),
            "seals": self.seals,
            "changes": self.changes,
            "messages": [_columns(m, Message) for m in self.messages],
            "records": self.records,
            "notes": self.notes,
            "audit": self.audit,
            "index": (self.record.categories, self.record.risk_flags)
            if self.case.access == cases.UNIT_ACCESS
            else ((), ()),
        }


def _columns(row: Any, model: Any = None) -> dict[str, Any]:
    table = (model or type(row)).__table__
    return {column.key: getattr(row, column.key) for column in table.columns}


_TEAM: Team | None = None


def _start_worker(team: Team) -> None:
    global _TEAM
    _TEAM = team


def _build_chunk(task: tuple[int, list[int]]) -> list[dict[str, Any]]:
    seed, ages = task
    if _TEAM is None:
        raise RuntimeError("worker not started")
    rng = random.Random(seed)
    return [CaseLife(_TEAM, rng, age).rows() for age in ages]


class BulkSeeder:
    """Adds reports with their whole histories to an initialised instance, in bulk."""

    def __init__(self, session: Session, folder: Path, credentials: Credentials, seed: int):
        self.session = session
        self.folder = folder
        self.settings = instance_settings(folder)
        self.seed = seed
        self.rng = random.Random(seed)
        self.now = utcnow().replace(microsecond=0) - timedelta(hours=1)
        self.officers, self.keyring = self._team(credentials)
        unit_key_id, unit_public = keyring.PinnedUnitKey(self.settings.unit_key_fingerprint).get(
            session
        )
        self.unit_key_id = unit_key_id
        self.team = Team(
            unit_key_id,
            unit_public.raw,
            self.settings.receipt_pepper,
            tuple(o.id for o in self.officers),
            tuple(o.email for o in self.officers),
            triage_record.national_categories(self.settings.national_categories),
            self.now,
            tuple(o.public_key or b"" for o in self.officers),
            self._recovery(),
        )
        self.result = SeedReport()
        self.index = triage_index.Index()
        self.audit: list[tuple[datetime, str, str, int, dict[str, Any]]] = []
        self.ids: dict[str, set[int]] = {
            "case": set(),
            "changes": set(),
            "messages": set(),
            "notes": set(),
        }
        self._busy_seen = 0

    def _recovery(self) -> tuple[int, bytes] | None:
        found = self.session.scalars(
            select(RecoveryKey).where(RecoveryKey.retired_at.is_(None)).order_by(RecoveryKey.id)
        ).first()
        return (found.id, found.public_key) if found is not None else None

    def _team(self, credentials: Credentials) -> tuple[list[Officer], UnitKeyring]:
        """The supervisor and four officers who hold the unit key (their TOTP seeds kept in
        bench-officers.json, to sign in as them); the unit keyring."""
        now = utcnow()
        existing = {o.email: o for o in self.session.scalars(select(Officer))}
        supervisor = existing[credentials.email]
        wrapped = supervisor.wrapped_private_key
        if wrapped is None:
            raise RuntimeError("the supervisor has no key")
        supervisor_key = unwrap_private_key(
            wrapped,
            derive_password_key(credentials.password, read_params(wrapped)),
            officers.officer_key_context(supervisor.id),
        )
        unit_keys = keyring.unlock_unit_keys(self.session, supervisor.id, supervisor_key)
        team = [supervisor]
        seeds: dict[str, str] = {}
        for email in OFFICER_EMAILS:
            officer = existing.get(email)
            if officer is None:
                made = officers.create_officer(
                    self.session,
                    email,
                    "officer",
                    OFFICER_PASSWORD,
                    instance.argon2_cost(self.settings),
                    now,
                    instance.integrity_key(self.settings),
                )
                officer = made.officer
                seeds[email] = made.totp_seed
                keyring.grant_unit_key(
                    self.session,
                    unit_keys,
                    officer,
                    supervisor,
                    now,
                    instance.integrity_key(self.settings),
                )
            team.append(officer)
        self.session.commit()
        if seeds:
            (self.folder / OFFICERS_FILE).write_text(
                json.dumps({"password": OFFICER_PASSWORD, "totp_seeds": seeds}), encoding="utf-8"
            )
        return team, unit_keys

    def add_reports(self, count: int, workers: int = 2, progress: bool = True) -> SeedReport:
        """Build `count` cases in worker processes; insert each chunk as it arrives."""
        started = time.perf_counter()
        ages = [self.rng.randrange(SPAN_DAYS) for _ in range(count)]
        tasks = [
            (self.seed * 1_000_003 + n, ages[i : i + CHUNK])
            for n, i in enumerate(range(0, count, CHUNK))
        ]
        context = multiprocessing.get_context("fork")
        with context.Pool(workers, initializer=_start_worker, initargs=(self.team,)) as pool:
            done = 0
            for chunk in pool.imap(_build_chunk, tasks):
                self._insert(chunk)
                done += len(chunk)
                if progress and (done % 10_000 < CHUNK or done == count):
                    elapsed = time.perf_counter() - started
                    print(
                        f"  seeded {done:,}/{count:,} reports in {elapsed:.0f} s "
                        f"(~{elapsed / done * (count - done):.0f} s to go)",
                        flush=True,
                    )
        self._finish()
        self.result.seconds = time.perf_counter() - started
        return self.result

    def _fresh(self, kind: str, rows: list[dict[str, Any]]) -> bool:
        return not any(row["id"] in self.ids[kind] for row in rows)

    def _insert(self, chunk: list[dict[str, Any]]) -> None:
        tables: dict[Any, list[dict[str, Any]]] = {
            Case: [],
            CaseSeal: [],
            StatusChange: [],
            Message: [],
            TriageRecord: [],
            Note: [],
        }
        for life in chunk:
            # A random 40-bit id taken twice (about once in 100,000 reports): drop the case.
            if not (
                self._fresh("case", [life["case"]])
                and self._fresh("changes", life["changes"])
                and self._fresh("messages", life["messages"])
                and self._fresh("notes", life["notes"])
            ):
                continue
            case = life["case"]
            self.ids["case"].add(case["id"])
            for kind in ("changes", "messages", "notes"):
                self.ids[kind].update(row["id"] for row in life[kind])
            tables[Case].append(case)
            tables[CaseSeal] += life["seals"]
            tables[StatusChange] += life["changes"]
            tables[Message] += life["messages"]
            tables[TriageRecord] += life["records"]
            tables[Note] += life["notes"]
            self.audit += life["audit"]
            categories, flags = life["index"]
            if categories or flags:
                self.index.put(case["id"], categories, flags)
            self._count(life)
        connection = self.session.connection()  # Core executemany: no unit of work
        for model, rows in tables.items():
            if rows:
                connection.execute(insert(model.__table__), rows)
        self.session.commit()

    def _count(self, life: dict[str, Any]) -> None:
        case, result = life["case"], self.result
        result.reports += 1
        result.status_changes += len(life["changes"])
        result.messages += len(life["messages"])
        result.triage_records += len(life["records"])
        result.notes += len(life["notes"])
        result.statuses[case["status"]] += 1
        is_open = case["status"] != "closed"
        facts = {
            "open": is_open,
            "needs_attention": is_open or case["unread_by_unit"] > 0,
            "unread_replies": case["unread_by_unit"] > 0,
            "closed_with_unread_replies": not is_open and case["unread_by_unit"] > 0,
            "assigned": case["assignee_id"] is not None,
            "open_unassigned": is_open and case["assignee_id"] is None,
            "priority_set": case["priority"] != PRIORITY_NOT_SET,
            "open_high_priority": is_open and case["priority"] == PRIORITIES["high"],
            "overdue": case["due_on"] is not None and case["due_on"] < self.now.date(),
            "feedback_given": case["feedback_given_on"] is not None,
            "triage_record": case["triage_version"] > 0,
            "possible_flood": case["possible_flood"],
        }
        result.facts.update(name for name, yes in facts.items() if yes)
        reference = cases.reference(case["id"])
        if is_open and life["notes"] and life["messages"] and case["triage_version"]:
            self._busy_seen += 1  # an open case with a record, notes and a dialogue
            if len(result.busy_cases) < 40:
                result.busy_cases.append(reference)
            elif (slot := self.rng.randrange(self._busy_seen)) < 40:
                result.busy_cases[slot] = reference
        elif not is_open and case["triage_version"] > 1 and len(result.closed_cases) < 40:
            result.closed_cases.append(reference)

    def _finish(self) -> None:
        """The audit chain in time order, the queue ledger and the sealed triage index."""
        session = self.session
        existing = [
            (entry.at, entry.actor, entry.action, entry.case_id, json.loads(entry.detail))
            for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        ]
        entries = sorted(self.audit, key=lambda entry: entry[0]) + existing
        self.audit = []
        session.execute(delete(AuditEntry))
        key = bytes(session.info["audit_key"])
        prev_hash = audit.GENESIS
        batch: list[dict[str, Any]] = []
        for number, (at, actor, action, case_id, detail) in enumerate(entries, start=1):
            entry = _row(
                AuditEntry,
                id=number,
                at=at.replace(microsecond=0),
                actor=actor,
                action=action,
                case_id=case_id,
                detail=json.dumps(detail, sort_keys=True, separators=(",", ":")),
                prev_hash=prev_hash,
            )
            entry.entry_hash = audit._entry_hash(key, prev_hash, entry)  # as audit.record
            prev_hash = entry.entry_hash
            batch.append(vars(entry))
            if len(batch) == 20_000:
                session.connection().execute(insert(AuditEntry.__table__), batch)
                batch = []
        if batch:
            session.connection().execute(insert(AuditEntry.__table__), batch)
        self.result.audit_entries = len(entries)
        ledger.start(session, self.result.facts["needs_attention"])
        sealed = aead.encrypt(
            triage_index._key(self.keyring, self.unit_key_id),
            triage_index._pack(self.index),
            triage_index._context(self.unit_key_id),
        )
        row = session.get(TriageIndex, self.unit_key_id)
        if row is None:
            session.add(TriageIndex(unit_key_id=self.unit_key_id, sealed=sealed))
        else:
            row.sealed = sealed
        session.commit()


def verify(session: Session, keys: UnitKeyring, sample: int = 300, seed: int = 7) -> dict[str, Any]:
    """Open a sample of the seeded cases with the app's own checks; raise if any fails."""
    rng = random.Random(seed)
    ids = session.scalars(select(Case.id)).all()
    problems = []
    for case_id in rng.sample(list(ids), min(sample, len(ids))):
        case = cases.get_case(session, case_id)
        try:
            triage.intact_keys(session, case, keys)
        except case_checks.CaseTampered as exc:
            problems.append(f"{cases.reference(case_id)}: {exc}")
    attention = (
        session.scalar(
            select(func.count())
            .select_from(Case)
            .where((Case.status != "closed") | (Case.unread_by_unit > 0))
        )
        or 0
    )
    counted, mac = ledger.ledger_columns()
    row = session.execute(select(counted, mac)).one()
    check = ledger.compare(session, row[0], row[1], attention)
    if check.state is not ledger.LedgerState.AGREES:
        problems.append(f"queue ledger: {check.state.value}")
    index = triage_index.load(session, keys)
    broken = audit.verify_chain(session)
    if broken:
        problems.append(f"audit chain broken at {len(broken)} entries, first {broken[0]}")
    session.rollback()
    if problems:
        raise RuntimeError("seeded rows fail the app's checks:\n  " + "\n  ".join(problems[:20]))
    return {
        "cases_checked": min(sample, len(ids)),
        "index_entries": len(index.entries),
        "ledger": check.state.value,
        "audit_chain": "intact",
    }


def seed_instance(
    folder: Path, credentials: Credentials, count: int, seed: int = 2026, workers: int = 2
) -> SeedReport:
    """Fill an initialised instance with `count` reports and their histories, then check a
    sample with the app's own checks."""
    settings = instance_settings(folder)
    with instance.database_session(settings) as session:
        seeder = BulkSeeder(session, folder, credentials, seed)
        result = seeder.add_reports(count, workers)
        started = time.perf_counter()
        checked = verify(session, seeder.keyring)
        print(
            f"  checked with the app's own checks in {time.perf_counter() - started:.0f} s: "
            f"{checked}",
            flush=True,
        )
    if settings.database_url.startswith("postgresql"):
        # As autovacuum would have, over three years: statistics for the planner and the
        # visibility map that index-only scans rely on (the test server runs without it).
        engine = make_engine(settings.database_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text("VACUUM (ANALYZE)"))
        engine.dispose()
    return result


def officer_logins(folder: Path) -> Iterator[tuple[str, str, str]]:
    """(e-mail, password, TOTP seed) of each seeded officer other than the supervisor."""
    saved = json.loads((folder / OFFICERS_FILE).read_text(encoding="utf-8"))
    for email, seed in saved["totp_seeds"].items():
        yield email, saved["password"], seed
