"""Accepting a report: seal it to the unit key and hand back a receipt.

The server needs no secret to accept a report: it generates a case secret,
seals the report under it, seals the secret to the unit public key and forgets
it. Nothing is timestamped beyond the day.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import date
from hashlib import sha256

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from reportline.crypto.aead import new_key
from reportline.crypto.keys import PublicKey, seal
from reportline.crypto.receipt import Receipt, generate_receipt
from reportline.db import random_id
from reportline.models import Case
from reportline.services import cases, keyring

CATEGORIES = (
    "discrimination",
    "sexual_misconduct",
    "bullying",
    "corruption",
    "dishonesty",
    "drugs_criminal_associations",
    "other",
)
HOW_KNOWN = ("saw_or_heard", "told", "documents", "other")
AT_RISK = ("yes", "no", "not_sure")

# The report's questions with fixed answers, and the answers each allows.
CHOICES = {"category": CATEGORIES, "how_known": HOW_KNOWN, "at_risk": AT_RISK}
# The questions answered in free text: the longest accepted answer, in characters.
FIELD_LIMITS = {
    "what_happened": 10000,
    "when": 200,
    "where": 200,
    "who_involved": 2000,
    "how_known_detail": 1000,
    "at_risk_detail": 1000,
}


@dataclass(frozen=True)
class ReportDraft:
    """A validated report as the reporter wrote it."""

    category: str
    what_happened: str
    when: str
    where: str
    who_involved: str
    how_known: str
    how_known_detail: str
    at_risk: str
    at_risk_detail: str

    def __repr__(self) -> str:
        return f"ReportDraft(category={self.category!r}, <report text hidden>)"

    def __post_init__(self) -> None:
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"unknown answer to {name}")
        if not self.what_happened.strip():
            raise ValueError("what happened is required")
        for name, limit in FIELD_LIMITS.items():
            if len(getattr(self, name)) > limit:
                raise ValueError(f"{name} is too long")


# Every question of the report, in the order the form asks them.
REPORT_FIELDS = tuple(f.name for f in fields(ReportDraft))
# A random 40-bit case id is taken about once in ten million reports (with 100,000
# stored); three tries make a failure vanishingly rare.
ID_ATTEMPTS = 3


def submit_report(
    session: Session,
    draft: ReportDraft,
    pepper: bytes,
    unit_key: keyring.PinnedUnitKey,
    today: date,
) -> tuple[Case, Receipt]:
    """Seal and add a new case; return it with the reporter's receipt (shown once).

    Raises SetupError if the instance has no unit key, DecryptionError if the
    unit key is not the one pinned in the instance config. The case is written
    (flushed) here, so a taken random id is found and replaced before the
    caller's commit; the caller commits and only then shows the receipt.
    """
    unit_key_id, unit_public = unit_key.get(session)
    receipt = generate_receipt()
    for attempt in range(ID_ATTEMPTS):
        case = _sealed_case(draft, receipt, pepper, unit_key_id, unit_public, today)
        try:
            with session.begin_nested():  # a taken id undoes only this insert
                session.add(case)
        except IntegrityError:
            if attempt == ID_ATTEMPTS - 1:
                raise
            continue
        break
    return case, receipt


def _sealed_case(
    draft: ReportDraft,
    receipt: Receipt,
    pepper: bytes,
    unit_key_id: int,
    unit_public: PublicKey,
    today: date,
) -> Case:
    """A new case with a random id: the report sealed under a fresh case secret."""
    secret = cases.CaseSecret(new_key())
    case_id = random_id()
    case_public = secret.private_key().public_key()
    reporter_key = receipt.reporter_private_key()
    reporter_public = reporter_key.public_key()
    fields = {**asdict(draft), "reporter_key_sha256": sha256(reporter_public.raw).hexdigest()}
    case = Case(
        id=case_id,
        received_on=today,
        unit_key_id=unit_key_id,
        sealed_case_secret=seal(secret.raw, unit_public, cases.grant_context(case_id, unit_key_id)),
        status="received",
        status_changed_on=today,
        case_public_key=case_public.raw,
        report=cases.seal_report(secret, case_id, fields),
        receipt_hmac=receipt.lookup_hmac(pepper),
        reporter_public_key=reporter_public.raw,
        key_binding=cases.bind_case(case_id, secret, case_public, reporter_key),
        message_count=0,
        status_change_count=0,
        unread_by_unit=0,
    )
    cases.seal_state(case, secret.mac_key())
    return case
