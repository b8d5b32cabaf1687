"""E-mail alerts: what each officer wants, what awaits sending, and what was sent.

Nothing here names a case. New reports and replies are counted against
watermarks (how many were already counted on a day), never marked one by one;
a report that says someone is at risk leaves an `UrgentMark` holding only who
may read it (a unit key or exclusion key generation) and its quarter hour,
deleted when its urgent batch is made (docs/security.md, "Alerts").
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from reportline.db import Base

BATCH_KINDS = ("regular", "digest", "urgent")
WATERMARK_KINDS = ("report", "reply")


class AlertPreference(Base):
    """What one officer is sent. No row: the defaults (everything, as it comes)."""

    __tablename__ = "alert_preferences"

    officer_id: Mapped[int] = mapped_column(
        ForeignKey("officers.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    new_reports: Mapped[bool]
    replies: Mapped[bool]  # on cases assigned to them (supervisors: and unassigned ones)
    deadlines: Mapped[bool]  # once a day (supervisors: and unassigned cases)
    urgent: Mapped[bool]
    daily_digest: Mapped[bool]  # the first three once a day instead of at every batch


class UrgentMark(Base):
    """A report that says someone is at risk now awaits the urgent batch.

    Written in the report's own transaction; it holds who may read the report
    (the unit key generation it is sealed to, or for a report with an exclusion
    the exclusion key generation: exactly one) and the quarter hour it was made
    in, no case. Random ids and, on SQLite, no rowid: marks keep no order.
    """

    __tablename__ = "urgent_marks"
    __table_args__ = (
        CheckConstraint("(unit_key_id IS NULL) <> (exclusion_key_id IS NULL)", name="one_audience"),
        {"sqlite_with_rowid": False},
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    unit_key_id: Mapped[int | None] = mapped_column(ForeignKey("unit_keys.id"))
    exclusion_key_id: Mapped[int | None] = mapped_column(ForeignKey("exclusion_keys.id"))
    quarter: Mapped[datetime]


class PendingAlert(Base):
    """What awaits sending to one officer: counts and flags, never a case.

    A sender leases the row (`lease`, until `leased_until`) before talking to the
    mail server and takes away only what it sent, so two senders never send the
    same alert and an alert added meanwhile is kept.
    """

    __tablename__ = "pending_alerts"

    officer_id: Mapped[int] = mapped_column(
        ForeignKey("officers.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    new_reports: Mapped[int] = mapped_column(default=0)
    new_replies: Mapped[int] = mapped_column(default=0)
    deadlines: Mapped[bool] = mapped_column(default=False)  # counted when sent
    urgent: Mapped[int] = mapped_column(default=0)  # urgent batches not yet sent
    digest_due: Mapped[bool] = mapped_column(default=False)
    # The quarter hour of the last urgent mail: at most one per quarter hour.
    last_urgent: Mapped[datetime | None]
    lease: Mapped[bytes | None] = mapped_column(LargeBinary(16))
    leased_until: Mapped[datetime | None]
    failures: Mapped[int] = mapped_column(default=0)  # failed sends since the last success


class AlertWatermark(Base):
    """How many reports (or reporter replies) of one group were counted on `day`.

    A group is who may be told: the unit key generation a case is sealed to, and
    for replies the case's owner (0: none). Every later day counts whole.
    """

    __tablename__ = "alert_watermarks"
    __table_args__ = (CheckConstraint("kind IN ('report', 'reply')", name="kind"),)

    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    unit_key_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    assignee_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    day: Mapped[date]
    seen: Mapped[int]


class AlertBatch(Base):
    """The latest batch of each kind: its slot (claimed under a row lock, so one batch is
    made once), and what its last sending did, for the supervisors' mail page."""

    __tablename__ = "alert_batches"
    __table_args__ = (CheckConstraint("kind IN ('regular', 'digest', 'urgent')", name="kind"),)

    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    slot: Mapped[datetime | None]
    # The day the watermarks count (regular batches only).
    counted_on: Mapped[date | None]
    sent_at: Mapped[datetime | None]
    mails_sent: Mapped[int] = mapped_column(default=0)
    mails_failed: Mapped[int] = mapped_column(default=0)
    failed_at: Mapped[datetime | None]
    failure: Mapped[str | None] = mapped_column(String(40))
