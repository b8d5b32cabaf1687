"""The officers' audit log: append-only, each entry hash-chained to the one before."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from reportline.db import Base


class AuditEntry(Base):
    """One thing an officer or operator did. Holds no report content."""

    __tablename__ = "audit_entries"
    # The supervisors' page filters by officer, action and case and pages newest
    # first: each index ends in the id, so a filtered page is read in order from one.
    __table_args__ = (
        Index("ix_audit_entries_actor", "actor", "id"),
        Index("ix_audit_entries_action", "action", "id"),
        Index("ix_audit_entries_case_id", "case_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[int | None]
    detail: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    entry_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
