"""When alert batches are due: local times on working days, whatever the season."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from reportline.services.alert_schedule import Schedule, next_quarter, quarter_of

LONDON = ZoneInfo("Europe/London")
DEFAULT = Schedule(tuple(time(hour) for hour in range(8, 19)), (0, 1, 2, 3, 4), LONDON)


def test_a_batch_is_due_from_its_time_until_the_next_one() -> None:
    monday = datetime(2026, 11, 23)  # winter: London is on UTC
    assert DEFAULT.regular_slot(monday.replace(hour=7, minute=59)) is None
    assert DEFAULT.regular_slot(monday.replace(hour=8)) == monday.replace(hour=8)
    assert DEFAULT.regular_slot(monday.replace(hour=10, minute=59)) == monday.replace(hour=10)
    assert DEFAULT.regular_slot(monday.replace(hour=23, minute=30)) == monday.replace(hour=18)


def test_no_regular_batch_at_the_weekend() -> None:
    saturday = datetime(2026, 11, 28, 12)
    assert DEFAULT.regular_slot(saturday) is None
    assert DEFAULT.next_regular(saturday) == datetime(2026, 11, 30, 8)


def test_local_times_hold_across_summer_time() -> None:
    summer_monday = datetime(2026, 6, 1)  # BST: 08:00 in London is 07:00 UTC
    assert DEFAULT.regular_slot(summer_monday.replace(hour=7, minute=1)) == summer_monday.replace(
        hour=7
    )
    assert DEFAULT.regular_slot(summer_monday.replace(hour=6, minute=59)) is None
    # The clocks go back on Sunday 25 October 2026; Monday's 08:00 is 08:00 UTC again.
    assert DEFAULT.next_regular(datetime(2026, 10, 23, 17, 30)) == datetime(2026, 10, 26, 8)


def test_a_slot_belongs_to_its_local_day() -> None:
    late = Schedule((time(0, 30),), (0, 1, 2, 3, 4, 5, 6), LONDON)
    summer_slot = late.regular_slot(datetime(2026, 6, 2, 0, 0))  # 00:30 BST on 2 June
    assert summer_slot == datetime(2026, 6, 1, 23, 30)
    assert late.day_of(summer_slot) == datetime(2026, 6, 2).date()


def test_urgent_batches_are_on_the_quarter_hour() -> None:
    assert quarter_of(datetime(2026, 11, 23, 10, 14, 59)) == datetime(2026, 11, 23, 10, 0)
    assert quarter_of(datetime(2026, 11, 23, 10, 15)) == datetime(2026, 11, 23, 10, 15)
    assert next_quarter(datetime(2026, 11, 23, 23, 50)) == datetime(2026, 11, 24, 0, 0)


def test_the_schedule_reads_as_words() -> None:
    assert DEFAULT.describe() == (
        "every hour from 08:00 to 18:00, Monday to Friday (Europe/London)"
    )
    short = Schedule((time(8), time(13, 30)), (0, 2), LONDON)
    assert short.describe() == "08:00, 13:30, Monday, Wednesday (Europe/London)"
    daily = Schedule((time(9), time(9, 30), time(10)), tuple(range(7)), LONDON)
    assert daily.describe() == "every 30 minutes from 09:00 to 10:00, every day (Europe/London)"
