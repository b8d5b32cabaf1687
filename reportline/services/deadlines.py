"""The unit's promises to reporters (EU Whistleblowing Directive clocks)."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

ACKNOWLEDGE_WITHIN = timedelta(days=7)
FEEDBACK_WITHIN_MONTHS = 3
# A deadline this close is "due soon" in the queue and on the case.
DUE_SOON = timedelta(days=7)


def add_months(day: date, months: int) -> date:
    """The same day `months` later, clamped to the end of a shorter month."""
    month_index = day.month - 1 + months
    year = day.year + month_index // 12
    month = month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def acknowledge_by(received_on: date) -> date:
    """Last day to acknowledge a report: 7 days after receipt."""
    return received_on + ACKNOWLEDGE_WITHIN


def feedback_by(acknowledged_on: date | None, received_on: date) -> date:
    """Last day to give feedback: 3 months after acknowledgement.

    Before acknowledgement the clock is counted from the acknowledgement deadline,
    which is the latest the acknowledgement may come.
    """
    start = acknowledged_on or acknowledge_by(received_on)
    return add_months(start, FEEDBACK_WITHIN_MONTHS)


def acknowledgement_overdue(status: str, received_on: date, today: date) -> bool:
    """Whether a case still awaits acknowledgement past its deadline."""
    return status == "received" and today > acknowledge_by(received_on)


def next_deadline(
    status: str, received_on: date, acknowledged_on: date | None, feedback_given_on: date | None
) -> date | None:
    """The case's next promise to the reporter: acknowledge, then give feedback; none
    once feedback is given or the case is closed."""
    if status == "closed":
        return None
    if acknowledged_on is None:
        return acknowledge_by(received_on)
    if feedback_given_on is None:
        return feedback_by(acknowledged_on, received_on)
    return None


def due_state(due_on: date | None, today: date) -> str | None:
    """ "overdue", "due_soon" or None for a case's next deadline."""
    if due_on is None:
        return None
    if today > due_on:
        return "overdue"
    if due_on - today <= DUE_SOON:
        return "due_soon"
    return None
