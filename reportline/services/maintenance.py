"""Housekeeping that may run from cron: expired sessions and old throttle counters."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from reportline.config import Settings
from reportline.models import OfficerSession, ReporterSession
from reportline.services import throttle


def purge_expired(session: Session, now: datetime, settings: Settings) -> None:
    """Delete sessions past their lifetime and throttle state past its window."""
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
