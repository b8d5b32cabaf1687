"""What the demo's sample cases are written in: a report and the steps the unit took.

A step happens on a day counted from the report's arrival (day 0), at a time
of day, by an officer of the demo unit named by a short handle, or by the
reporter. `reportline.services.demo.populate` plays the steps of every case
in one time order through the app's own services.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from typing import Any

from reportline.services.submissions import ReportDraft

REPORTER = "reporter"


@dataclass(frozen=True)
class DemoOfficer:
    """An officer of the demo unit; `handle` is how the steps name them."""

    handle: str
    email: str
    role: str = "officer"


@dataclass(frozen=True)
class Move:
    """A status change, with its reason."""

    to: str
    reason: str = ""


@dataclass(frozen=True, repr=False)
class Write:
    """A message to the reporter; `feedback` marks it as the feedback they are owed."""

    text: str
    kind: str = "message"
    feedback: bool = False


@dataclass(frozen=True, repr=False)
class Reply:
    """The reporter writes back, signed in with their receipt."""

    text: str


@dataclass(frozen=True, repr=False)
class Record:
    """A new version of the triage record: `changes` to its fields, links to add (to
    other sample cases by key) and the priority ("" for none, None to keep it)."""

    changes: tuple[tuple[str, Any], ...] = ()
    links: tuple[tuple[str, str], ...] = ()
    priority: str | None = None


def record(
    priority: str | None = None, links: tuple[tuple[str, str], ...] = (), **changes: Any
) -> Record:
    """A Record step written as keyword arguments (the triage record's field names)."""
    return Record(tuple(changes.items()), links, priority)


@dataclass(frozen=True, repr=False)
class Note:
    """An internal note, or a correction of the officer's own note number `corrects`."""

    text: str
    corrects: int | None = None


@dataclass(frozen=True)
class Assign:
    """A supervisor makes `to` the case's owner."""

    to: str


@dataclass(frozen=True)
class Take:
    """The officer takes the case, declaring no conflict of interest (or not yet)."""

    declared: bool = True


@dataclass(frozen=True)
class Declare:
    """The owner declares no conflict of interest."""


@dataclass(frozen=True, repr=False)
class Close:
    """Close with an outcome and its rationale (and where a referred case went)."""

    outcome: str
    rationale: str
    referral_body: str = ""
    referral_reference: str = ""


Action = Move | Write | Reply | Record | Note | Assign | Take | Declare | Close


@dataclass(frozen=True)
class Step:
    """One thing done on a case: `day` days after it arrived, at `at`, by `by`."""

    day: int
    at: time
    by: str
    action: Action


def step(day: int, at: str, by: str, action: Action) -> Step:
    """A step with its time of day written "HH:MM"."""
    return Step(day, time.fromisoformat(at), by, action)


@dataclass(frozen=True, repr=False)
class SampleCase:
    """A report that arrived `age_days` before today, and what the unit has done since."""

    key: str
    age_days: int
    report: ReportDraft
    steps: tuple[Step, ...] = ()

    def __repr__(self) -> str:
        return f"SampleCase({self.key!r}, age_days={self.age_days})"
