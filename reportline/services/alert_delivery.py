"""Sending pending alerts: leased one officer at a time, composed from counts, sent over
one connection, and what was sent taken away.

Each mail is one of the texts of `alert_mail`, made from counts only.

Two senders never send the same alert: a sender leases a `PendingAlert` (an
UPDATE that succeeds only if nobody holds it, committed before the mail server
is contacted) and afterwards takes away only what it sent. A lease runs for
LEASE_MINUTES from when it is taken (the run's clock, read afresh), and a run
stops once LEASE_MINUTES have passed since it began, leaving the rest pending
for the next: so a run sends only under leases it holds. If the
mail server is down or refuses, the alert stays and the next run sends it. A
sender that dies between sending and recording leaves its lease to expire; the
next run then sends that alert again, the one case of a mail sent twice (SMTP
and a database cannot commit together).
"""

from __future__ import annotations

import secrets
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from reportline.config import Settings
from reportline.models import AlertBatch, PendingAlert
from reportline.models.alerts import BATCH_KINDS
from reportline.services import audit
from reportline.services.alert_mail import (
    DeadlineCounts,
    activity_mail,
    deadline_counts,
    urgent_mail,
)
from reportline.services.alert_recipients import (
    Audience,
    Recipient,
    every_audience,
    may_be_alerted,
)
from reportline.services.alert_schedule import early_in_quarter, next_quarter, quarter_of
from reportline.services.mail import Mail, MailFailed, MailServer, build_message

LEASE_MINUTES = 10


@dataclass
class Delivery:
    """What a delivery did: mails sent and failed by kind ("urgent", "regular",
    "digest"), and the kind of the last failure (a key of mail.FAILURES)."""

    sent: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    failure: str | None = None

    def count(self, kind: str, ok: bool) -> None:
        """Count one mail of `kind`, sent or not."""
        tally = self.sent if ok else self.failed
        tally[kind] = tally.get(kind, 0) + 1


@dataclass(frozen=True)
class Outgoing:
    """One mail composed from a pending alert: "urgent", "regular" or "digest"."""

    kind: str
    mail: Mail


# ---------------------------------------------------------------- leasing and settling


def _sendable(session: Session, now: datetime) -> list[int]:
    """Officers whose pending alert holds anything, is not leased and awaits no retry."""
    return list(
        session.scalars(
            select(PendingAlert.officer_id)
            .where(
                _free(now),
                or_(
                    PendingAlert.urgent > 0,
                    PendingAlert.new_reports > 0,
                    PendingAlert.new_replies > 0,
                    PendingAlert.deadlines.is_(True),
                    PendingAlert.digest_due.is_(True),
                ),
            )
            # Those whose mail failed last time go last: one address a mail server
            # hangs up on must not stop everyone after it at every retry.
            .order_by(PendingAlert.failures, PendingAlert.officer_id)
        )
    )


def _free(now: datetime) -> ColumnElement[bool]:
    """Not leased (or its sender's lease ran out), and not waiting to retry."""
    return or_(PendingAlert.leased_until.is_(None), PendingAlert.leased_until <= now)


def _lease(session: Session, officer_id: int, now: datetime) -> PendingAlert | None:
    """Take an officer's pending alert for this sender until LEASE_MINUTES after `now`
    (the time it is taken), or None if another holds it."""
    token = secrets.token_bytes(16)
    taken = session.execute(
        update(PendingAlert)
        .where(PendingAlert.officer_id == officer_id, _free(now))
        .values(lease=token, leased_until=now + timedelta(minutes=LEASE_MINUTES))
        .returning(PendingAlert.officer_id)
        .execution_options(synchronize_session=False)
    ).first()
    if taken is None:
        return None
    return session.scalars(
        select(PendingAlert)
        .where(PendingAlert.officer_id == officer_id)
        .execution_options(populate_existing=True)
    ).one()


@dataclass
class Settled:
    """Which parts of a leased alert are done with: sent, empty or no longer wanted;
    whether a mail failed, or was not tried (the connection was lost to another's)."""

    urgent: bool = False
    urgent_sent: bool = False
    activity: bool = False
    failed: bool = False
    untried: bool = False


@dataclass
class Plan:
    """The mails a pending alert makes now, and what it settles without a mail. False
    when there is nothing to do now (and so nothing to write)."""

    outgoing: list[Outgoing]
    done: Settled

    def __bool__(self) -> bool:
        return bool(self.outgoing or self.done.urgent or self.done.activity)


def _settle(session: Session, held: PendingAlert, done: Settled, now: datetime) -> None:
    """Take away what was sent (or is no longer wanted), release the lease, and delete
    the row once nothing is left (keeping it while it caps this quarter's urgent mail)."""
    # A failed alert waits for the next quarter hour: retries keep to the urgent
    # batches' times instead of following the mail server minute by minute.
    retry = next_quarter(now) if done.failed or done.untried else None
    values: dict[str, object] = {"lease": None, "leased_until": retry}
    if done.urgent:
        values["urgent"] = PendingAlert.urgent - held.urgent
    if done.urgent_sent:
        values["last_urgent"] = quarter_of(now)
    if done.activity:
        values |= {
            "new_reports": PendingAlert.new_reports - held.new_reports,
            "new_replies": PendingAlert.new_replies - held.new_replies,
            "deadlines": False,
            "digest_due": False,
        }
    values["failures"] = PendingAlert.failures + 1 if done.failed else 0
    if not (done.failed or done.urgent_sent or done.activity):
        del values["failures"]
    session.execute(
        update(PendingAlert)
        .where(PendingAlert.officer_id == held.officer_id, PendingAlert.lease == held.lease)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        delete(PendingAlert)
        .where(
            PendingAlert.officer_id == held.officer_id,
            PendingAlert.lease.is_(None),
            PendingAlert.leased_until.is_(None),
            PendingAlert.urgent == 0,
            PendingAlert.new_reports == 0,
            PendingAlert.new_replies == 0,
            PendingAlert.deadlines.is_(False),
            PendingAlert.digest_due.is_(False),
            or_(PendingAlert.last_urgent.is_(None), PendingAlert.last_urgent < quarter_of(now)),
        )
        .execution_options(synchronize_session=False)
    )


# ---------------------------------------------------------------- delivering


def _compose(
    settings: Settings,
    held: PendingAlert,
    recipient: Recipient | None,
    deadlines: DeadlineCounts,
    now: datetime,
    off_schedule: bool,
) -> Plan:
    """The mails a pending alert makes now, and what is settled without sending: alerts to
    an officer who may no longer be told (deactivated, no key) or no longer wants them
    are dropped; a digest waits for its time, an urgent alert for a quarter hour's start."""
    done = Settled()
    outgoing: list[Outgoing] = []
    if held.urgent > 0:
        capped = held.last_urgent is not None and held.last_urgent >= quarter_of(now)
        if recipient is None or not recipient.preferences.urgent:
            done.urgent = True
        elif not capped and (off_schedule or early_in_quarter(now)):
            outgoing.append(Outgoing("urgent", urgent_mail(settings, recipient.email)))
    holds_activity = held.new_reports or held.new_replies or held.deadlines or held.digest_due
    if not holds_activity:
        return Plan(outgoing, done)
    if recipient is None:
        done.activity = True
        return Plan(outgoing, done)
    chosen = recipient.preferences
    if chosen.daily_digest and not (held.digest_due or off_schedule):
        return Plan(outgoing, done)
    mail = activity_mail(
        settings,
        recipient,
        held.new_reports if chosen.new_reports else 0,
        held.new_replies if chosen.replies else 0,
        deadlines if held.deadlines and chosen.deadlines else DeadlineCounts(),
        digest=chosen.daily_digest,
    )
    if mail is None:
        done.activity = True
    else:
        outgoing.append(Outgoing("digest" if chosen.daily_digest else "regular", mail))
    return Plan(outgoing, done)


def run_clock(start: datetime) -> Callable[[], datetime]:
    """A clock for a run given only its start: `start`, moved on by the time since."""
    began = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - began)


def deliver(
    session: Session,
    settings: Settings,
    now: datetime,
    off_schedule: bool = False,
    clock: Callable[[], datetime] | None = None,
) -> Delivery:
    """Send every pending alert that is due, over one connection opened when the first
    mail is ready. Commits each lease (taken at `clock`'s time) before sending and each
    settlement after, and stops once a lease taken at `now` would have run out (see the
    module docstring). A failed alert waits for the next quarter hour; nothing is
    written for an alert that has nothing to send now (a digest before its time, an
    urgent alert already sent this quarter), so no row changes on a clock."""
    delivery = Delivery()
    officers = _sendable(session, now)
    if not officers:
        return delivery
    clock = clock or run_clock(now)
    stop_at = now + timedelta(minutes=LEASE_MINUTES)
    recipients, allowed = _recipients(session)
    due = deadline_counts(session, now.date())
    connection = _Connection(settings, delivery)
    try:
        for officer_id in officers:
            if clock() >= stop_at:
                break  # the rest stay pending for the next run
            recipient = recipients.get(officer_id)
            theirs = sum(
                (
                    counts
                    for (audience, owner), counts in due.items()
                    if recipient and audience in allowed[officer_id] and recipient.owns(owner)
                ),
                DeadlineCounts(),
            )
            seen = session.get(PendingAlert, officer_id, populate_existing=True)
            session.commit()
            if seen is None or not _compose(settings, seen, recipient, theirs, now, off_schedule):
                continue
            held = _lease(session, officer_id, clock())
            session.commit()
            if held is None:
                continue  # another sender has it
            plan = _compose(settings, held, recipient, theirs, now, off_schedule)
            done = plan.done
            for item, sent in zip(plan.outgoing, connection.send(plan.outgoing, now), strict=True):
                delivery.count(item.kind, bool(sent))
                if item.kind == "urgent":
                    done.urgent = done.urgent_sent = bool(sent)
                else:
                    done.activity = bool(sent)
                done.failed |= sent is False
                done.untried |= sent is None
            _settle(session, held, done, now)
            session.commit()
    finally:
        connection.close()
    return delivery


def _recipients(session: Session) -> tuple[dict[int, Recipient], dict[int, set[Audience]]]:
    """Every officer who may be alerted now, and the audiences each belongs to."""
    audiences = every_audience(session)
    recipients: dict[int, Recipient] = {}
    allowed: dict[int, set[Audience]] = defaultdict(set)
    for audience, people in may_be_alerted(session, audiences).items():
        for person in people:
            recipients[person.officer_id] = person
            allowed[person.officer_id].add(audience)
    return recipients, allowed


class _Connection:
    """A run's connection to the mail server, opened when the first mail is ready. If a
    mail loses it (a server may hang up on one address), it is opened once more, so one
    officer's address does not stop everyone after them; never again after that, nor
    after a connection that could not be made."""

    def __init__(self, settings: Settings, delivery: Delivery) -> None:
        self._settings = settings
        self._delivery = delivery
        self._server: MailServer | None = None
        self._opens_left = 2
        self._unreachable = False

    def send(self, items: list[Outgoing], now: datetime) -> list[bool | None]:
        """Send one officer's mails. For each: True if it went, False if it failed, None
        if it was not tried (the connection was lost to an earlier officer's mail)."""
        if items and self._server is None:
            if self._opens_left == 0:
                return [False if self._unreachable else None] * len(items)
            self._open()
        outcomes: list[bool | None] = []
        for item in items:
            if self._server is None:  # lost to this officer's own mail: not reopened for it
                outcomes.append(False)
                continue
            try:
                self._server.send(build_message(self._settings, item.mail, now))
            except MailFailed as exc:
                self._delivery.failure = exc.kind
                if exc.fatal:
                    self.close()
                outcomes.append(False)
            else:
                outcomes.append(True)
        return outcomes

    def _open(self) -> None:
        self._opens_left -= 1
        try:
            self._server = MailServer(self._settings).__enter__()
        except MailFailed as exc:
            self._delivery.failure = exc.kind
            self._opens_left, self._unreachable = 0, True

    def close(self) -> None:
        """Say goodbye to the mail server, if connected."""
        if self._server is not None:
            self._server.__exit__(None, None, None)
            self._server = None


# ---------------------------------------------------------------- records


def batch_row(session: Session, kind: str) -> AlertBatch:
    """The AlertBatch row of `kind`, made if missing, locked until the transaction ends
    (PostgreSQL: FOR UPDATE; SQLite's transactions take the write lock at BEGIN).

    Only called to make a batch: a row lock is a write on PostgreSQL (it takes a
    transaction id), and a write every minute would be a clock to date reports by.
    """
    dialect = session.get_bind().dialect.name
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(AlertBatch)
    session.execute(
        statement.values(kind=kind, mails_sent=0, mails_failed=0).on_conflict_do_nothing(
            index_elements=["kind"]
        )
    )
    return session.scalars(
        select(AlertBatch)
        .where(AlertBatch.kind == kind)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def record(
    session: Session, delivery: Delivery, now: datetime, actor: str, off_schedule: bool
) -> None:
    """Keep what this delivery did on each kind's AlertBatch row (for the mail page) and
    in the audit log: the kind of batch and how many mails went or failed, nothing else.
    Rows are locked in BATCH_KINDS order, as a regular batch locks them (no deadlock)."""
    for kind in [kind for kind in BATCH_KINDS if kind in delivery.sent or kind in delivery.failed]:
        row = batch_row(session, kind)
        sent, failed = delivery.sent.get(kind, 0), delivery.failed.get(kind, 0)
        if sent:
            row.sent_at, row.mails_sent = now, sent
        row.mails_failed = failed
        if failed:
            row.failed_at, row.failure = now, delivery.failure
        audit.record(
            session,
            actor,
            "alerts.sent",
            now,
            batch=kind,
            mails=sent,
            failed=failed,
            off_schedule=off_schedule,
        )
    session.flush()


def waiting(session: Session) -> tuple[int, int]:
    """How many officers have alerts waiting, and how many of those after a failure."""
    holding = or_(
        PendingAlert.urgent > 0,
        PendingAlert.new_reports > 0,
        PendingAlert.new_replies > 0,
        PendingAlert.deadlines.is_(True),
        PendingAlert.digest_due.is_(True),
    )
    count = select(func.count()).select_from(PendingAlert)
    total = session.scalar(count.where(holding)) or 0
    failing = session.scalar(count.where(and_(holding, PendingAlert.failures > 0))) or 0
    return total, failing
