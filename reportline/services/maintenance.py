"""Housekeeping: expired sessions, old throttle counters, spent forms, kept receipts,
uploads no form was sent for and orphaned evidence chunks.

`reportline serve` runs it every minute by itself (`housekeeping_in_process`),
or cron runs `reportline purge`. Running it twice does no harm; each run of
`reportline purge` is also a round for kept receipts (so run it from cron
every `receipt_keep_minutes`), and each serving process paces its own rounds.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from reportline.config import Settings
from reportline.models import OfficerSession, ReporterSession, SpentForm
from reportline.services import throttle, uploads
from reportline.services.evidence_store import DatabaseChunkStore, sweep_orphans


def purge_expired(
    session: Session, now: datetime, settings: Settings, receipt_round: bool = True
) -> None:
    """Delete what has outlived its purpose; with `receipt_round`, age the receipts kept
    for repeated forms (`age_kept_receipts`)."""
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
    uploads.purge_stale(session, now.date())
    if receipt_round:
        age_kept_receipts(session)
        # Orphaned evidence chunks go two rounds after they are first seen (evidence_store).
        sweep_orphans(session, DatabaseChunkStore(session))


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


def age_kept_receipts(session: Session) -> None:
    """One round for the receipts kept for repeated forms: drop those marked last round,
    mark the rest. A receipt so lives between one and two rounds.

    Nothing records when a round ran: a row rewritten on a clock all night would
    date, through PostgreSQL's row versions, every report written between two of
    its rewrites. Rounds are paced by `ReceiptRounds` in the process that runs
    housekeeping, or by how often cron runs `reportline purge`.
    """
    session.execute(
        update(SpentForm).where(SpentForm.receipt_stale.is_(True)).values(sealed_receipt=None)
    )
    session.execute(
        update(SpentForm)
        .where(SpentForm.sealed_receipt.is_not(None), SpentForm.receipt_stale.is_(False))
        .values(receipt_stale=True)
    )
    session.flush()


class ReceiptRounds:
    """When the next round for kept receipts is due, in this process's memory.

    Rounds come `receipt_keep_minutes` to twice that apart, at random, so their
    times cannot be worked out from one another either.
    """

    def __init__(self, keep_minutes: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.keep_seconds = keep_minutes * 60
        self._clock = clock
        self._next = clock() + self._interval()

    def _interval(self) -> float:
        return self.keep_seconds * (1 + secrets.randbelow(1000) / 1000)

    def due(self) -> bool:
        """Whether a round is due now; if so, the next is scheduled."""
        if self._clock() < self._next:
            return False
        self._next = self._clock() + self._interval()
        return True
