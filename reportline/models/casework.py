"""The unit's own record of a case: the sealed triage record and internal notes.

Both are sealed under keys derived from the case secret, which the reporter
never holds; who wrote them and when is in clear (officers' doings) and bound
into each ciphertext's associated data.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from reportline.db import Base


class TriageRecord(Base):
    """One version of a case's triage record (categories, subjects, grading, decision,
    outcome ...), sealed. The newest is `cases.triage_version`; older ones are kept,
    so a closed case shows who decided what and when."""

    __tablename__ = "triage_records"

    case_id: Mapped[int] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id"))
    recorded_at: Mapped[datetime]
    sealed: Mapped[bytes] = mapped_column(LargeBinary)


class Note(Base):
    """An internal note on a case, never shown to the reporter, sealed. A correction is a
    new note naming the one it corrects; both stay."""

    __tablename__ = "notes"
    __table_args__ = (UniqueConstraint("case_id", "seq", name="uq_notes_case_seq"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int]
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id"))
    written_at: Mapped[datetime]
    corrects: Mapped[int | None]
    body: Mapped[bytes] = mapped_column(LargeBinary)


class TriageIndex(Base):
    """What the queue filters on but may not keep in clear (national categories, risk
    flags), for every case sealed to one unit key generation, as one blob sealed under
    a key derived from that unit key (services.triage_index)."""

    __tablename__ = "triage_index"

    unit_key_id: Mapped[int] = mapped_column(
        ForeignKey("unit_keys.id"), primary_key=True, autoincrement=False
    )
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
