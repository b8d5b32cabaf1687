"""Cases: a sealed report, its dialogue and its status history.

Reporter-side rows use random identifiers and day-precision dates only.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from reportline.db import Base
from reportline.models.keys import CaseSeal

STATUSES = ("received", "acknowledged", "assessing", "investigating", "referred", "closed")
# Priority as a rank, so the queue can sort on it through an index: not yet set sorts last.
PRIORITIES = {"high": 1, "medium": 2, "low": 3}
PRIORITY_NOT_SET = 9
HAS_UNREAD = "unread_by_unit > 0"
IS_POSSIBLE_FLOOD = "possible_flood"
HAS_DUE = "due_on IS NOT NULL"
FROM_REPORTER = "author = 'reporter'"
# Who may read a case: the unit (its secret sealed to the unit key), named officers, or
# nobody yet but the exclusion group (a reporter's exclusion, until a supervisor sets it).
ACCESS = ("unit", "restricted", "pending")
NOT_UNIT = "access <> 'unit'"


class Case(Base):
    """One report and everything that follows from it.

    On SQLite the table has no rowid, so the physical order of rows follows
    the random id rather than the order in which reports arrived.
    """

    __tablename__ = "cases"
    __table_args__ = (
        CheckConstraint(
            "status IN ('received', 'acknowledged', 'assessing', 'investigating', "
            "'referred', 'closed')",
            name="status",
        ),
        CheckConstraint("access IN ('unit', 'restricted', 'pending')", name="access"),
        # Both cover the queue's paging: "everything"/"open" and one status.
        Index("ix_cases_queue", "received_on", "id", "status", "unread_by_unit", "possible_flood"),
        Index("ix_cases_status_queue", "status", "received_on", "id"),
        # The closed cases the default ("open") view still lists, counted without
        # scanning every closed case.
        Index(
            "ix_cases_unread",
            "status",
            "unread_by_unit",
            sqlite_where=text(HAS_UNREAD),
            postgresql_where=text(HAS_UNREAD),
        ),
        # "Mine" and each officer's cases, newest first; and the unassigned ones.
        Index("ix_cases_assignee", "assignee_id", "received_on", "id", "status"),
        # Counted by owner: each owner's open cases, and closed ones with unread replies.
        Index("ix_cases_owner_status", "assignee_id", "status", "unread_by_unit", "id"),
        # Sorted by the next deadline (only cases that have one).
        Index(
            "ix_cases_due",
            "due_on",
            "id",
            "status",
            sqlite_where=text(HAS_DUE),
            postgresql_where=text(HAS_DUE),
        ),
        # Sorted by priority, then newest first.
        Index("ix_cases_priority", "priority", "received_on", "id", "status"),
        # The flood group: few cases, paged and counted on their own.
        Index(
            "ix_cases_flood",
            "received_on",
            "id",
            "status",
            sqlite_where=text(IS_POSSIBLE_FLOOD),
            postgresql_where=text(IS_POSSIBLE_FLOOD),
        ),
        # The cases not every unit key holder may read (few): what each queue view
        # leaves out for an officer who cannot open them (services.restriction), with
        # what it reads of them, so the (wide) case rows are not read.
        Index(
            "ix_cases_not_unit",
            "access",
            "id",
            "status",
            "unread_by_unit",
            "triage_version",
            sqlite_where=text(NOT_UNIT),
            postgresql_where=text(NOT_UNIT),
        ),
        {"sqlite_with_rowid": False},
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    received_on: Mapped[date]
    # The unit key generation the case arrived under (in its state MAC, and its alert
    # audience). Its secret is sealed in `case_seals`, moved there by rotations.
    unit_key_id: Mapped[int] = mapped_column(ForeignKey("unit_keys.id"))
    status: Mapped[str] = mapped_column(String(16), default="received")
    status_changed_on: Mapped[date]
    acknowledged_on: Mapped[date | None]
    case_public_key: Mapped[bytes] = mapped_column(LargeBinary)
    report: Mapped[bytes] = mapped_column(LargeBinary)
    receipt_hmac: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    reporter_public_key: Mapped[bytes] = mapped_column(LargeBinary)
    # SHA-256 of the case public key, sealed under a key only the receipt holder can
    # derive: a reporter's reply is never sealed to a key someone swapped in the database.
    key_binding: Mapped[bytes] = mapped_column(LargeBinary)
    message_count: Mapped[int] = mapped_column(default=0)
    status_change_count: Mapped[int] = mapped_column(default=0)
    unread_by_unit: Mapped[int] = mapped_column(default=0)
    # Arrived while reports came faster than a genuine line receives them: held in
    # the queue's flood group until a supervisor decides (services.flood).
    possible_flood: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Workflow facts in clear, for the queue (docs/security.md, "Casework"): the
    # priority rank, the officer who owns the case and when they declared no conflict
    # of interest, the day feedback was given, and the next deadline (acknowledge,
    # then feedback), kept so the queue can sort and filter on it.
    priority: Mapped[int] = mapped_column(default=PRIORITY_NOT_SET, server_default="9")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))
    assignee_declared_on: Mapped[date | None]
    feedback_given_on: Mapped[date | None]
    due_on: Mapped[date | None]
    # Versions of the sealed triage record, and internal notes (services.casework).
    triage_version: Mapped[int] = mapped_column(default=0, server_default="0")
    note_count: Mapped[int] = mapped_column(default=0, server_default="0")
    # Evidence files (models.evidence), numbered 1 ... evidence_count; in the state MAC.
    evidence_count: Mapped[int] = mapped_column(default=0, server_default="0")
    # "unit", "restricted" (sealed to named officers and the recovery key, never to the
    # unit key) or "pending" (docs/security.md, "Restricted cases"); in the state MAC.
    access: Mapped[str] = mapped_column(String(16), default="unit", server_default="unit")
    # The reporter asked that someone in the unit not see it (it arrived 'pending'); in
    # the state MAC when true, so the follow-up page can say what became of the request.
    reporter_excluded: Mapped[bool] = mapped_column(default=False, server_default=false())
    # HMAC under the case's MAC key over status, dates, counts, priority, deadlines
    # and the flood mark (cases.state_mac): a database writer cannot close, re-date
    # or truncate a case unnoticed.
    state_mac: Mapped[bytes] = mapped_column(LargeBinary(32))
    # Loaded with the case, in one query for a page of cases.
    seals: Mapped[list[CaseSeal]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", passive_deletes=True
    )


class QueueLedger(Base):
    """How many cases need the unit's attention, with a MAC under the integrity key.

    A case needs attention while it is open or has replies no officer has read:
    exactly the cases of the default queue view and its flood group. Every change
    into or out of that set updates the count in the same transaction, so a case
    moved out of the view by a database edit alone (its status set to closed)
    leaves the count higher than the view's, and the queue says so.
    """

    __tablename__ = "queue_ledger"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    attention: Mapped[int]
    mac: Mapped[bytes] = mapped_column(LargeBinary(32))


class Message(Base):
    """One message in a case's anonymous dialogue, sealed as an envelope."""

    __tablename__ = "messages"
    __table_args__ = (
        CheckConstraint("author IN ('reporter', 'officer')", name="author"),
        CheckConstraint("kind IN ('message', 'outcome')", name="kind"),
        UniqueConstraint("case_id", "seq", name="uq_messages_case_seq"),
        # Reporters' replies by day: what an alert batch counts (services.alerts).
        Index(
            "ix_messages_reporter_sent",
            "sent_on",
            "case_id",
            sqlite_where=text(FROM_REPORTER),
            postgresql_where=text(FROM_REPORTER),
        ),
        {"sqlite_with_rowid": False},
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int]
    author: Mapped[str] = mapped_column(String(16))
    # Officers are deactivated, never deleted: the MAC covers this id.
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))
    kind: Mapped[str] = mapped_column(String(16), default="message")
    sent_on: Mapped[date]
    unread: Mapped[bool] = mapped_column(default=True)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    # HMAC under the case's MAC key: see reportline.services.dialogue.
    mac: Mapped[bytes] = mapped_column(LargeBinary(32))


class StatusChange(Base):
    """Who moved a case from one status to another, when, and (sealed) why."""

    __tablename__ = "status_changes"
    __table_args__ = (
        UniqueConstraint("case_id", "seq", name="uq_status_changes_case_seq"),
        {"sqlite_with_rowid": False},
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int]
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))
    changed_at: Mapped[datetime]
    reason: Mapped[bytes | None] = mapped_column(LargeBinary)
    # HMAC under the case's MAC key: see reportline.services.case_checks.status_change_mac.
    mac: Mapped[bytes] = mapped_column(LargeBinary(32))
