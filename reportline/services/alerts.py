"""E-mail alerts that say nothing: counts at fixed times, and "urgent" at the quarter hour.

How an alert comes about (docs/security.md, "Alerts"):

- A report that says someone is at risk now leaves an `UrgentMark` in its own
  transaction (`mark_urgent`): who may read it (the unit key generation, or for
  a report with an exclusion the exclusion group's key) and its quarter hour, no
  case.
- `make_urgent_batch`, in the first run of each quarter hour (within its first
  minutes): the marks made before it become one urgent alert for each officer
  who may read them, and are deleted. A flood of at-risk reports is still one
  alert per officer; a mark that comes later waits for the next quarter hour.
- `make_regular_batch`, in the first run at or after each scheduled time:
  new reports and reporters' replies are counted against the watermarks
  (how many of each group were counted on the last counted day; ids are
  random, so there is no highest id to remember) and added to each
  officer's `PendingAlert`; the first batch of a local day also asks for the
  day's deadlines and makes daily digests due.
- `alert_delivery.deliver` sends what is due, leasing each officer's pending
  alert so that no two senders send it.

Each batch is claimed by locking its `AlertBatch` row and comparing its slot,
so a batch is made once however many servers run. `run` does all three and
commits between them: nothing is held locked while a mail server answers.

A case reassigned on a day it had replies takes that day's count with it: its
new owner may be told of those replies, and its old owner's next reply that
day may go uncounted (both still show in the queue). Counting per case would
date each reply to the hour, which the counts avoid.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import delete, func, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from reportline.config import Settings
from reportline.db import random_id
from reportline.models import (
    AlertBatch,
    AlertWatermark,
    Case,
    Message,
    PendingAlert,
    UrgentMark,
)
from reportline.services import alert_delivery
from reportline.services.alert_recipients import (
    Audience,
    audience_of,
    every_audience,
    exclusion_group_members,
    may_be_alerted,
)
from reportline.services.alert_schedule import Schedule, early_in_quarter, quarter_of

logger = logging.getLogger("reportline.alerts")
# How the audit log names the sender of alert batches (`reportline notify`, or the
# thread of `reportline serve`).
ACTOR = "alerts"
# Groups of the watermarks: (audience, owner), owner 0 for none or for reports.
Group = tuple[Audience, int]
# A random 40-bit mark id is taken about once in a trillion marks; three tries are plenty.
MARK_ATTEMPTS = 3


def mark_urgent(
    session: Session,
    now: datetime,
    *,
    unit_key_id: int | None = None,
    exclusion_key_id: int | None = None,
) -> None:
    """Leave a mark for the next urgent batch: the audience and the quarter hour, no case.

    The audience is the unit key generation the report is sealed to, or for a report
    with an exclusion the exclusion key generation (its group's members only); raises
    ValueError unless exactly one is given. One small insert in the report's
    transaction; a random id that happens to be taken (the other mark may call
    other officers) is drawn again, without a savepoint.
    """
    if (unit_key_id is None) == (exclusion_key_id is None):
        raise ValueError("an urgent mark names exactly one audience")
    dialect = session.get_bind().dialect.name
    statement = (
        (postgresql.insert if dialect == "postgresql" else sqlite.insert)(UrgentMark)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(UrgentMark.id)
    )
    audience = {"unit_key_id": unit_key_id, "exclusion_key_id": exclusion_key_id}
    for _attempt in range(MARK_ATTEMPTS):
        row = {"id": random_id(), **audience, "quarter": quarter_of(now)}
        if session.execute(statement.values(**row)).first() is not None:
            return


@dataclass
class Credit:
    """What one batch adds to one officer's pending alert."""

    new_reports: int = 0
    new_replies: int = 0
    deadlines: bool = False
    urgent: int = 0
    digest_due: bool = False

    def __bool__(self) -> bool:
        return bool(
            self.new_reports or self.new_replies or self.deadlines or self.urgent or self.digest_due
        )


def make_urgent_batch(session: Session, now: datetime, off_schedule: bool = False) -> int:
    """Turn the marks made before this quarter hour (every mark, `off_schedule`) into an
    urgent alert for each officer who may read them and wants it; delete the marks.
    Only early in the quarter hour and if its batch is not made yet: a mark that comes
    later waits for the next quarter hour's, so no mail dates it more closely. Return
    how many officers were called. Without such marks it only reads."""
    quarter = quarter_of(now)
    due = (UrgentMark.quarter < quarter) if not off_schedule else true()
    if not (off_schedule or (early_in_quarter(now) and not _made(session, "urgent", quarter))):
        return 0
    if session.scalar(select(UrgentMark.id).where(due).limit(1)) is None:
        return 0
    batch = alert_delivery.batch_row(session, "urgent")
    if not off_schedule and batch.slot is not None and batch.slot >= quarter:
        return 0  # another server made it meanwhile
    statement = (
        delete(UrgentMark).where(due).returning(UrgentMark.unit_key_id, UrgentMark.exclusion_key_id)
    )
    taken = session.execute(statement.execution_options(synchronize_session=False)).all()
    if not taken:
        return 0  # another server took them meanwhile
    batch.slot = quarter
    units = {unit for unit, _group in taken if unit is not None}
    groups = {group for _unit, group in taken if group is not None}
    audiences = [
        *may_be_alerted(session, units).values(),
        *exclusion_group_members(session, groups).values(),
    ]
    # One credit per officer, however many marks of either kind call them: the cap of
    # one urgent mail per quarter hour holds across both.
    called = {
        recipient.officer_id
        for recipients in audiences
        for recipient in recipients
        if recipient.preferences.urgent
    }
    credit_pending(session, {officer_id: Credit(urgent=1) for officer_id in called})
    return len(called)


def _made(session: Session, kind: str, slot: datetime) -> bool:
    """Whether the batch of `kind` for `slot` (or a later one) is made (only a read)."""
    seen = session.get(AlertBatch, kind, populate_existing=True)
    return seen is not None and seen.slot is not None and seen.slot >= slot


def make_regular_batch(
    session: Session, schedule: Schedule, now: datetime, off_schedule: bool = False
) -> bool:
    """Count what is new since the last batch and add it to each officer's pending alert,
    if this run is the first in a regular slot (or `off_schedule`). Return whether a
    batch was made. A run that makes none only reads."""
    if off_schedule:
        slot = now
        batch = alert_delivery.batch_row(session, "regular")
    else:
        due = schedule.regular_slot(now)
        if due is None or _made(session, "regular", due):
            return False
        batch = alert_delivery.batch_row(session, "regular")
        if batch.slot is not None and batch.slot >= due:
            return False  # another server made it meanwhile
        slot = batch.slot = due
    today = now.date()
    counted_on = batch.counted_on or today
    reports = _count_new(session, "report", _new_reports(session, counted_on), counted_on, today)
    replies = _count_new(session, "reply", _new_replies(session, counted_on), counted_on, today)
    batch.counted_on = today
    digest = alert_delivery.batch_row(session, "digest")
    first_of_day = digest.slot is None or schedule.day_of(digest.slot) < schedule.day_of(slot)
    if first_of_day and not off_schedule:
        digest.slot = slot
    daily = first_of_day or off_schedule
    audiences = every_audience(session)
    credits: dict[int, Credit] = defaultdict(Credit)
    for audience, recipients in may_be_alerted(session, audiences).items():
        for recipient in recipients:
            chosen, credit = recipient.preferences, credits[recipient.officer_id]
            if chosen.new_reports:
                credit.new_reports += reports.get((audience, 0), 0)
            if chosen.replies:
                credit.new_replies += sum(
                    count
                    for (group, owner), count in replies.items()
                    if group == audience and recipient.owns(owner)
                )
            credit.deadlines |= daily and chosen.deadlines
            credit.digest_due |= daily and chosen.daily_digest
    credit_pending(session, credits)
    return True


# Cases held as a possible flood are not counted: officers learn of them in the queue's
# flood group, and a supervisor may delete them, which would take a day's count below
# its watermark. One released on the day it came is counted by the next batch.


def _new_reports(session: Session, since: date) -> list[tuple[Group, date, int]]:
    audience = audience_of()
    rows = session.execute(
        select(audience, Case.received_on, func.count())
        .where(Case.received_on >= since, Case.possible_flood.is_(False))
        .group_by(audience, Case.received_on)
    )
    return [((audience, 0), day, count) for audience, day, count in rows]


def _new_replies(session: Session, since: date) -> list[tuple[Group, date, int]]:
    audience = audience_of()
    rows = session.execute(
        select(audience, Case.assignee_id, Message.sent_on, func.count())
        .join(Case, Case.id == Message.case_id)
        .where(
            Message.author == "reporter", Message.sent_on >= since, Case.possible_flood.is_(False)
        )
        .group_by(audience, Case.assignee_id, Message.sent_on)
    )
    return [((audience, owner or 0), day, count) for audience, owner, day, count in rows]


def _count_new(
    session: Session,
    kind: str,
    found: list[tuple[Group, date, int]],
    counted_on: date,
    today: date,
) -> dict[Group, int]:
    """How many of `found` (counts per group and day, from `counted_on`) are new: all
    of a later day, and those of `counted_on` beyond what its watermark had seen. The
    watermarks then hold today's counts."""
    marks = session.scalars(select(AlertWatermark).where(AlertWatermark.kind == kind)).all()
    seen = {
        (mark.unit_key_id, mark.assignee_id): mark.seen for mark in marks if mark.day == counted_on
    }
    totals: dict[Group, int] = defaultdict(int)
    on_today: dict[Group, int] = defaultdict(int)
    for group, day, count in found:
        totals[group] += count
        if day == today:
            on_today[group] += count
    for mark in marks:
        session.delete(mark)
    session.flush()
    for (audience, owner), count in on_today.items():
        session.add(
            AlertWatermark(
                kind=kind, unit_key_id=audience, assignee_id=owner, day=today, seen=count
            )
        )
    session.flush()
    return {group: max(0, total - seen.get(group, 0)) for group, total in totals.items()}


def credit_pending(session: Session, credits: dict[int, Credit]) -> None:
    """Add each credit to its officer's pending alert (made if missing, row-locked)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for officer_id, credit in sorted(credits.items()):
        if not credit:
            continue
        session.execute(
            insert(PendingAlert)
            .values(
                officer_id=officer_id,
                new_reports=0,
                new_replies=0,
                deadlines=False,
                urgent=0,
                digest_due=False,
                failures=0,
            )
            .on_conflict_do_nothing(index_elements=["officer_id"])
        )
        row = session.scalars(
            select(PendingAlert)
            .where(PendingAlert.officer_id == officer_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one()
        row.new_reports += credit.new_reports
        row.new_replies += credit.new_replies
        row.deadlines = row.deadlines or credit.deadlines
        row.urgent += credit.urgent
        row.digest_due = row.digest_due or credit.digest_due
    session.flush()


@dataclass
class RunSummary:
    """What one run did: officers called urgently, whether a regular batch was made, and
    mails sent and failed by kind."""

    urgent_called: int = 0
    regular_batch: bool = False
    sent: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    failure: str | None = None


def run(
    session: Session,
    settings: Settings,
    now: datetime,
    actor: str,
    off_schedule: bool = False,
    clock: Callable[[], datetime] | None = None,
) -> RunSummary:
    """Make the batches due now and send every pending alert that is due; with
    `off_schedule`, every mark, count and digest at once, whatever the time. `clock`
    tells the time as the run goes on (leases are taken at it); without one, `now`
    moved on by the time the run has taken.

    Commits after each step (the deliberate exception to committing at the
    boundary): no lock is held while a mail server answers, and what was made
    is kept if a later step fails. Does nothing while mail is not set up.
    """
    summary = RunSummary()
    if not settings.mail_configured:
        return summary
    summary.urgent_called = make_urgent_batch(session, now, off_schedule)
    session.commit()
    summary.regular_batch = make_regular_batch(
        session, Schedule.from_settings(settings), now, off_schedule
    )
    session.commit()
    delivered = alert_delivery.deliver(session, settings, now, off_schedule, clock)
    summary.sent, summary.failed, summary.failure = (
        delivered.sent,
        delivered.failed,
        delivered.failure,
    )
    alert_delivery.record(session, delivered, now, actor, off_schedule)
    session.commit()
    if delivered.sent or delivered.failed:
        # Totals only: with the log's timestamp, the kind would say which quarter hours
        # followed an at-risk report.
        logger.info(
            "Alerts: %d sent, %d failed",
            sum(delivered.sent.values()),
            sum(delivered.failed.values()),
        )
    if delivered.failure:
        # Never an address: the kind of failure, and that the alerts wait.
        logger.warning(
            "Alert mail failed (%s); the alerts wait for the next run", delivered.failure
        )
    return summary
