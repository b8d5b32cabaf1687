"""Accepting a report: seal it to the unit key and hand back a receipt.

The server needs no secret to accept a report: it generates a case secret,
seals the report under it, seals the secret to the unit public key and forgets
it. Nothing is timestamped beyond the day. A report whose reporter asked that
someone in the unit not see it is sealed instead to the pinned exclusion key and
the pinned recovery key, never to the unit key, and waits ('pending') for a
supervisor to set who may read it (docs/security.md, "Exclusions").

One form makes one report: the form's one-time value (`form_tickets`) is spent
in the same transaction, under a unique key, so copies of one form sent at
once or later store nothing more; they are answered with the same receipt for
the few minutes it is kept (sealed under a key only the sending browser can
derive), and after that with a page saying the report arrived.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime
from hashlib import sha256
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from reportline.crypto import aead
from reportline.crypto.aead import new_key
from reportline.crypto.context import context
from reportline.crypto.errors import DecryptionError
from reportline.crypto.keys import PublicKey
from reportline.crypto.receipt import Receipt, generate_receipt
from reportline.db import random_id
from reportline.models import Case, CaseSeal, SpentForm, UnitKey
from reportline.models.case import PRIORITY_NOT_SET
from reportline.services import alerts, cases, keyring, ledger
from reportline.services.errors import ServiceError, SetupError
from reportline.services.evidence import PreparedFile
from reportline.services.evidence import insert_rows as insert_evidence_rows
from reportline.services.evidence import new_case_rows as evidence_rows
from reportline.services.form_tickets import FormTicket

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
    "exclude": 1000,
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
    # Who in the unit the reporter asked should not see the report ("" if nobody).
    exclude: str = ""

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


class ExclusionUnavailable(ServiceError):
    """The report asks to keep someone out, but this instance has no exclusion key (or no
    recovery key) pinned to seal it to; nothing was stored."""


@dataclass(frozen=True, repr=False)
class ExclusionSeals:
    """What a report with an exclusion is sealed to instead of the unit key: the pinned
    exclusion key and the pinned recovery key (ids and public keys)."""

    exclusion_key_id: int
    exclusion_public: PublicKey
    recovery_key_id: int
    recovery_public: PublicKey


class FormAlreadySent(ServiceError):
    """No receipt to show for this form: its report was stored earlier and its receipt is
    no longer kept (`spent`), or it was never sent (not `spent`)."""

    def __init__(self, message: str, spent: bool = True) -> None:
        super().__init__(message)
        self.spent = spent


@dataclass(frozen=True, repr=False)
class Submitted:
    """What the reporter is shown: the receipt, and whether they said someone is at risk.

    `repeated` when this was a copy of a form already sent: nothing new was stored.
    """

    receipt: Receipt
    at_risk: bool
    repeated: bool = False
    # The reporter asked that someone not see it: sealed to the exclusion group.
    excluded: bool = False

    def __repr__(self) -> str:
        return (
            f"Submitted(<receipt>, at_risk={self.at_risk}, repeated={self.repeated}, "
            f"excluded={self.excluded})"
        )


# Every question of the report, in the order the form asks them.
REPORT_FIELDS = tuple(f.name for f in fields(ReportDraft))
# A random 40-bit case id is taken about once in ten million reports (with 100,000
# stored); three tries make a failure vanishingly rare.
ID_ATTEMPTS = 3


def submit_report(
    session: Session,
    draft: ReportDraft,
    ticket: FormTicket,
    keys: SubmissionKeys,
    unit_key: keyring.PinnedUnitKey,
    today: date,
    possible_flood: bool = False,
    urgent_alert_at: datetime | None = None,
    exclusion: ExclusionSeals | None = None,
    evidence: Sequence[PreparedFile] = (),
) -> Submitted:
    """Spend the form's one-time value, then seal and add a new case; return the receipt.

    With `urgent_alert_at` (the time, when alerts are on), a report that says someone
    is at risk now also leaves a mark for the next urgent batch (`alerts.mark_urgent`):
    one more small insert, for those reports only.

    A report with an exclusion (`draft.exclude`) is sealed to `exclusion` alone and
    arrives 'pending'; without `exclusion` it raises ExclusionUnavailable before
    anything is written. Its urgent mark names the exclusion key generation, so its
    urgent alert calls the group's members only, never the unit.

    A form whose value was spent before gets that report's receipt back
    (`repeated`), or FormAlreadySent once the receipt is no longer kept; nothing
    new is stored either way. Raises SetupError if the instance has no unit key,
    DecryptionError if the unit key is not the one pinned in the instance config.
    Everything is written here, so a taken random id is found and replaced before
    the caller's commit; the caller commits and only then shows the receipt.
    """
    # The key this process last checked for the pin, from memory: the case's INSERT
    # below stores the case only if that row is still the pin's newest, active key.
    pinned = unit_key.last_checked() or unit_key.read(session)
    pin, unit_key_id, unit_public = pinned
    if draft.exclude and exclusion is None:
        raise ExclusionUnavailable("no exclusion key is pinned to seal this report to")
    excluding = exclusion if draft.exclude else None
    receipt = generate_receipt()
    at_risk = draft.at_risk == "yes"
    # Every seal first, then the statements: on SQLite the first statement takes the
    # one write lock, and every other reporter waits while it is held.
    case, seal, files = _sealed_case(
        draft,
        receipt,
        keys.pepper,
        unit_key_id,
        unit_public,
        today,
        possible_flood,
        excluding,
        evidence,
    )
    spent = {
        "token_hash": spent_hash(keys.spent_form_key, ticket),
        "spent_on": today,
        "sealed_receipt": _seal_receipt(ticket, receipt, at_risk, excluding is not None),
        "receipt_stale": False,
    }
    dialect = session.get_bind().dialect.name
    # One statement each, without savepoints: an existing row leaves the insert
    # undone. On PostgreSQL a copy of the form sent at the same moment waits for the
    # first to commit, then finds its row; SQLite runs one writer at a time anyway.
    if session.execute(_statements(dialect).spend, spent).first() is None:
        return repeated_submission(session, ticket, keys)
    taken = 0
    while not _insert_case(session, dialect, case, pin):
        # Nothing stored: the random id is taken, or the key sealed to is no longer
        # the pin's active one. The full read tells which (and refuses a retired key).
        current = unit_key.read(session)
        if current == (pin, unit_key_id, unit_public):
            taken += 1
            if taken == ID_ATTEMPTS:
                raise SetupError("three random case ids in a row were taken")
        pin, unit_key_id, unit_public = current
        # The id and the key are in every seal's associated data: seal again.
        case, seal, files = _sealed_case(
            draft,
            receipt,
            keys.pepper,
            unit_key_id,
            unit_public,
            today,
            possible_flood,
            excluding,
            evidence,
        )
    session.execute(_statements(dialect).seal, seal)
    insert_evidence_rows(session, files)
    ledger.adjust(session, before=False, after=True)
    if at_risk and urgent_alert_at is not None:
        if excluding is None:
            alerts.mark_urgent(session, urgent_alert_at, unit_key_id=unit_key_id)
        else:
            alerts.mark_urgent(
                session, urgent_alert_at, exclusion_key_id=excluding.exclusion_key_id
            )
    return Submitted(receipt, at_risk, excluded=excluding is not None)


@dataclass(frozen=True, repr=False)
class SubmissionKeys:
    """The instance secrets a submission uses: the receipt pepper and the spent-form key."""

    pepper: bytes
    spent_form_key: bytes

    def __repr__(self) -> str:
        return "SubmissionKeys(<secret>)"


def spent_hash(key: bytes, ticket: FormTicket) -> bytes:
    """What the database keeps of a spent form value: a keyed hash, nothing reversible."""
    return hmac.new(key, b"reportline:v1:spent-form:" + ticket.nonce, hashlib.sha256).digest()


def _receipt_context(ticket_hash: bytes) -> bytes:
    return context("spent-form-receipt", form=ticket_hash.hex())


def _seal_receipt(ticket: FormTicket, receipt: Receipt, at_risk: bool, excluded: bool) -> bytes:
    shown: dict[str, Any] = {"words": list(receipt.words), "at_risk": at_risk}
    if excluded:
        shown["excluded"] = True
    document = json.dumps(shown).encode("ascii")
    ticket_hash = hashlib.sha256(ticket.nonce).digest()
    return aead.encrypt(ticket.receipt_key(), document, _receipt_context(ticket_hash))


def repeated_submission(session: Session, ticket: FormTicket, keys: SubmissionKeys) -> Submitted:
    """The receipt of the report this form already made; raise FormAlreadySent when it
    is no longer kept (or cannot be opened)."""
    row = session.get(SpentForm, spent_hash(keys.spent_form_key, ticket), populate_existing=True)
    if row is None:
        raise FormAlreadySent("this form was never sent", spent=False)
    if row.sealed_receipt is None:
        raise FormAlreadySent("this form was sent before")
    try:
        document = json.loads(
            aead.decrypt(
                ticket.receipt_key(),
                row.sealed_receipt,
                _receipt_context(hashlib.sha256(ticket.nonce).digest()),
            )
        )
        receipt = Receipt(tuple(document["words"]))
    except (DecryptionError, ValueError, KeyError, TypeError) as exc:
        raise FormAlreadySent("this form was sent before") from exc
    return Submitted(
        receipt,
        bool(document.get("at_risk")),
        repeated=True,
        excluded=bool(document.get("excluded")),
    )


@dataclass(frozen=True)
class _Statements:
    """The submission's statements for one dialect, built once (no per-report compiling)."""

    spend: Any
    case: Any
    seal: Any


def _build_statements(dialect: str) -> _Statements:
    insert_for = postgresql.insert if dialect == "postgresql" else sqlite.insert
    spent, cases_, unit_keys = (
        cast(Table, model.__table__) for model in (SpentForm, Case, UnitKey)
    )
    # The case row, only if the key it is sealed to is the pin's newest, active row
    # (the check `PinnedUnitKey.read` makes), in the same statement. On PostgreSQL,
    # FOR SHARE holds that row until commit, so a rotation retiring it
    # (`rotation.retire`, FOR UPDATE) waits and then counts this report; a retire that
    # commits first leaves this statement nothing to insert (READ COMMITTED checks the
    # WHERE again on the newest row version). SQLite runs one writer at a time anyway.
    # Each value is a bound parameter but the key's id, taken from the row checked.
    source = (
        select(
            *(
                unit_keys.c.id
                if column.key == "unit_key_id"
                else bindparam(column.key, type_=column.type)
                for column in cases_.columns
            )
        )
        .where(keyring.pinned_row_is_active(unit_keys))
        .with_for_update(read=True, of=unit_keys)
    )
    return _Statements(
        spend=insert_for(spent)
        .on_conflict_do_nothing(index_elements=["token_hash"])
        .returning(spent.c.token_hash),  # a row back means inserted (psycopg gives no rowcount)
        case=insert_for(cases_)
        .from_select([column.key for column in cases_.columns], source)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(cases_.c.id),
        seal=insert(cast(Table, CaseSeal.__table__)),
    )


_BUILT: dict[str, _Statements] = {}


def _statements(dialect: str) -> _Statements:
    built = _BUILT.get(dialect)
    if built is None:
        built = _BUILT[dialect] = _build_statements(dialect)
    return built


def _insert_case(session: Session, dialect: str, case: Case, pin: str) -> bool:
    """INSERT the case if its id is free and its unit key still the pin's active one;
    return whether it was inserted."""
    row = {column.key: getattr(case, column.key) for column in Case.__table__.columns}
    row["pin"] = pin
    return session.execute(_statements(dialect).case, row).first() is not None


def _sealed_case(
    draft: ReportDraft,
    receipt: Receipt,
    pepper: bytes,
    unit_key_id: int,
    unit_public: PublicKey,
    today: date,
    possible_flood: bool,
    exclusion: ExclusionSeals | None = None,
    evidence: Sequence[PreparedFile] = (),
) -> tuple[Case, list[dict[str, Any]], list[dict[str, Any]]]:
    """A new case with a random id, the report sealed under a fresh case secret, the
    rows of its secret sealed to the unit key (or, with `exclusion`, to the exclusion
    key and the recovery key), and the rows of its evidence files."""
    secret = cases.CaseSecret(new_key())
    case_id = random_id()
    case_public = secret.private_key().public_key()
    reporter_key = receipt.reporter_private_key()
    reporter_public = reporter_key.public_key()
    answers = asdict(draft)
    if not draft.exclude:
        del answers["exclude"]  # an ordinary report's document is as before
    fields = {
        **answers,
        "reporter_key_sha256": sha256(reporter_public.raw).hexdigest(),
        # Lets a reader check the stored case public key with one hash, not by
        # rebuilding the key pair from the secret (the queue does it fifty times).
        "case_key_sha256": sha256(case_public.raw).hexdigest(),
    }
    case = Case(
        id=case_id,
        received_on=today,
        unit_key_id=unit_key_id,
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
        possible_flood=possible_flood,
        priority=PRIORITY_NOT_SET,
        triage_version=0,
        note_count=0,
        evidence_count=len(evidence),
        access=cases.UNIT_ACCESS if exclusion is None else cases.PENDING,
        reporter_excluded=exclusion is not None,
    )
    cases.seal_state(case, secret.mac_key())
    files = evidence_rows(
        case_id, cases.CaseKeys(case_public, reporter_public, secret.mac_key()), evidence, today
    )
    if exclusion is None:
        return case, [cases.seal_row(case_id, unit_key_id, secret, unit_public)], files
    return (
        case,
        [
            _seal_columns(
                cases.seal_to(
                    case_id,
                    cases.EXCLUSION_GROUP,
                    exclusion.exclusion_key_id,
                    secret,
                    exclusion.exclusion_public,
                )
            ),
            _seal_columns(
                cases.seal_to(
                    case_id,
                    cases.RECOVERY,
                    exclusion.recovery_key_id,
                    secret,
                    exclusion.recovery_public,
                )
            ),
        ],
        files,
    )


def _seal_columns(seal: CaseSeal) -> dict[str, Any]:
    return {
        "case_id": seal.case_id,
        "holder": seal.holder,
        "holder_id": seal.holder_id,
        "sealed": seal.sealed,
    }
