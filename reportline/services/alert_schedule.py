"""When alert batches go: fixed local times on working days, and every quarter hour.

Pure functions over the clock. Times in the database and from the app's clock
are naive UTC; the schedule is in the unit's `timezone`, so 08:00 stays 08:00
across summer time. A slot is the batch's scheduled moment: whatever runs in
it sends what was there when the slot began, so the time a mail goes says
nothing finer than the slot about when a report arrived.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from reportline.config import Settings

QUARTER_MINUTES = 15
# Urgent batches are made, and urgent mails sent, only this early in a quarter hour.
URGENT_GRACE_MINUTES = 2
# How far ahead the mail page looks for the next regular batch.
LOOK_AHEAD_DAYS = 8
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def quarter_of(moment: datetime) -> datetime:
    """The start of the quarter hour `moment` falls in: the slot of an urgent batch."""
    return moment.replace(
        minute=moment.minute - moment.minute % QUARTER_MINUTES, second=0, microsecond=0
    )


def early_in_quarter(moment: datetime) -> bool:
    """Whether `moment` is in its quarter hour's first URGENT_GRACE_MINUTES: a mail sent
    later would say when a mark came after its quarter's batch."""
    return moment - quarter_of(moment) < timedelta(minutes=URGENT_GRACE_MINUTES)


def next_quarter(moment: datetime) -> datetime:
    """The next urgent batch's slot after `moment`."""
    return quarter_of(moment) + timedelta(minutes=QUARTER_MINUTES)


@dataclass(frozen=True)
class Schedule:
    """The regular batches: `times` of day on `days` (0 = Monday), in `zone`."""

    times: tuple[time, ...]
    days: tuple[int, ...]
    zone: ZoneInfo

    @classmethod
    def from_settings(cls, settings: Settings) -> Schedule:
        """The schedule the settings give (`alert_times`, `alert_days`, `timezone`)."""
        return cls(settings.alert_times, settings.alert_days, ZoneInfo(settings.timezone))

    def local(self, moment: datetime) -> datetime:
        """A naive UTC moment in the unit's local time."""
        return moment.replace(tzinfo=UTC).astimezone(self.zone)

    def day_of(self, slot: datetime) -> date:
        """The local day a slot (naive UTC) falls on: one digest per such day."""
        return self.local(slot).date()

    def slots_on(self, day: date) -> list[datetime]:
        """The regular slots of a local day, in naive UTC (none on a day off)."""
        if day.weekday() not in self.days:
            return []
        return [
            datetime.combine(day, at, tzinfo=self.zone).astimezone(UTC).replace(tzinfo=None)
            for at in self.times
        ]

    def regular_slot(self, now: datetime) -> datetime | None:
        """The latest regular slot at or before `now` on today's local date, or None
        (before the first batch, or on a day off): a missed slot is made up once, late,
        never a day later."""
        due = [slot for slot in self.slots_on(self.local(now).date()) if slot <= now]
        return max(due) if due else None

    def next_regular(self, now: datetime) -> datetime | None:
        """The first regular slot after `now`, within LOOK_AHEAD_DAYS (for the mail page)."""
        today = self.local(now).date()
        for offset in range(LOOK_AHEAD_DAYS):
            later = [s for s in self.slots_on(today + timedelta(days=offset)) if s > now]
            if later:
                return min(later)
        return None

    def describe(self) -> str:
        """The schedule in words: "every hour from 08:00 to 18:00, Monday to Friday
        (Europe/London)", or the times and days listed when they are irregular."""
        return f"{self._times_in_words()}, {self._days_in_words()} ({self.zone.key})"

    def _times_in_words(self) -> str:
        texts = [at.strftime("%H:%M") for at in self.times]
        minutes = [at.hour * 60 + at.minute for at in self.times]
        gaps = {later - earlier for earlier, later in pairwise(minutes)}
        if len(minutes) < 3 or len(gaps) != 1:
            return ", ".join(texts)
        gap = gaps.pop()
        every = {60: "hour", 120: "two hours"}.get(gap, f"{gap} minutes")
        return f"every {every} from {texts[0]} to {texts[-1]}"

    def _days_in_words(self) -> str:
        names = [DAY_NAMES[day] for day in self.days]
        if len(self.days) == len(DAY_NAMES):
            return "every day"
        if len(self.days) >= 3 and self.days[-1] - self.days[0] == len(self.days) - 1:
            return f"{names[0]} to {names[-1]}"
        return ", ".join(names)
