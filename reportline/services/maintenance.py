"""Housekeeping: expired sessions, old throttle counters, spent forms and kept receipts.

`reportline purge` runs it from cron, or `reportline serve` every minute by
itself (`housekeeping_in_process`). Running it twice, or on several servers at
once, does no harm.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from reportline.config import Settings
from reportline.models import Housekeeping, OfficerSession, ReporterSession, SpentForm
from reportline.services import throttle

HOUSEKEEPING_ID = 1


def purge_expired(session: Session, now: datetime, settings: Settings) -> None:
    """Delete what has outlived its purpose; age the receipts kept for repeated forms."""
    session.execute(delete(ReporterSession).where(ReporterSession.purge_after < now))
    idle = timedelta(minutes=settings.officer_idle_minutes)
    absolute = timedelta(hours=settings.officer_absolute_hours)
    session.execute(
        delete(OfficerSession).where(
            (OfficerSession.created_at < now - absolute)
            | (OfficerSession.last_seen_at < now - idle)
        )
    )
    throttle.purge(session, now)
    purge_spent_forms(session, now, settings)
    age_kept_receipts(session, now, settings)


def spent_form_days(settings: Settings) -> int:
    """Whole days a spent form value is kept: at least as long as a form lives."""
    return math.ceil(settings.form_lifetime_hours / 24)


def purge_spent_forms(session: Session, now: datetime, settings: Settings) -> None:
    """Forget spent form values once no form that could carry them is still good.

    A value spent on day D is kept until day D + days + 1 begins: at least
    `form_lifetime_hours` after any moment on day D, without a time finer than
    the day on the row.
    """
    oldest_kept = now.date() - timedelta(days=spent_form_days(settings))
    session.execute(delete(SpentForm).where(SpentForm.spent_on < oldest_kept))


def age_kept_receipts(session: Session, now: datetime, settings: Settings) -> bool:
    """Drop receipts that were kept through a whole round; return whether a round ran.

    Every `receipt_keep_minutes`, receipts marked stale last round are dropped and
    the rest are marked. So a receipt is kept between one and two rounds (5 to 10
    minutes by default) and no row holds when it was written. The round's pace is
    kept in the housekeeping row, locked, so several servers run one round.
    """
    row = session.get(Housekeeping, HOUSEKEEPING_ID, with_for_update=True)
    if row is None:
        row = Housekeeping(id=HOUSEKEEPING_ID, receipts_aged_at=None)
        session.add(row)
        session.flush()
    round_length = timedelta(minutes=settings.receipt_keep_minutes)
    if row.receipts_aged_at is not None and now - row.receipts_aged_at < round_length:
        return False
    session.execute(
        update(SpentForm).where(SpentForm.receipt_stale.is_(True)).values(sealed_receipt=None)
    )
    session.execute(
        update(SpentForm)
        .where(SpentForm.sealed_receipt.is_not(None))
        .values(receipt_stale=True)
    )
    row.receipts_aged_at = now.replace(second=0, microsecond=0)
    session.flush()
    return True
