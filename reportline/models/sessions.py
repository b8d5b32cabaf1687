"""Server-side halves of officer and reporter sessions.

The cookie holds a random session id and a random session key; the row holds
only the id's hash and a blob sealed under the key. Deleting the row makes the
cookie worthless.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from reportline.db import Base


class OfficerSession(Base):
    """A signed-in officer: their private key, sealed under the cookie's session key."""

    __tablename__ = "officer_sessions"
    __table_args__ = (CheckConstraint("stage IN ('active', 'enrol')", name="stage"),)

    id_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    officer_id: Mapped[int] = mapped_column(
        ForeignKey("officers.id", ondelete="CASCADE"), index=True
    )
    stage: Mapped[str] = mapped_column(String(8))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


class ReporterSession(Base):
    """A reporter signed in with a receipt. Which case it is, is inside the sealed blob."""

    __tablename__ = "reporter_sessions"

    id_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    # Rounded up to the hour: enough to purge old rows, too coarse to date a visit.
    purge_after: Mapped[datetime] = mapped_column(index=True)
