"""What of a case passed its checks: a tamper is shown precisely, never as an outage.

Every stored value of a case is checked on its own (the sealed case secret,
the report, the public keys, the state MAC, each message, each status change),
so one altered byte marks that value, and everything intact stays readable.
A case with any failed check takes no new writes from either side until the
unit has looked into it: a new message or status would be sealed under keys,
or chained to a history, that can no longer be trusted.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from reportline.crypto.context import context
from reportline.crypto.errors import DecryptionError
from reportline.crypto.keys import PrivateKey, PublicKey
from reportline.models import Case, StatusChange
from reportline.services import cases
from reportline.services.errors import NoKeyAccess, ServiceError
from reportline.services.keyring import UnitKeyring


class Fault(Enum):
    """A part of a case that failed its check."""

    CASE_KEY = "the case's sealed key does not open: nothing of the case can be read"
    REPORT = "the report itself failed its check"
    PUBLIC_KEYS = "a public key of the case was replaced"
    STATE = "its status, dates or counts were changed outside ReportLine"
    MESSAGES = "a message was altered, removed or added"
    HISTORY = "its status history was altered"
    RECORD = "its triage record was altered, removed or added to"
    NOTES = "a note was altered, removed or added"
    EVIDENCE = "an evidence file was altered, removed or added, or its chunks are missing"


class ItemProblem(Enum):
    """Why one message or status change cannot be shown."""

    ALTERED = "altered"
    MISSING = "missing"
    UNEXPECTED = "unexpected"


# Gaps shown one by one in a conversation or history; a count altered to millions is
# the case's STATE fault, not millions of markers.
MAX_GAPS_SHOWN = 50


def positions_to_show(stored: set[int], count: int) -> list[int]:
    """The positions a reader lists: every stored row's (whatever its position), and the
    gaps in 1..count, at most MAX_GAPS_SHOWN of them."""
    limit = min(count, len(stored) + MAX_GAPS_SHOWN)
    return sorted(stored | set(range(1, limit + 1)))


def out_of_place(position: int, count: int) -> bool:
    """Whether a stored row sits outside positions 1..count (added, or moved)."""
    return not 1 <= position <= count


class CaseTampered(ServiceError):
    """A case failed a check, so nothing new may be added to it; `.faults` says which."""

    def __init__(self, faults: frozenset[Fault]) -> None:
        super().__init__(", ".join(sorted(f.name for f in faults)))
        self.faults = faults


@dataclass(frozen=True)
class CheckedCase:
    """A case opened with the unit's key, as far as its checks allow.

    `secret` is None when the sealed secret does not open; `report` when the
    report fails its check. `mac_key` (from the secret) checks messages and
    history even when the case row itself was altered.
    """

    case: Case
    secret: cases.CaseSecret | None
    report: dict[str, Any] | None = field(repr=False)
    faults: frozenset[Fault]

    @property
    def keys(self) -> cases.CaseKeys:
        """The keys to add to the case; raise CaseTampered unless every check passed."""
        if self.faults or self.secret is None:
            raise CaseTampered(self.faults)
        return cases.CaseKeys(
            self.secret.private_key().public_key(),
            PublicKey(self.case.reporter_public_key),
            self.secret.mac_key(),
        )


def status_change_mac(mac_key: bytes, change: StatusChange) -> bytes:
    """The MAC over who moved the case, from what to what, when, and the sealed reason."""
    header = context(
        "status-mac",
        case=change.case_id,
        change=change.id,
        seq=change.seq,
        from_status=change.from_status,
        to_status=change.to_status,
        officer=change.officer_id if change.officer_id is not None else "-",
        at=change.changed_at.isoformat(),
    )
    sealed = hashlib.sha256(change.reason or b"").digest()
    return hmac.new(mac_key, header + sealed, "sha256").digest()


def history_intact(changes: list[StatusChange], case: Case, mac_key: bytes) -> bool:
    """Whether a case's status changes all carry valid MACs at positions 1..n and end at
    its status (nothing opened): the queue's check."""
    ordered = sorted(changes, key=lambda change: change.seq)
    if [c.seq for c in ordered] != list(range(1, case.status_change_count + 1)):
        return False
    if case.status != (ordered[-1].to_status if ordered else "received"):
        return False
    return all(hmac.compare_digest(c.mac, status_change_mac(mac_key, c)) for c in ordered)


def _public_keys_intact(
    secret: cases.CaseSecret, case: Case, report: dict[str, Any] | None
) -> bool:
    """Whether the stored case and reporter public keys are the ones the report was
    sealed with. Reports carry both keys' hashes (older ones only the reporter's,
    so their case key is rebuilt from the secret)."""
    if report is None:
        return secret.private_key().public_key().raw == case.case_public_key
    reporter_hash = hashlib.sha256(case.reporter_public_key).hexdigest()
    if not hmac.compare_digest(str(report.get("reporter_key_sha256", "")), reporter_hash):
        return False
    if "case_key_sha256" in report:
        case_hash = hashlib.sha256(case.case_public_key).hexdigest()
        return hmac.compare_digest(str(report["case_key_sha256"]), case_hash)
    return secret.private_key().public_key().raw == case.case_public_key


def check_as_unit(case: Case, keyring: UnitKeyring) -> CheckedCase:
    """Open what can be opened of a case with the unit key; note what fails.

    Every unit key generation is granted to every officer who reads reports, so a
    case sealed to one this officer does not hold was pointed at it in the database:
    that is the CASE_KEY fault too, never a quiet "no access" that would hide it.
    """
    try:
        secret = cases.open_case_secret(case, keyring)
    except (DecryptionError, NoKeyAccess):
        return CheckedCase(case, None, None, frozenset({Fault.CASE_KEY}))
    faults: set[Fault] = set()
    report: dict[str, Any] | None
    try:
        report = cases.open_report(secret, case)
    except (DecryptionError, ValueError):
        report = None
        faults.add(Fault.REPORT)
    if not _public_keys_intact(secret, case, report):
        faults.add(Fault.PUBLIC_KEYS)
    if not hmac.compare_digest(
        case.state_mac, cases.state_mac(secret.mac_key(), case)
    ) or case.due_on != cases.due_on(case):
        faults.add(Fault.STATE)
    return CheckedCase(case, secret, report, frozenset(faults))


@dataclass(frozen=True)
class ReporterCheck:
    """The case as the receipt holder can check it: the MAC key if the binding opens."""

    mac_key: bytes | None
    faults: frozenset[Fault]


def check_as_reporter(case: Case, reporter_key: PrivateKey) -> ReporterCheck:
    """Check the case's key binding and state with the reporter's key."""
    try:
        keys = cases.bound_keys(case, reporter_key)
    except DecryptionError:
        return ReporterCheck(None, frozenset({Fault.PUBLIC_KEYS}))
    intact = hmac.compare_digest(case.state_mac, cases.state_mac(keys.mac_key, case))
    return ReporterCheck(keys.mac_key, frozenset() if intact else frozenset({Fault.STATE}))


SCAN_BATCH = 1000


@dataclass(frozen=True)
class ClosedCaseScan:
    """One batch of a scan of closed cases: how many were checked, which failed, where
    the next batch starts (None when the scan is done)."""

    checked: int
    failed: list[str]
    next_after: int | None


def scan_closed_cases(session: Session, keyring: UnitKeyring, after: int) -> ClosedCaseScan:
    """Check the state of the next closed cases after id `after`, in id order.

    The default queue checks only what it lists; a case closed by a database edit
    leaves it, and the queue ledger says so. This finds which: every closed case
    whose state MAC fails (or whose key does not open).
    """
    batch = session.scalars(
        select(Case)
        .where(Case.status == "closed", Case.id > after)
        .order_by(Case.id)
        .limit(SCAN_BATCH)
    ).all()
    failed = []
    for case in batch:
        if case.access != cases.UNIT_ACCESS and cases.openable_seal(case.seals, keyring) is None:
            continue  # a restricted case this officer may not read: not theirs to check
        checked = check_as_unit(case, keyring)
        if Fault.CASE_KEY in checked.faults or Fault.STATE in checked.faults:
            failed.append(cases.reference(case.id))
    next_after = batch[-1].id if len(batch) == SCAN_BATCH else None
    return ClosedCaseScan(len(batch), failed, next_after)
