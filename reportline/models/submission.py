"""Report forms already sent: one form makes one report, and a repeat shows its receipt."""

from __future__ import annotations

from datetime import date

from sqlalchemy import LargeBinary
from sqlalchemy.orm import Mapped, mapped_column

from reportline.db import Base


class SpentForm(Base):
    """A report form's one-time value, spent when its report was stored.

    Found by a keyed hash of the value, dated to the day only. The receipt it
    produced is kept for a few minutes sealed under a key derived from the
    value, which only the browser that sent the form holds, so that a repeat
    of the same form (a double click, a reload) shows the same receipt. Nothing
    here names the case.
    """

    __tablename__ = "spent_forms"
    __table_args__ = ({"sqlite_with_rowid": False},)

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    spent_on: Mapped[date] = mapped_column(index=True)
    sealed_receipt: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Set by housekeeping once the receipt has lived through one round; the next
    # round drops it (services.maintenance). Never a time.
    receipt_stale: Mapped[bool] = mapped_column(default=False)
