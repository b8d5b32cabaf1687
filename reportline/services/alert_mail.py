"""What an alert says: three texts built from counts, and a supervisor's test mail.

Every alert is one of these: "urgent: a report needs attention"; counts of
new reports, new replies and deadlines (as they come, or as a daily summary);
or the test mail. Each ends with the link to /triage/. None is given anything
it could leak: no reference, category, subject, status, word of a report or
time but the Date header, because nothing else is passed in.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from reportline.config import Settings
from reportline.models import Case, Officer
from reportline.services import audit
from reportline.services.alert_recipients import Audience, Recipient, audience_of
from reportline.services.deadlines import DUE_SOON
from reportline.services.mail import Mail, MailFailed, MailServer, build_message

URGENT_SUBJECT = "Urgent: a report needs attention"
FOOTER = (
    "\n\nAlerts never say anything about a report. To change what you are sent, "
    "open Your account in ReportLine.\n"
)


@dataclass(frozen=True)
class DeadlineCounts:
    """Cases due soon or overdue, for acknowledgement and for feedback."""

    acknowledge_soon: int = 0
    acknowledge_overdue: int = 0
    feedback_soon: int = 0
    feedback_overdue: int = 0

    def __add__(self, other: DeadlineCounts) -> DeadlineCounts:
        return DeadlineCounts(
            self.acknowledge_soon + other.acknowledge_soon,
            self.acknowledge_overdue + other.acknowledge_overdue,
            self.feedback_soon + other.feedback_soon,
            self.feedback_overdue + other.feedback_overdue,
        )


# ---------------------------------------------------------------- what a mail says


def _link(settings: Settings) -> str:
    return f"{settings.base_url}/triage/"


def urgent_mail(settings: Settings, to: str) -> Mail:
    """The urgent alert: that a report needs attention, and the link. Nothing else."""
    return Mail(to, URGENT_SUBJECT, f"Urgent: a report needs attention.\n\n{_link(settings)}\n")


def activity_mail(
    settings: Settings,
    recipient: Recipient,
    new_reports: int,
    new_replies: int,
    deadlines: DeadlineCounts,
    digest: bool,
) -> Mail | None:
    """Counts of what is new and what is due, or None when every count is zero."""
    theirs = "your cases and unassigned ones" if recipient.is_supervisor else "your cases"
    lines = [
        (new_reports, "New reports"),
        (new_replies, f"New replies from reporters on {theirs}"),
        (deadlines.acknowledge_overdue, f"Overdue for acknowledgement ({theirs})"),
        (deadlines.acknowledge_soon, f"Due for acknowledgement within a week ({theirs})"),
        (deadlines.feedback_overdue, f"Overdue for feedback ({theirs})"),
        (deadlines.feedback_soon, f"Due for feedback within a week ({theirs})"),
    ]
    shown = [f"  {label}: {count}" for count, label in lines if count]
    if not shown:
        return None
    subject = "ReportLine: daily summary" if digest else "ReportLine: new activity"
    opening = "Today in ReportLine:" if digest else "There is new activity in ReportLine:"
    body = f"{opening}\n\n" + "\n".join(shown) + f"\n\nSign in to see it: {_link(settings)}"
    return Mail(recipient.email, subject, body + FOOTER)


def test_mail(settings: Settings, to: str) -> Mail:
    """What a supervisor's test sends: proof that alerts can reach them."""
    body = (
        "This is a test from ReportLine: alerts can reach this address.\n\n"
        f"The link in every alert: {_link(settings)}"
    )
    return Mail(to, "ReportLine: test", body + FOOTER)


# ---------------------------------------------------------------- deadlines


def deadline_counts(session: Session, today: date) -> dict[tuple[Audience, int], DeadlineCounts]:
    """Open cases due within a week or overdue, by audience and owner (0: nobody); cases
    held as a possible flood are left out until a supervisor releases them."""
    unacknowledged = Case.acknowledged_on.is_(None)
    audience = audience_of()
    rows = session.execute(
        select(audience, Case.assignee_id, unacknowledged, Case.due_on, func.count())
        .where(
            Case.due_on.is_not(None),
            Case.due_on <= today + DUE_SOON,
            Case.status != "closed",
            Case.possible_flood.is_(False),
        )
        .group_by(audience, Case.assignee_id, unacknowledged, Case.due_on)
    )
    found: dict[tuple[Audience, int], DeadlineCounts] = defaultdict(DeadlineCounts)
    for audience, owner, acknowledging, due_on, count in rows:
        overdue = due_on is not None and due_on < today
        if acknowledging:
            more = DeadlineCounts(0, count) if overdue else DeadlineCounts(count)
        else:
            more = DeadlineCounts(0, 0, 0, count) if overdue else DeadlineCounts(0, 0, count)
        found[(audience, owner or 0)] = found[(audience, owner or 0)] + more
    return found


def send_test_mail(
    session: Session, settings: Settings, supervisor: Officer, now: datetime
) -> None:
    """Send a test mail to the supervisor's own address; audited whether or not it went.
    Raises MailFailed; the caller commits either way."""
    try:
        with MailServer(settings) as server:
            server.send(build_message(settings, test_mail(settings, supervisor.email), now))
    except MailFailed:
        audit.record(session, supervisor.email, "mail.test_sent", now, delivered=False)
        raise
    audit.record(session, supervisor.email, "mail.test_sent", now, delivered=True)
