"""The unit's promises to a reporter: acknowledge within 7 days, feedback within 3 months
of acknowledgement, shown due soon a week ahead and overdue the day after."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reportline.services import deadlines


@pytest.mark.parametrize(
    ("received", "acknowledge_by"),
    [
        (date(2026, 1, 28), date(2026, 2, 4)),  # across a month end
        (date(2026, 12, 29), date(2027, 1, 5)),  # across a year end
        (date(2028, 2, 25), date(2028, 3, 3)),  # a leap February has 29 days
        (date(2027, 2, 25), date(2027, 3, 4)),  # an ordinary one 28
    ],
)
def test_acknowledgement_is_due_seven_days_after_receipt(
    received: date, acknowledge_by: date
) -> None:
    assert deadlines.acknowledge_by(received) == acknowledge_by


@pytest.mark.parametrize(
    ("acknowledged", "feedback_by"),
    [
        (date(2026, 3, 15), date(2026, 6, 15)),  # the same day three months on
        (date(2026, 11, 30), date(2027, 2, 28)),  # no 30 February: the month's last day
        (date(2027, 11, 30), date(2028, 2, 29)),  # ... which is the 29th in a leap year
        (date(2026, 5, 31), date(2026, 8, 31)),  # a 31st to a month that has one
        (date(2026, 3, 31), date(2026, 6, 30)),  # a 31st to a month of 30 days
        (date(2028, 2, 29), date(2028, 5, 29)),  # from a leap day
        (date(2026, 10, 15), date(2027, 1, 15)),  # across a year end
    ],
)
def test_feedback_is_due_three_months_after_acknowledgement(
    acknowledged: date, feedback_by: date
) -> None:
    assert deadlines.feedback_by(acknowledged, date(2020, 1, 1)) == feedback_by


def test_before_acknowledgement_feedback_counts_from_the_acknowledgement_deadline() -> None:
    # Received 24 November: acknowledge by 1 December, so feedback by 1 March.
    assert deadlines.feedback_by(None, date(2026, 11, 24)) == date(2027, 3, 1)


def test_the_next_deadline_follows_the_case() -> None:
    received, acknowledged = date(2026, 1, 31), date(2026, 2, 3)
    assert deadlines.next_deadline("received", received, None, None) == date(2026, 2, 7)
    assert deadlines.next_deadline("assessing", received, acknowledged, None) == date(2026, 5, 3)
    # Feedback given or the case closed: nothing more is due.
    assert deadlines.next_deadline("assessing", received, acknowledged, date(2026, 3, 1)) is None
    assert deadlines.next_deadline("closed", received, None, None) is None


@pytest.mark.parametrize(
    ("today", "state"),
    [
        (date(2028, 2, 22), None),  # eight days ahead, counting 29 February
        (date(2028, 2, 23), "due_soon"),  # seven days ahead
        (date(2028, 2, 29), "due_soon"),
        (date(2028, 3, 1), "due_soon"),  # the day itself is still in time
        (date(2028, 3, 2), "overdue"),  # the day after
    ],
)
def test_a_deadline_is_due_soon_a_week_ahead_and_overdue_the_day_after(
    today: date, state: str | None
) -> None:
    assert deadlines.due_state(date(2028, 3, 1), today) == state


def test_acknowledgement_is_overdue_only_while_the_case_awaits_it() -> None:
    received = date(2026, 2, 26)
    assert not deadlines.acknowledgement_overdue("received", received, date(2026, 3, 5))
    assert deadlines.acknowledgement_overdue("received", received, date(2026, 3, 6))
    assert not deadlines.acknowledgement_overdue("acknowledged", received, date(2026, 3, 6))


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)))
def test_three_months_on_is_never_past_that_months_end_nor_before_its_same_day(day: date) -> None:
    later = deadlines.add_months(day, 3)
    assert (later.year * 12 + later.month) - (day.year * 12 + day.month) == 3
    # The same day of the month, or the month's last day when it has no such day.
    if later.day != day.day:
        assert later.day < day.day and (later + timedelta(days=1)).day == 1
